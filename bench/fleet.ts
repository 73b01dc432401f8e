/**
 * `npm run bench:fleet` (`--short` for fewer rounds): the fleet row. N replicas — real child
 * processes with their own BoundClientCredential — ask for cold scopes at once, with and without
 * the Redis store; the emulator counts the token requests. Then, in this process, what a hit in
 * Redis adds: a fresh credential (empty first level) served from Redis, against one served from its
 * first level and one that acquires. Needs `redis-server` on the PATH.
 */
import { randomBytes } from "node:crypto";
import { createClient } from "redis";
import { BoundClientCredential } from "../src/index.ts";
import { startEmulator } from "../src/emulator/index.ts";
import { createRedisTokenCache } from "../src/redis/index.ts";
import { redisMissing, startRedisServer } from "../test/helpers/redisServer.ts";
import { Fleet, replicaSettings } from "../test/redis/fleet.ts";
import { median, percentile } from "./stats.ts";

const short = process.argv.includes("--short");
const SIZES = short ? [8] : [8, 32];
const SCOPES_PER_RUN = short ? 3 : 10;
const HIT_SAMPLES = short ? 50 : 400;

if (redisMissing) {
  console.error(`bench:fleet needs Redis: ${redisMissing}`);
  process.exit(1);
}

const emulator = await startEmulator({ acceptAnyResource: true });
const secret = randomBytes(24).toString("base64url");
const app = emulator.registerApp({ secrets: [secret] });
const redis = await startRedisServer();
const options = emulator.credentialOptions(app);
const encryptionKey = randomBytes(32).toString("base64");
const tokenRequests = (): number => emulator.journal.ofRoute("login.token").length;

const rows: string[] = [];
try {
  for (const size of SIZES) {
    const perScope: Record<string, number[]> = { alone: [], shared: [] };
    for (const shared of [false, true]) {
      const fleet = await Fleet.start(size, replicaSettings(options, secret, { encryptionKey, redisUrl: shared ? redis.url : undefined }));
      try {
        for (let i = 0; i < SCOPES_PER_RUN; i++) {
          const before = tokenRequests();
          const results = await fleet.getTokenEverywhere(`https://fleet-${size}-${shared}-${i}.example/.default`);
          const failed = results.filter((result) => !result.ok);
          if (failed.length > 0) throw new Error(`fleet getToken failed: ${failed[0]?.error}`);
          perScope[shared ? "shared" : "alone"]?.push(tokenRequests() - before);
          // Past the credential's back-off after a skipped second level, as replicas asking at different times would be.
          await new Promise((resolve) => setTimeout(resolve, 1_100));
        }
      } finally {
        await fleet.close();
      }
    }
    const alone = perScope["alone"] ?? [];
    const sharedCounts = perScope["shared"] ?? [];
    const sum = (values: number[]): number => values.reduce((a, b) => a + b, 0);
    rows.push(
      `| ${size} | ${SCOPES_PER_RUN} | ${sum(alone)} | ${sum(sharedCounts)} | ${sharedCounts[0]} | ${median(sharedCounts.slice(1))} (max ${Math.max(...sharedCounts.slice(1))}) |`,
    );
  }

  // What a hit in Redis adds, in this process.
  const client = createClient({ url: redis.url });
  client.on("error", () => undefined);
  await client.connect();
  const store = createRedisTokenCache({ client, encryptionKeys: [encryptionKey] });
  const credentialWith = (distributed: boolean): BoundClientCredential =>
    new BoundClientCredential({
      tenantId: options.tenantId,
      clientId: options.clientId,
      clientCredentials: [{ sourceType: "ClientSecret", clientSecret: secret }],
      authorityHost: options.authorityHost,
      mtlsAuthorityHost: options.mtlsAuthorityHost,
      imdsEndpoint: options.imdsEndpoint,
      tls: { ca: options.tls.ca },
      ...(distributed ? { distributedCache: store } : {}),
    });
  // A warm credential whose first level misses: the scope was acquired (and written) by another.
  const seed = credentialWith(true);
  const reader = credentialWith(true);
  const alone = credentialWith(false);
  await seed.getToken("https://warm-up.example/.default");
  await reader.getToken("https://warm-up.example/.default");
  await alone.getToken("https://warm-up.example/.default");
  const memory: number[] = [];
  for (let i = 0; i < HIT_SAMPLES; i++) {
    const started = performance.now();
    await reader.getToken("https://warm-up.example/.default");
    memory.push(performance.now() - started);
  }
  const redisHit: number[] = [];
  const acquire: number[] = [];
  const requestsBefore = tokenRequests();
  for (let i = 0; i < HIT_SAMPLES; i++) {
    const scope = `https://hit-${i}.example/.default`;
    await seed.getToken(scope);
    let started = performance.now();
    await reader.getToken(scope);
    redisHit.push(performance.now() - started);
    started = performance.now();
    await alone.getToken(scope);
    acquire.push(performance.now() - started);
  }
  const acquired = tokenRequests() - requestsBefore;
  const storeGet: number[] = [];
  const storeKey = "bench|store-get";
  await store.set(storeKey, { token: "x".repeat(1500), expiresOnTimestamp: Date.now() + 3_600_000, refreshAfterTimestamp: Date.now() + 1_800_000 }, { signal: AbortSignal.timeout(1_000), ttlMs: 60_000 });
  for (let i = 0; i < HIT_SAMPLES; i++) {
    const started = performance.now();
    await store.get(storeKey, { signal: AbortSignal.timeout(1_000) });
    storeGet.push(performance.now() - started);
  }
  await Promise.all([seed.close(), reader.close(), alone.close()]);
  await client.close();
  const ms = (values: number[]): string => `${median(values).toFixed(3)} / ${percentile(values, 99).toFixed(3)}`;

  console.log("\n### Fleet: N processes sharing one Redis\n");
  console.log("Token requests the emulator saw when every process asks for each cold scope at once.\n");
  console.log("| processes | cold scopes, one after another | token requests without the shared cache | with `createRedisTokenCache` | of which for the first scope (processes just started) | per later scope, median |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const row of rows) console.log(row);
  console.log(`\ngetToken of a warm credential, ${HIT_SAMPLES} samples each, p50 / p99 ms:\n`);
  console.log("| served from | p50 / p99 ms |");
  console.log("| --- | ---: |");
  console.log(`| the first level | ${ms(memory)} |`);
  console.log(`| Redis: a first-level miss, the token written by another credential (GET, AES-256-GCM open, first-level fill) | ${ms(redisHit)} |`);
  console.log(`| (the store's get alone: GET and open of a 1.5 KB token) | ${ms(storeGet)} |`);
  console.log(`| an acquisition from the emulator (no shared cache) | ${ms(acquire)} |`);
  console.log(`\nAdded latency of a hit in Redis over the first level: ${(median(redisHit) - median(memory)).toFixed(3)} ms (p50).`);
  // One by the seed and one by the credential without the store, per scope; any more is a scope
  // the reader acquired itself because the seed's write or its own read outlived the budget.
  console.log(`Scopes the reader acquired itself (a write or read in Redis outlived the 50 ms budget): ${acquired - 2 * HIT_SAMPLES} of ${HIT_SAMPLES}.`);
} finally {
  await redis.stop();
  await emulator.close();
}
