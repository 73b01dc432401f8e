import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { DistributedCacheRecord } from "../cache/distributedCache.ts";
import type { SealingKey } from "./encryptionKeys.ts";

/**
 * A sealed record: `v1.<key id>.<iv>.<ciphertext>.<tag>`, each part base64url. AES-256-GCM with a
 * random 96-bit IV (NIST SP 800-38D §8.2.2) and a 128-bit tag. The associated data binds the
 * format version, the key id and the cache key, so a record moved under another key does not open.
 */
const VERSION = "v1";
const IV_BYTES = 12;
const TAG_BYTES = 16;

function associatedData(keyId: string, cacheKey: string): Buffer {
  return Buffer.from(`bound-client-credential/redis\n${VERSION}\n${keyId}\n${cacheKey}`, "utf8");
}

/** Seals `record` for `cacheKey` under `key`. */
export function seal(record: DistributedCacheRecord, cacheKey: string, key: SealingKey): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key.key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(associatedData(key.id, cacheKey));
  const plaintext = JSON.stringify({ t: record.token, e: record.expiresOnTimestamp, r: record.refreshAfterTimestamp });
  const ciphertext = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return [VERSION, key.id, iv.toString("base64url"), ciphertext.toString("base64url"), cipher.getAuthTag().toString("base64url")].join(".");
}

/** Why a stored value was not served; never the value itself. */
export type OpenFailure = "malformed" | "unknown-key" | "not-authentic" | "invalid-content";

/** The record sealed in `value` for `cacheKey`, or why it cannot be trusted. */
export function open(value: string, cacheKey: string, keys: readonly SealingKey[]): DistributedCacheRecord | OpenFailure {
  const parts = value.split(".");
  if (parts.length !== 5 || parts[0] !== VERSION) return "malformed";
  const [, keyId, ivText, ciphertextText, tagText] = parts as [string, string, string, string, string];
  const key = keys.find((candidate) => candidate.id === keyId);
  if (key === undefined) return "unknown-key";
  const iv = Buffer.from(ivText, "base64url");
  const tag = Buffer.from(tagText, "base64url");
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return "malformed";
  let plaintext: string;
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(associatedData(key.id, cacheKey));
    decipher.setAuthTag(tag);
    plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertextText, "base64url")), decipher.final()]).toString("utf8");
  } catch {
    return "not-authentic";
  }
  return parseRecord(plaintext);
}

function parseRecord(plaintext: string): DistributedCacheRecord | OpenFailure {
  let parsed: unknown;
  try {
    parsed = JSON.parse(plaintext);
  } catch {
    return "invalid-content";
  }
  if (typeof parsed !== "object" || parsed === null) return "invalid-content";
  const { t, e, r } = parsed as Record<string, unknown>;
  if (typeof t !== "string" || t.length === 0 || !isTimestamp(e) || !isTimestamp(r)) return "invalid-content";
  return { token: t, expiresOnTimestamp: e, refreshAfterTimestamp: r };
}

function isTimestamp(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value > 0;
}
