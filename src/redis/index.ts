/**
 * `bound-client-credential/redis`: a shared, encrypted second-level token cache on Redis
 * (node-redis). Import it only where Redis is used; the main entry never loads it.
 *
 * @packageDocumentation
 */
export { createRedisTokenCache, type RedisTokenCacheOptions } from "./redisTokenCache.ts";
export type { RedisTokenCacheClient, RedisTokenCacheCommands } from "./client.ts";
export type { RedisEncryptionKey } from "./encryptionKeys.ts";
export type {
  DistributedCacheLock,
  DistributedCacheOperationOptions,
  DistributedCacheRecord,
  DistributedTokenCache,
} from "../cache/distributedCache.ts";
