/**
 * The commands the store sends, as node-redis (`redis` v5 and later) types them. A client made by
 * `createClient`, `createCluster` or `createSentinel` fits; this module names only the shape, so
 * nothing of `redis` is loaded by the store itself: the application passes its own client.
 *
 * @public
 */
export interface RedisTokenCacheClient {
  /** `GET key`. */
  get(key: string): Promise<unknown>;
  /** `SET key value [NX] PX ms`. */
  set(key: string, value: string, options: { expiration: { type: "PX"; value: number }; condition?: "NX" }): Promise<unknown>;
  /** `DEL key`. */
  del(key: string): Promise<unknown>;
  /** `EVAL script numkeys key… arg…`. */
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  /** A view of the client whose commands carry these options (node-redis: `withCommandOptions`). */
  withCommandOptions(options: { abortSignal: AbortSignal }): RedisTokenCacheCommands;
  /** node-redis clients are event emitters: the store listens to `error` so an outage never crashes the process. */
  on?(event: "error", listener: (error: unknown) => void): unknown;
}

/**
 * The commands of a {@link RedisTokenCacheClient} view.
 *
 * @public
 */
export type RedisTokenCacheCommands = Pick<RedisTokenCacheClient, "get" | "set" | "del" | "eval">;
