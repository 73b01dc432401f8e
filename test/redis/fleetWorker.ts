/**
 * One replica of a fleet, as a real child process: its own `BoundClientCredential` with the Redis
 * store, driven by its parent over IPC. It reports a SHA-256 of each token (never the token) and
 * how long each `getToken` took. Used by the fleet tests and the fleet benchmark.
 */
import { createHash } from "node:crypto";
import { createClient } from "redis";
import { BoundClientCredential } from "../../src/index.ts";
import { createRedisTokenCache } from "../../src/redis/index.ts";

/** What the parent sends first. The secret and the key travel over IPC, never argv or env. */
export interface FleetWorkerConfig {
  readonly type: "configure";
  readonly redisUrl: string | undefined;
  readonly encryptionKey: string;
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly authorityHost: string;
  readonly mtlsAuthorityHost: string;
  readonly imdsEndpoint: string;
  readonly ca: string;
  readonly operationTimeoutMs?: number;
}

/** Asks for one token. */
export interface FleetWorkerGetToken {
  readonly type: "getToken";
  readonly id: number;
  readonly scope: string;
}

export type FleetWorkerRequest = FleetWorkerConfig | FleetWorkerGetToken | { readonly type: "close" };

/** The answer to a {@link FleetWorkerGetToken}. */
export interface FleetWorkerResult {
  readonly type: "token";
  readonly id: number;
  readonly ok: boolean;
  readonly tokenSha256?: string;
  readonly expiresOnTimestamp?: number;
  readonly elapsedMs: number;
  readonly error?: string;
}

export type FleetWorkerMessage = { readonly type: "ready" } | { readonly type: "closed" } | { readonly type: "unhandled"; readonly error: string } | FleetWorkerResult;

const send = (message: FleetWorkerMessage): void => {
  process.send?.(message);
};

process.on("unhandledRejection", (error) => send({ type: "unhandled", error: String(error) }));
process.on("uncaughtException", (error) => send({ type: "unhandled", error: String(error) }));

let credential: BoundClientCredential | undefined;
let redis: ReturnType<typeof createClient> | undefined;

process.on("message", (message: FleetWorkerRequest) => {
  void handle(message);
});

async function handle(message: FleetWorkerRequest): Promise<void> {
  switch (message.type) {
    case "configure": {
      if (message.redisUrl !== undefined) {
        redis = createClient({ url: message.redisUrl, socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 500) } });
        redis.on("error", () => undefined);
        await redis.connect();
      }
      credential = new BoundClientCredential({
        tenantId: message.tenantId,
        clientId: message.clientId,
        clientCredentials: [{ sourceType: "ClientSecret", clientSecret: message.clientSecret }],
        authorityHost: message.authorityHost,
        mtlsAuthorityHost: message.mtlsAuthorityHost,
        imdsEndpoint: message.imdsEndpoint,
        tls: { ca: message.ca },
        ...(redis === undefined
          ? {}
          : {
              distributedCache: createRedisTokenCache({ client: redis, encryptionKeys: [message.encryptionKey] }),
              ...(message.operationTimeoutMs === undefined ? {} : { distributedCacheOptions: { operationTimeoutMs: message.operationTimeoutMs } }),
            }),
      });
      send({ type: "ready" });
      return;
    }
    case "getToken": {
      const started = performance.now();
      try {
        const token = await (credential as BoundClientCredential).getToken(message.scope);
        send({
          type: "token",
          id: message.id,
          ok: true,
          tokenSha256: createHash("sha256").update(token.token).digest("base64url"),
          expiresOnTimestamp: token.expiresOnTimestamp,
          elapsedMs: performance.now() - started,
        });
      } catch (error) {
        send({ type: "token", id: message.id, ok: false, elapsedMs: performance.now() - started, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      }
      return;
    }
    case "close": {
      await credential?.close();
      await redis?.close().catch(() => undefined);
      send({ type: "closed" });
      process.disconnect?.();
      return;
    }
  }
}
