/** Shared pieces of the Redis store tests: keys, clients, records with real signed JWTs. */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { SignJWT } from "jose";
import { createClient, createCluster } from "redis";
import type { DistributedCacheRecord } from "../../src/cache/distributedCache.ts";
import type { RedisServer } from "../helpers/redisServer.ts";

export const TENANT = "8f2c1d3e-5a4b-4c6d-9e8f-0a1b2c3d4e5f";
export const CLIENT_A = "11111111-2222-3333-4444-555555555555";
export const CLIENT_B = "66666666-7777-8888-9999-000000000000";
export const SCOPE = "https://vault.azure.net/.default";

/** A cache key shaped like the credential's: authority, tenant, client, CAE, scopes. */
export function cacheKeyFor(clientId: string, scope = SCOPE): string {
  return `login.microsoftonline.com/${TENANT}|${TENANT}|${clientId}|-|${scope}`;
}

export function newKey(): Buffer {
  return randomBytes(32);
}

const signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;

/** A record holding a real RS256 JWT naming the tenant, client and scope, as Entra's do. */
export async function recordFor(clientId: string, lifetimeMs = 3_600_000): Promise<DistributedCacheRecord> {
  const now = Date.now();
  const token = await new SignJWT({ tid: TENANT, appid: clientId, scp: SCOPE, oid: randomBytes(8).toString("hex") })
    .setProtectedHeader({ alg: "RS256", typ: "JWT", kid: "test-key" })
    .setIssuedAt()
    .setExpirationTime(Math.floor((now + lifetimeMs) / 1000))
    .setAudience("https://vault.azure.net")
    .sign(signingKey);
  return { token, expiresOnTimestamp: now + lifetimeMs, refreshAfterTimestamp: now + lifetimeMs / 2 };
}

/** A connected standalone client; its errors are collected rather than thrown. */
export async function standaloneClient(server: RedisServer, errors: unknown[] = []) {
  const client = createClient({ url: server.url, socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 500) } });
  client.on("error", (error: unknown) => errors.push(error));
  await client.connect();
  return client;
}

export async function clusterClient(server: RedisServer) {
  const cluster = createCluster({ rootNodes: [{ url: server.url }] });
  cluster.on("error", () => undefined);
  await cluster.connect();
  return cluster;
}

/** A standalone node-redis client as {@link standaloneClient} makes it. */
export type StandaloneClient = Awaited<ReturnType<typeof standaloneClient>>;

/** A fresh signal with the default budget of the credential. */
export const budget = (ms = 50): { signal: AbortSignal } => ({ signal: AbortSignal.timeout(ms) });

/** Every key and value in the keyspace, by SCAN. */
export async function dumpKeyspace(client: StandaloneClient): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for await (const keys of client.scanIterator({ COUNT: 100 })) {
    for (const key of keys) entries.set(key, (await client.get(key)) ?? "");
  }
  return entries;
}

