/**
 * The Redis samples: redis-shared-cache runs against the emulator and a real Redis; the Azure
 * Managed Redis sample needs Azure, so it is only type-checked (`npm run typecheck`) and, here,
 * shown to refuse to start without its settings rather than reach out to anything.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { main as azureManagedRedis } from "../../samples/redis-azure-managed-entraid.ts";
import { main as sharedCache } from "../../samples/redis-shared-cache.ts";
import { redisMissing, startRedisServer, type RedisServer } from "../helpers/redisServer.ts";

const JWT = /eyJ[\w-]+\.eyJ[\w-]+\./;

describe("Redis samples", { skip: redisMissing }, () => {
  let server: RedisServer;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.stop();
  });

  test("redis-shared-cache: two replicas, one token request, the same token, no keys left behind", async () => {
    const lines: string[] = [];
    const result = await sharedCache({ env: { REDIS_URL: server.url }, print: (line) => lines.push(line) });
    assert.equal(result.mode, "emulator");
    assert.equal(result.sameToken, true);
    assert.equal(result.tokenRequests, 1);
    assert.equal(result.redisKeys, 1, "the run wrote one sealed record (and released its lock)");
    assert.doesNotMatch(lines.join("\n"), JWT);
    assert.doesNotMatch(JSON.stringify(result), JWT);
    assert.equal((await server.command("DBSIZE")).trim(), "0", "the sample deletes its keys");
  });

  test("redis-shared-cache without REDIS_URL says what to set", async () => {
    await assert.rejects(sharedCache({ env: {}, print: () => undefined }), /Set REDIS_URL/);
  });
});

test("redis-azure-managed-entraid: Azure only; without its settings it names them and contacts nothing", async () => {
  await assert.rejects(azureManagedRedis({ env: {}, print: () => undefined }), /runs against Azure only: set AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_CERTIFICATE_PATH, AZURE_REDIS_HOST, TOKEN_CACHE_KEY/);
});
