/**
 * The credential-level network options: the forward proxy, the token endpoint retries, the
 * overall deadline of a `getToken` call and the size of a client certificate's connection pool.
 */
import { DEFAULT_CONNECTIONS_PER_CERTIFICATE } from "../transport/httpClient.ts";
import { ProxyConfigurationError, resolveProxy, type ResolvedProxy } from "../transport/proxy.ts";
import { Checker, describeType, isPlainObject, rejectUnknownKeys } from "./checks.ts";

/** Every `getToken` settles within this long unless `getTokenTimeoutInMs` says otherwise. */
export const DEFAULT_GET_TOKEN_TIMEOUT_MS = 60_000;

/** The retry options as validated; each field undefined when not given. */
export interface NormalizedRetryOptions {
  readonly maxRetries: number | undefined;
  readonly retryDelayInMs: number | undefined;
  readonly maxRetryDelayInMs: number | undefined;
}

/** The validated network options. */
export interface NormalizedNetworkOptions {
  /** The proxy in use, from `proxyOptions` or the environment; undefined for direct connections. */
  readonly proxy: ResolvedProxy | undefined;
  /** `retryOptions`, or undefined for the defaults. */
  readonly retryOptions: NormalizedRetryOptions | undefined;
  /** The overall deadline of one `getToken` call, in ms. */
  readonly getTokenTimeoutMs: number;
  /** Connections per client certificate. */
  readonly connectionsPerCertificate: number;
}

/** The network options when none were given: direct connections, default retries and deadline. */
export const DEFAULT_NETWORK_OPTIONS: NormalizedNetworkOptions = Object.freeze({
  proxy: undefined,
  retryOptions: undefined,
  getTokenTimeoutMs: DEFAULT_GET_TOKEN_TIMEOUT_MS,
  connectionsPerCertificate: DEFAULT_CONNECTIONS_PER_CERTIFICATE,
});

/** The option keys this module reads. */
export const NETWORK_OPTION_KEYS: readonly string[] = ["proxyOptions", "retryOptions", "getTokenTimeoutInMs", "connectionsPerCertificate"];

/**
 * Reads the network options.
 *
 * @param imdsHost - the configured IMDS host name, which never goes through the proxy
 */
export function readNetworkOptions(
  c: Checker,
  input: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  imdsHost: string,
): NormalizedNetworkOptions {
  return Object.freeze({
    proxy: readProxy(c, input, env, imdsHost),
    retryOptions: readRetry(c, input),
    getTokenTimeoutMs: readPositiveInteger(c, input, "getTokenTimeoutInMs", DEFAULT_GET_TOKEN_TIMEOUT_MS, 1, 2_147_483_647),
    connectionsPerCertificate: readPositiveInteger(c, input, "connectionsPerCertificate", DEFAULT_CONNECTIONS_PER_CERTIFICATE, 1, 256),
  });
}

function readProxy(
  c: Checker,
  input: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
  imdsHost: string,
): ResolvedProxy | undefined {
  const value = input["proxyOptions"];
  let proxyOptions: { host: string; port: number; username?: string; password?: string } | undefined;
  if (value !== undefined) {
    if (!isPlainObject(value)) {
      c.fail("BCC_INVALID_TYPE", ["proxyOptions"], `must be an object but is ${describeType(value)}.`, 'Give { host: "http://proxy.example", port: 8080 } or leave it out.');
    }
    rejectUnknownKeys(c, value, ["proxyOptions"], ["host", "port", "username", "password"], "proxyOptions");
    const { host, port, username, password } = value;
    if (typeof host !== "string" || host.trim() === "") {
      c.fail("BCC_INVALID_VALUE", ["proxyOptions", "host"], `must be the proxy's host, such as "http://proxy.example", but is ${describeType(host)}.`, "Give the proxy's URL without the port, which goes in proxyOptions.port.");
    }
    if (typeof port !== "number") {
      c.fail("BCC_INVALID_TYPE", ["proxyOptions", "port"], `must be a number but is ${describeType(port)}.`, "Give the proxy's port, such as 8080.");
    }
    for (const [key, field] of [["username", username], ["password", password]] as const) {
      if (field !== undefined && typeof field !== "string") {
        c.fail("BCC_INVALID_TYPE", ["proxyOptions", key], `must be a string but is ${describeType(field)}.`, "Give it as text, or leave it out.");
      }
    }
    proxyOptions = {
      host,
      port,
      ...(typeof username === "string" ? { username } : {}),
      ...(typeof password === "string" ? { password } : {}),
    };
  }
  try {
    return resolveProxy({ proxyOptions, env, alwaysDirect: [imdsHost] });
  } catch (error) {
    if (!(error instanceof ProxyConfigurationError)) throw error;
    const path = error.setting.startsWith("proxyOptions.") ? ["proxyOptions", error.setting.slice("proxyOptions.".length)] : error.setting;
    const [problem, ...remedy] = error.message.split(". ");
    c.fail("BCC_INVALID_VALUE", path, `${problem ?? error.message}.`.replace(/\.\.$/, "."), remedy.join(". ") || "Correct the proxy setting.");
  }
}

function readRetry(c: Checker, input: Record<string, unknown>): NormalizedRetryOptions | undefined {
  const value = input["retryOptions"];
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    c.fail("BCC_INVALID_TYPE", ["retryOptions"], `must be an object but is ${describeType(value)}.`, "Give { maxRetries, retryDelayInMs, maxRetryDelayInMs } or leave it out.");
  }
  rejectUnknownKeys(c, value, ["retryOptions"], ["maxRetries", "retryDelayInMs", "maxRetryDelayInMs"], "retryOptions");
  const field = (key: string, min: number): number | undefined => {
    const item = value[key];
    if (item === undefined) return undefined;
    if (typeof item !== "number" || !Number.isInteger(item) || item < min || item > 2_147_483_647) {
      c.fail("BCC_INVALID_VALUE", ["retryOptions", key], `must be a whole number of ${min} or more but is ${describeType(item)}.`, "Correct it, or leave it out for the default.");
    }
    return item;
  };
  const maxRetries = field("maxRetries", 0);
  const retryDelayInMs = field("retryDelayInMs", 0);
  const maxRetryDelayInMs = field("maxRetryDelayInMs", 0);
  if (retryDelayInMs !== undefined && maxRetryDelayInMs !== undefined && retryDelayInMs > maxRetryDelayInMs) {
    c.fail("BCC_CONFLICTING_FIELDS", ["retryOptions", "retryDelayInMs"], "is longer than retryOptions.maxRetryDelayInMs.", "Make retryDelayInMs at most maxRetryDelayInMs.");
  }
  return Object.freeze({ maxRetries, retryDelayInMs, maxRetryDelayInMs });
}

function readPositiveInteger(c: Checker, input: Record<string, unknown>, key: string, fallback: number, min: number, max: number): number {
  const value = input[key];
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    c.fail("BCC_INVALID_VALUE", [key], `must be a whole number from ${min} to ${max} but is ${describeType(value)}.`, `Correct it, or leave it out for ${fallback}.`);
  }
  return value;
}

/** The options of the credential's HTTP client that come from the network options. */
export function httpClientNetworkOptions(network: NormalizedNetworkOptions | undefined): {
  proxy: ResolvedProxy | undefined;
  connectionsPerCertificate: number;
} {
  const options = network ?? DEFAULT_NETWORK_OPTIONS;
  return { proxy: options.proxy, connectionsPerCertificate: options.connectionsPerCertificate };
}
