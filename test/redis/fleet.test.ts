/**
 * Eight replicas — real child processes, each with its own BoundClientCredential and the Redis
 * store — one emulator (in this process) and one Redis: the fleet asks Entra ID once per scope and
 * refresh, and keeps getting tokens while Redis is killed or blocked.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startEmulator, type Emulator, type RegisteredApp } from "../../src/emulator/index.ts";
import { redisMissing, startRedisServer, type RedisServer } from "../helpers/redisServer.ts";
import { Fleet, replicaSettings } from "./fleet.ts";
import type { FleetWorkerResult } from "./fleetWorker.ts";

const REPLICAS = 8;
/** Five minutes of expiry margin plus a few seconds: each token is served for about four seconds. */
const LIFETIME_SECONDS = 304;
/**
 * The operation budget of the second level. The default is 50 ms; eight processes sharing two cores
 * with the rest of the suite do not always get the CPU within it (a replica that misses it acquires
 * on its own, which the cold-scope count would show), so the fleet is given 250 ms.
 */
const BUDGET_MS = 250;

function assertAllOk(results: readonly FleetWorkerResult[]): void {
  assert.deepEqual(
    results.filter((result) => !result.ok).map((result) => result.error),
    [],
  );
}

describe("a fleet of 8 processes sharing Redis", { skip: redisMissing, timeout: 120_000 }, () => {
  let emulator: Emulator;
  let app: RegisteredApp;
  let redis: RedisServer;
  let fleet: Fleet;

  const tokenRequests = (scope: string): number =>
    emulator.journal.filter((entry) => entry.route === "login.token" && entry.status === 200 && (entry.form["scope"] ?? "").includes(scope)).length;

  before(async () => {
    emulator = await startEmulator({ acceptAnyResource: true });
    const secret = randomBytes(24).toString("base64url");
    app = emulator.registerApp({ secrets: [secret], tokenLifetimeSeconds: LIFETIME_SECONDS });
    redis = await startRedisServer();
    fleet = await Fleet.start(
      REPLICAS,
      replicaSettings(emulator.credentialOptions(app), secret, {
        redisUrl: redis.url,
        encryptionKey: randomBytes(32).toString("base64"),
        operationTimeoutMs: BUDGET_MS,
      }),
    );
    // Each process serves one token first, one after the other: a process that has just started
    // spends its first milliseconds loading and compiling, and on two shared cores that alone can
    // outlast a 50 ms budget (the benchmark's first-scope figure shows it).
    for (let index = 0; index < REPLICAS; index++) assertAllOk([await fleet.getTokenOn(index, "https://warm-up.example/.default")]);
  });
  after(async () => {
    await fleet?.close();
    await redis?.stop();
    await emulator?.close();
  });

  test("a cold scope: one token request for the whole fleet, the same token everywhere; after expiry, one refresh", async () => {
    const scope = "https://vault.azure.net/.default";
    const first = await fleet.getTokenEverywhere(scope);
    assertAllOk(first);
    assert.equal(tokenRequests(scope), 1, "one token request for 8 processes");
    assert.equal(new Set(first.map((result) => result.tokenSha256)).size, 1, "every process has the same token");

    // Served again from every first level: no request.
    assertAllOk(await fleet.getTokenEverywhere(scope));
    assert.equal(tokenRequests(scope), 1);

    // Past the token's refresh time (its expiry minus the five-minute margin) in every process and in Redis.
    const expiresOn = first[0]?.expiresOnTimestamp ?? 0;
    await sleep(Math.max(0, expiresOn - 5 * 60_000 - Date.now()) + 250);
    const second = await fleet.getTokenEverywhere(scope);
    assertAllOk(second);
    assert.equal(tokenRequests(scope), 2, "one refresh for the fleet");
    assert.equal(new Set(second.map((result) => result.tokenSha256)).size, 1, "every process has the refreshed token");
    assert.notEqual(second[0]?.tokenSha256, first[0]?.tokenSha256);
    assert.deepEqual(fleet.unhandled, []);
  });

  /** Each replica asks for a fresh scope every few ms while `during` runs; every call must succeed in bounded time. */
  async function callsDuring(during: () => Promise<void>): Promise<FleetWorkerResult[]> {
    let done = false;
    const results: FleetWorkerResult[] = [];
    const loops = Array.from({ length: REPLICAS }, async (_, index) => {
      for (let i = 0; !done; i++) {
        results.push(await fleet.getTokenOn(index, `https://outage-${Date.now()}-${index}-${i}.example/.default`));
        await sleep(20);
      }
    });
    await during();
    done = true;
    await Promise.all(loops);
    return results;
  }

  /**
   * The budget plus one acquisition: a replica that finds Redis down spends at most a budget per
   * Redis operation before it acquires on its own; never a lock's 10 s, never a hang. An acquisition
   * from the emulator on this machine takes a few tens of ms; the bound leaves room for a loaded CI.
   */
  const BOUND_MS = 4 * BUDGET_MS + 2_000;

  test("Redis killed mid-run and restarted: every getToken succeeds within the budget plus one acquisition", async () => {
    const results = await callsDuring(async () => {
      await sleep(200);
      await redis.kill();
      await sleep(1_000);
      await redis.restart();
      await sleep(300);
    });
    assertAllOk(results);
    assert.ok(results.length >= REPLICAS * 3, `${results.length} calls`);
    const slow = results.filter((result) => result.elapsedMs > BOUND_MS).map((result) => Math.round(result.elapsedMs));
    assert.deepEqual(slow, [], "calls slower than the budget plus one acquisition");
    assert.deepEqual(fleet.unhandled, []);
  });

  test("Redis blocked (DEBUG SLEEP) mid-run: every getToken succeeds within the budget plus one acquisition", async () => {
    const results = await callsDuring(async () => {
      await sleep(200);
      await redis.freeze(1_500);
      await sleep(1_700);
    });
    assertAllOk(results);
    const slow = results.filter((result) => result.elapsedMs > BOUND_MS).map((result) => Math.round(result.elapsedMs));
    assert.deepEqual(slow, []);
    assert.deepEqual(fleet.unhandled, []);
  });

  test("after the outages the fleet shares again: one request for a new cold scope", async () => {
    const scope = "https://graph.microsoft.com/.default";
    // The credential skips a failed store for a moment; give it that moment.
    await sleep(1_500);
    const results = await fleet.getTokenEverywhere(scope);
    assertAllOk(results);
    assert.equal(tokenRequests(scope), 1);
    assert.equal(new Set(results.map((result) => result.tokenSha256)).size, 1);
  });
});
