import { randomBytes } from "node:crypto";
import type {
  DistributedCacheLock,
  DistributedCacheOperationOptions,
  DistributedCacheRecord,
  DistributedTokenCache,
} from "../cache/distributedCache.ts";
import { abortable } from "../abortable.ts";
import { BoundCredentialConfigurationError } from "../errors.ts";
import { credentialLogger, type CredentialLogger } from "../logging.ts";
import type { RedisTokenCacheClient, RedisTokenCacheCommands } from "./client.ts";
import { sealingKeys, type RedisEncryptionKey, type SealingKey } from "./encryptionKeys.ts";
import { checkKeyPrefix, redisKeys } from "./keys.ts";
import { open, seal, type OpenFailure } from "./sealing.ts";

/**
 * Options of {@link createRedisTokenCache}.
 *
 * @public
 */
export interface RedisTokenCacheOptions {
  /**
   * A connected node-redis client: `createClient`, `createCluster` or `createSentinel` of the
   * `redis` package. The application owns it (connects, closes it); the store only sends commands.
   */
  readonly client: RedisTokenCacheClient;
  /**
   * AES-256-GCM keys, 32 bytes each (raw, or base64). The first seals every record; each of them
   * opens records: to rotate, put the new key first and keep the old one after it for a token
   * lifetime (about a day), then drop it.
   */
  readonly encryptionKeys: readonly RedisEncryptionKey[];
  /** Prepended to every key this store writes. Default `"bcc:"`. No braces. */
  readonly keyPrefix?: string;
}

/** How long a release may take; if it cannot be sent, the lock expires on its own. */
const RELEASE_TIMEOUT_MS = 1_000;

/**
 * Deletes the lock only while it still holds this holder's token, so a holder whose lock expired
 * never deletes the next holder's: the single-instance lock of https://redis.io/docs/latest/develop/clients/patterns/distributed-locks/.
 */
const RELEASE_SCRIPT = 'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';

/**
 * A {@link DistributedTokenCache} on Redis, for the `distributedCache` option of
 * `BoundClientCredential`: replicas that share it share their tokens, and one of them acquires a
 * token for all (a `SET NX PX` lock per key).
 *
 * Records are sealed with AES-256-GCM under the first of `encryptionKeys`, bound to their cache
 * key; Redis keys are SHA-256 digests, so Redis holds no token, tenant or scope in clear. A record
 * that does not open (another key, tampered, moved) is a miss. Redis failures reject the
 * operation; the credential gives every operation a small time budget and carries on without Redis.
 *
 * @param options - the client, the keys and the prefix
 * @throws BoundCredentialConfigurationError when a key is not 32 bytes, the prefix is unusable or the client lacks a command
 * @public
 */
export function createRedisTokenCache(options: RedisTokenCacheOptions): DistributedTokenCache {
  if (typeof options !== "object" || options === null) {
    throw new BoundCredentialConfigurationError("BCC_INVALID_OPTIONS", "", "createRedisTokenCache needs an options object.", "Pass { client, encryptionKeys }.");
  }
  const client = checkClient(options.client);
  const keys = sealingKeys(options.encryptionKeys);
  const prefix = checkKeyPrefix(options.keyPrefix);
  return new RedisTokenCache(client, keys, prefix, credentialLogger("RedisTokenCache"));
}

function checkClient(client: unknown): RedisTokenCacheClient {
  const missing =
    typeof client !== "object" || client === null
      ? ["get", "set", "del", "eval", "withCommandOptions"]
      : (["get", "set", "del", "eval", "withCommandOptions"] as const).filter((name) => typeof (client as Record<string, unknown>)[name] !== "function");
  if (missing.length > 0) {
    throw new BoundCredentialConfigurationError(
      "BCC_INVALID_VALUE",
      "client",
      `is not a node-redis client (it lacks ${missing.join(", ")}).`,
      'Pass a client of the `redis` package (v5 or later): createClient(), createCluster() or createSentinel(), connected.',
    );
  }
  return client as RedisTokenCacheClient;
}

/** Whether the current outage of a client was logged. */
interface OutageState {
  reported: boolean;
}

/** One `error` listener per client, however many stores share it. */
const watched = new WeakMap<RedisTokenCacheClient, OutageState>();

/**
 * A node-redis client emits `error` on every failed (re)connection, and an emitter without a
 * listener throws it, which would take the process down with Redis. Logged once per outage.
 */
function watchClient(client: RedisTokenCacheClient, log: CredentialLogger): OutageState {
  let state = watched.get(client);
  if (state === undefined) {
    const created: OutageState = { reported: false };
    state = created;
    watched.set(client, created);
    client.on?.("error", (error: unknown) => {
      if (created.reported) return;
      created.reported = true;
      log.warning(`the Redis client reported an error (${errorName(error)}); the credential carries on without the shared cache until it is back.`);
    });
  }
  return state;
}

