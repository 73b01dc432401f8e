/**
 * Sample: two replicas of a service share their tokens through Redis. Each has its own
 * `BoundClientCredential` (as two pods would); the first to miss acquires the token under a
 * fleet-wide lock and writes it to Redis, sealed with AES-256-GCM; the second reads it from Redis
 * instead of asking Entra ID. Nothing readable is written: Redis sees hashed keys and ciphertexts.
 *
 * Needs a Redis server (`REDIS_URL`, for example `redis://127.0.0.1:6379`; `redis-server --port
 * 6379 --save ""` starts one). Runs against the local emulator by default. To run it against
 * Azure, set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `REDIS_URL` | the Redis server (`rediss://` for TLS) |
 * | `TOKEN_CACHE_KEY` | optional: the 32-byte encryption key in base64 (`openssl rand -base64 32`); a random one otherwise |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the application (client) ID |
 * | `AZURE_CLIENT_SECRET` | a client secret of the app |
 * | `SAMPLE_SCOPE` | optional: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * REDIS_URL=redis://127.0.0.1:6379 node samples/redis-shared-cache.ts
 * ```
 */
import { randomBytes } from "node:crypto";
import { createClient } from "redis";
import { BoundClientCredential } from "../src/index.ts";
import { createRedisTokenCache } from "../src/redis/index.ts";
import {
  azureSettings,
  nonEmpty,
  printResult,
  resultOf,
  runWhenExecuted,
  scopeFrom,
  startSampleEmulator,
  type EmulatorConnection,
  type SampleOptions,
  type SampleResult,
} from "./support/sample.ts";

/** What this sample returns: the common result, and what the second replica cost Entra ID. */
export interface RedisSharedCacheResult extends SampleResult {
  /** Whether both replicas got the very same token. */
  readonly sameToken: boolean;
  /** Token requests the emulator saw for both replicas (emulator mode only). */
  readonly tokenRequests: number | undefined;
  /** How many keys the run left in Redis under the sample's prefix. */
  readonly redisKeys: number;
}

/** Two replicas, one Redis: one token request. */
export async function main(options: SampleOptions = {}): Promise<RedisSharedCacheResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const scope = scopeFrom(env);
  const redisUrl = nonEmpty(env["REDIS_URL"]);
  if (redisUrl === undefined) throw new Error("Set REDIS_URL to a Redis server, for example redis://127.0.0.1:6379.");
  const azure = azureSettings(env, ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"]);
  const encryptionKey = nonEmpty(env["TOKEN_CACHE_KEY"]) ?? randomBytes(32).toString("base64");
  const keyPrefix = `bcc-sample-${randomBytes(4).toString("hex")}:`;
  const cleanup: (() => Promise<void>)[] = [];
  try {
    let settings: { tenantId: string; clientId: string; clientSecret: string };
    let connection: Partial<EmulatorConnection> = {};
    let tokenRequests: (() => number) | undefined;
    if (azure !== undefined) {
      settings = { tenantId: azure.AZURE_TENANT_ID, clientId: azure.AZURE_CLIENT_ID, clientSecret: azure.AZURE_CLIENT_SECRET };
    } else {
      const { emulator, connection: toEmulator } = await startSampleEmulator();
      cleanup.push(() => emulator.close());
      const clientSecret = randomBytes(24).toString("base64url");
      const app = emulator.registerApp({ secrets: [clientSecret] });
      settings = { tenantId: emulator.tenantId, clientId: app.clientId, clientSecret };
      connection = toEmulator;
      tokenRequests = () => emulator.journal.ofRoute("login.token").length;
    }

    // What each replica writes: its Redis client, the store, the credential.
    const replica = async (): Promise<BoundClientCredential> => {
      const redis = createClient({ url: redisUrl });
      redis.on("error", (error: Error) => print(`redis: ${error.message}`));
      await redis.connect();
      cleanup.push(async () => {
        await redis.close();
      });
      const credential = new BoundClientCredential({
        tenantId: settings.tenantId,
        clientId: settings.clientId,
        clientCredentials: [{ sourceType: "ClientSecret", clientSecret: settings.clientSecret }],
        distributedCache: createRedisTokenCache({ client: redis, encryptionKeys: [encryptionKey], keyPrefix }),
        ...connection,
      });
      cleanup.push(() => credential.close());
      return credential;
    };

    const [first, second] = [await replica(), await replica()];
    const tokenOfFirst = await first.getToken(scope);
    const tokenOfSecond = await second.getToken(scope);

    const inspector = createClient({ url: redisUrl });
    inspector.on("error", () => undefined);
    await inspector.connect();
    const keys: string[] = [];
    for await (const batch of inspector.scanIterator({ MATCH: `${keyPrefix}*` })) keys.push(...batch);
    if (keys.length > 0) await inspector.del(keys);
    await inspector.close();

    const result: RedisSharedCacheResult = {
      ...resultOf(azure === undefined ? "emulator" : "azure", first, tokenOfFirst.token),
      sameToken: tokenOfFirst.token === tokenOfSecond.token,
      tokenRequests: tokenRequests?.(),
      redisKeys: keys.length,
    };
    printResult(print, `two replicas, one Redis (${result.mode})`, result);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
