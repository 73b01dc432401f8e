/**
 * Sample: Azure Managed Redis with Microsoft Entra authentication as the shared token cache. The
 * Redis client signs in with `@redis/entraid` and a `BoundClientCredential` — here a bound
 * certificate, so even the Redis sign-in token is obtained over mutual TLS. That credential has
 * **no** `distributedCache`: its Redis token comes from its own in-memory cache, never from the
 * Redis it authenticates to. The application's credential then shares its tokens through that Redis.
 *
 * It needs Azure and is not run by the tests (they type-check it only). Set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the application (client) ID, a Redis user of the cache with an access policy |
 * | `AZURE_CLIENT_CERTIFICATE_PATH` | a PFX or PEM file with the app's certificate and key; mutual TLS enabled on the app |
 * | `AZURE_CLIENT_CERTIFICATE_PASSWORD` | optional: the PFX password |
 * | `AZURE_REDIS_HOST` | the cache's host, such as `contoso.westeurope.redis.azure.net` (port 10000, TLS) |
 * | `TOKEN_CACHE_KEY` | the 32-byte encryption key in base64 (`openssl rand -base64 32`), the same on every replica |
 * | `SAMPLE_SCOPE` | optional: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * node samples/redis-azure-managed-entraid.ts
 * ```
 */
import { EntraIdCredentialsProviderFactory, REDIS_SCOPE_DEFAULT } from "@redis/entraid";
import { createClient } from "redis";
import { BoundClientCredential, type CredentialDescription } from "../src/index.ts";
import { createRedisTokenCache } from "../src/redis/index.ts";
import { nonEmpty, printResult, resultOf, runWhenExecuted, scopeFrom, type SampleOptions, type SampleResult } from "./support/sample.ts";

/** Signs a Redis client in to Azure Managed Redis, shares the app's tokens through it. */
export async function main(options: SampleOptions = {}): Promise<SampleResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const required = ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_REDIS_HOST", "TOKEN_CACHE_KEY"] as const;
  const missing = required.filter((name) => nonEmpty(env[name]) === undefined);
  if (missing.length > 0) throw new Error(`This sample runs against Azure only: set ${missing.join(", ")}.`);
  const setting = (name: (typeof required)[number]): string => env[name] as string;
  const password = nonEmpty(env["AZURE_CLIENT_CERTIFICATE_PASSWORD"]);
  const clientCredentials: CredentialDescription[] = [
    {
      sourceType: "Path",
      certificateDiskPath: setting("AZURE_CLIENT_CERTIFICATE_PATH"),
      ...(password === undefined ? {} : { certificatePassword: password }),
      useBoundCredential: true,
    },
  ];
  const identity = { tenantId: setting("AZURE_TENANT_ID"), clientId: setting("AZURE_CLIENT_ID"), clientCredentials };

  // 1. The Redis sign-in: a credential of its own, first level only.
  const redisSignIn = new BoundClientCredential(identity);
  const redis = createClient({
    url: `rediss://${setting("AZURE_REDIS_HOST")}:10000`,
    credentialsProvider: EntraIdCredentialsProviderFactory.createForDefaultAzureCredential({
      credential: redisSignIn,
      scopes: REDIS_SCOPE_DEFAULT,
      tokenManagerConfig: { expirationRefreshRatio: 0.8 },
    }),
  });
  redis.on("error", (error: Error) => print(`redis: ${error.message}`));
  await redis.connect();

  // 2. The application's credential, sharing its tokens through that Redis.
  const credential = new BoundClientCredential({
    ...identity,
    distributedCache: createRedisTokenCache({ client: redis, encryptionKeys: [setting("TOKEN_CACHE_KEY")], keyPrefix: "bcc:" }),
  });
  try {
    const token = await credential.getToken(scopeFrom(env));
    const result = resultOf("azure", credential, token.token);
    printResult(print, "Azure Managed Redis with Entra authentication, shared token cache", result);
    return result;
  } finally {
    await credential.close();
    await redis.close();
    await redisSignIn.close();
  }
}

runWhenExecuted(import.meta, main);
