import { createHmac } from "node:crypto";
import { BoundCredentialConfigurationError } from "../errors.ts";

/**
 * An AES-256 key: 32 raw bytes, or those bytes in base64 (standard or URL-safe alphabet), as
 * `openssl rand -base64 32` prints them.
 *
 * @public
 */
export type RedisEncryptionKey = Uint8Array | string;

/** A validated key and the id that names it in the records it seals. */
export interface SealingKey {
  /** 11 base64url characters; derived from the key by HMAC, so it reveals nothing of it. */
  readonly id: string;
  readonly key: Buffer;
}

const KEY_BYTES = 32;
const REMEDY = "Give 32 random bytes, as a Buffer or in base64: `openssl rand -base64 32` prints one.";

/**
 * Checks and decodes `encryptionKeys`: a non-empty list of distinct 32-byte keys. The first seals,
 * every one opens, so a new key is put first and an old one kept after it until its records expire.
 */
export function sealingKeys(encryptionKeys: unknown): readonly SealingKey[] {
  if (!Array.isArray(encryptionKeys)) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_TYPE",
      "encryptionKeys",
      `must be an array of keys, got ${describe(encryptionKeys)}.`,
      REMEDY,
    );
  }
  if (encryptionKeys.length === 0) {
    throw new BoundCredentialConfigurationError("BCC_EMPTY_FIELD", "encryptionKeys", "is empty: records cannot be sealed.", REMEDY);
  }
  const keys: SealingKey[] = [];
  const ids = new Set<string>();
  encryptionKeys.forEach((value: unknown, index) => {
    const path = `encryptionKeys[${index}]`;
    const key = decode(value, path);
    const id = keyId(key);
    if (ids.has(id)) {
      throw new BoundCredentialConfigurationError("BCC_INVALID_VALUE", path, "repeats an earlier key.", "List each key once, the sealing key first.");
    }
    ids.add(id);
    keys.push({ id, key });
  });
  return keys;
}

function decode(value: unknown, path: string): Buffer {
  let bytes: Buffer;
  if (value instanceof Uint8Array) {
    bytes = Buffer.from(value);
  } else if (typeof value === "string") {
    const text = value.trim();
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
      throw new BoundCredentialConfigurationError("BCC_INVALID_VALUE", path, "is not base64.", REMEDY);
    }
    bytes = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  } else {
    throw new BoundCredentialConfigurationError("BCC_INVALID_TYPE", path, `must be a Buffer, a Uint8Array or a base64 string, got ${describe(value)}.`, REMEDY);
  }
  if (bytes.length !== KEY_BYTES) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      path,
      `is ${bytes.length} bytes long; AES-256-GCM needs a key of exactly ${KEY_BYTES} bytes.`,
      REMEDY,
    );
  }
  return bytes;
}

/** Only the type: a key's value is never put in a message. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

/** A short public name for a key (NIST SP 800-108 style derivation: HMAC under the key of a fixed label). */
function keyId(key: Buffer): string {
  return createHmac("sha256", key).update("bound-client-credential/redis key id").digest().subarray(0, 8).toString("base64url");
}
