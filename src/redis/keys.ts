import { createHash } from "node:crypto";
import { BoundCredentialConfigurationError } from "../errors.ts";

/** The Redis keys of one cache key: its record and its lock, in one Redis Cluster slot. */
export interface RedisKeys {
  readonly record: string;
  readonly lock: string;
}

/** The prefix when none is given. */
export const DEFAULT_KEY_PREFIX = "bcc:";

const MAX_PREFIX_LENGTH = 128;

/** Checks `keyPrefix`: printable, short, and free of braces, which would change the hash tag. */
export function checkKeyPrefix(keyPrefix: unknown): string {
  if (keyPrefix === undefined) return DEFAULT_KEY_PREFIX;
  if (typeof keyPrefix !== "string") {
    throw new BoundCredentialConfigurationError("BCC_INVALID_TYPE", "keyPrefix", `must be a string, got ${typeof keyPrefix}.`, 'Give a short prefix such as "bcc:".');
  }
  if (keyPrefix.length > MAX_PREFIX_LENGTH || /[{}\s\p{Cc}]/u.test(keyPrefix)) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      "keyPrefix",
      `must be at most ${MAX_PREFIX_LENGTH} characters without braces, spaces or control characters.`,
      'Give a short prefix such as "bcc:" (braces would change the Redis Cluster hash tag).',
    );
  }
  return keyPrefix;
}

/**
 * The cache key names the tenant, client and scopes; Redis sees only its SHA-256. The digest is in
 * braces, a Redis Cluster hash tag (https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags),
 * so a token's record and its lock live in one slot.
 */
export function redisKeys(prefix: string, cacheKey: string): RedisKeys {
  const digest = createHash("sha256").update("bound-client-credential/redis\n").update(cacheKey, "utf8").digest("base64url");
  const tagged = `${prefix}{${digest}}`;
  return { record: `${tagged}:t`, lock: `${tagged}:lock` };
}