class RedisTokenCache implements DistributedTokenCache {
  readonly #client: RedisTokenCacheClient;
  readonly #keys: readonly SealingKey[];
  readonly #prefix: string;
  readonly #log: CredentialLogger;
  /** Each kind of unreadable record is logged once, not once per read. */
  readonly #reported = new Set<OpenFailure>();
  readonly #outage: OutageState;

  constructor(client: RedisTokenCacheClient, keys: readonly SealingKey[], prefix: string, log: CredentialLogger) {
    this.#client = client;
    this.#keys = keys;
    this.#prefix = prefix;
    this.#log = log;
    this.#outage = watchClient(client, log);
  }

  async get(key: string, options: DistributedCacheOperationOptions): Promise<DistributedCacheRecord | undefined> {
    const names = redisKeys(this.#prefix, key);
    const value = await this.#run(options.signal, (commands) => commands.get(names.record));
    this.#outage.reported = false;
    if (value === null || value === undefined) return undefined;
    if (typeof value !== "string") return this.#unreadable("malformed");
    const opened = open(value, key, this.#keys);
    if (typeof opened === "string") return this.#unreadable(opened);
    return opened;
  }

  async set(key: string, record: DistributedCacheRecord, options: DistributedCacheOperationOptions & { readonly ttlMs: number }): Promise<void> {
    const ttlMs = Math.ceil(options.ttlMs);
    // Redis refuses PX 0; a record that would expire at once is not worth writing.
    if (!Number.isFinite(ttlMs) || ttlMs < 1) return;
    const names = redisKeys(this.#prefix, key);
    const sealed = seal(record, key, this.#sealingKey());
    await this.#run(options.signal, (commands) => commands.set(names.record, sealed, { expiration: { type: "PX", value: ttlMs } }));
  }

  async delete(key: string, options: DistributedCacheOperationOptions): Promise<void> {
    const names = redisKeys(this.#prefix, key);
    await this.#run(options.signal, (commands) => commands.del(names.record));
  }

  async tryLock(key: string, options: DistributedCacheOperationOptions & { readonly ttlMs: number }): Promise<DistributedCacheLock | undefined> {
    const ttlMs = Math.max(1, Math.ceil(options.ttlMs));
    const names = redisKeys(this.#prefix, key);
    const holder = randomBytes(18).toString("base64url");
    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      try {
        await this.#run(AbortSignal.timeout(RELEASE_TIMEOUT_MS), (commands) =>
          commands.eval(RELEASE_SCRIPT, { keys: [names.lock], arguments: [holder] }),
        );
      } catch (error) {
        this.#log.verbose(`a lock could not be released (${errorName(error)}); it expires on its own within ${ttlMs} ms.`);
      }
    };
    let abandoned = false;
    const attempt = this.#send(options.signal, (commands) =>
      commands.set(names.lock, holder, { expiration: { type: "PX", value: ttlMs }, condition: "NX" }),
    );
    // A SET that was already sent when the caller stopped waiting may still take the lock; nobody
    // would release it and the fleet would wait for its expiry. Release it as soon as it is known.
    attempt.sent.then(
      (reply) => {
        if (abandoned && reply === "OK") void release();
      },
      () => undefined,
    );
    try {
      const reply = await attempt.waited;
      if (reply !== "OK") return undefined;
    } catch (error) {
      abandoned = true;
      throw error;
    }
    return { release };
  }

  #sealingKey(): SealingKey {
    return this.#keys[0] as SealingKey;
  }

  /**
   * Runs one command under `signal`: node-redis drops it from its queues when the signal aborts
   * (a command waiting for a reconnection, or not yet written), and this call stops waiting at the
   * same moment even when the command was already sent.
   */
  #run<T>(signal: AbortSignal, command: (commands: RedisTokenCacheCommands) => Promise<T>): Promise<T> {
    return this.#send(signal, command).waited;
  }

  /** {@link RedisTokenCache.#run}, also giving the command's own outcome (`sent`), whoever stopped waiting. */
  #send<T>(signal: AbortSignal, command: (commands: RedisTokenCacheCommands) => Promise<T>): { sent: Promise<T>; waited: Promise<T> } {
    let sent: Promise<T>;
    try {
      signal.throwIfAborted();
      sent = command(this.#client.withCommandOptions({ abortSignal: signal }));
    } catch (error) {
      sent = Promise.reject(error);
    }
    return { sent, waited: abortable(sent, signal) };
  }

  #unreadable(failure: OpenFailure): undefined {
    if (!this.#reported.has(failure)) {
      this.#reported.add(failure);
      this.#log.warning(`a shared token record was ignored (${describeFailure(failure)}); it is treated as a miss.`);
    }
    return undefined;
  }
}

function describeFailure(failure: OpenFailure): string {
  switch (failure) {
    case "malformed":
      return "not a record of this store";
    case "unknown-key":
      return "sealed with a key that is not in encryptionKeys";
    case "not-authentic":
      return "it does not authenticate: another key, altered, or moved from another cache key";
    case "invalid-content":
      return "its content is not a token record";
  }
}

/** The error's name and code only: a reply could in principle echo what was sent. */
function errorName(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string" ? `${error.name} ${code}` : error.name;
  }
  return typeof error;
}
