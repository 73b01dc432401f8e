/**
 * Which requests go through a forward proxy, and how. The rules are those of the Azure SDK for
 * JavaScript, so that a process configured for `@azure/identity` behaves the same here:
 * `@typespec/ts-http-runtime`'s `policies/proxyPolicy.ts` reads `HTTPS_PROXY`, then `ALL_PROXY`,
 * then `HTTP_PROXY` (each upper case first, then lower case; an empty value counts as unset) for
 * every request, and `NO_PROXY` as a comma-separated list of host names, where `.example.com`
 * matches `example.com` and its subdomains and any other entry matches one host exactly (a port of
 * Azure.Core's `HttpEnvironmentProxy.IsBypassed`).
 *
 * Two additions, because a token request must never leave the machine through a proxy when it is
 * meant for the machine itself: loopback hosts (`localhost`, `127.0.0.0/8`, `::1`), the link-local
 * instance metadata address `169.254.169.254` and the configured IMDS host always go direct.
 */
import { isIP } from "node:net";

/** A proxy as the Azure SDK's `ProxySettings` describe it. */
export interface ProxySettings {
  /** `http://host` or `https://host` (a bare host name means `http://`). */
  readonly host: string;
  /** The proxy's port. */
  readonly port: number;
  /** User name for Basic authentication at the proxy. */
  readonly username?: string | undefined;
  /** Password for Basic authentication at the proxy. */
  readonly password?: string | undefined;
}

/** Where the proxy in use was configured, for messages. */
export type ProxyOrigin = "proxyOptions" | "HTTPS_PROXY" | "https_proxy" | "ALL_PROXY" | "all_proxy" | "HTTP_PROXY" | "http_proxy";

/** A proxy resolved for one credential: its URL (without credentials) and where it came from. */
export interface ResolvedProxy {
  /** `http(s)://host:port`, no user information, no path. */
  readonly url: URL;
  /** The `Proxy-Authorization` value for Basic authentication, when credentials were given. */
  readonly authorization: string | undefined;
  /** Whether credentials were given (for messages; never the credentials themselves). */
  readonly hasCredentials: boolean;
  /** Where it was configured. */
  readonly origin: ProxyOrigin;
  /** `NO_PROXY` entries, lower case and trimmed. */
  readonly noProxy: readonly string[];
  /** Host names that always go direct besides loopback and `169.254.169.254` (the IMDS host). */
  readonly alwaysDirect: readonly string[];
  /** Redacted text of the proxy for logs: `http://proxy.example:8080` (with `user:***@` when authenticated). */
  toString(): string;
}

/** Environment variables as `process.env` holds them. */
export type ProxyEnvironment = Readonly<Record<string, string | undefined>>;

const PROXY_VARIABLES: readonly ["HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY"] = ["HTTPS_PROXY", "ALL_PROXY", "HTTP_PROXY"];

/** The instance metadata service's link-local address, which no proxy can reach. */
export const IMDS_ADDRESS = "169.254.169.254";

/** A proxy setting that cannot be used; the message names the setting and the fix. */
export class ProxyConfigurationError extends Error {
  /** The option or variable that is wrong. */
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(message);
    this.name = "ProxyConfigurationError";
    this.setting = setting;
  }
}

/** Reads a variable as the Azure SDK does: upper case first, then lower case; empty means unset. */
function variable(env: ProxyEnvironment, name: string): { name: string; value: string } | undefined {
  const upper = env[name];
  if (upper !== undefined && upper !== "") return { name, value: upper };
  const lowerName = name.toLowerCase();
  const lower = env[lowerName];
  if (lower !== undefined && lower !== "") return { name: lowerName, value: lower };
  return undefined;
}

/** The proxy URL configured in the environment and the variable that holds it, if any. */
export function proxyFromEnvironment(env: ProxyEnvironment): { variable: ProxyOrigin; value: string } | undefined {
  for (const name of PROXY_VARIABLES) {
    const found = variable(env, name);
    if (found !== undefined) return { variable: found.name as ProxyOrigin, value: found.value };
  }
  return undefined;
}

/** `NO_PROXY` (or `no_proxy`) as a list of lower-case entries. */
export function noProxyFromEnvironment(env: ProxyEnvironment): string[] {
  const found = variable(env, "NO_PROXY");
  if (found === undefined) return [];
  return found.value
    .split(",")
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item.length > 0);
}

/**
 * Whether `hostname` matches a `NO_PROXY` entry: `.example.com` matches `example.com` and every
 * name below it; any other entry matches exactly that host.
 */
export function matchesNoProxy(hostname: string, noProxy: readonly string[]): boolean {
  const host = unbracket(hostname).toLowerCase();
  for (const pattern of noProxy) {
    if (pattern.startsWith(".")) {
      if (host.endsWith(pattern) || host === pattern.slice(1)) return true;
    } else if (host === unbracket(pattern)) {
      return true;
    }
  }
  return false;
}

/** Whether `hostname` is this machine: `localhost`, `*.localhost`, `127.0.0.0/8`, `::1`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = unbracket(hostname).toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const family = isIP(host);
  if (family === 4) return host.startsWith("127.");
  if (family === 6) return host === "::1" || host === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(host);
  return false;
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * Parses a proxy URL (`http://[user:password@]host:port`). A URL without a scheme is taken as
 * `http://`, as curl does. Only `http:` and `https:` proxies are supported.
 *
 * @throws ProxyConfigurationError naming `setting` when the URL cannot be used
 */
export function parseProxyUrl(text: string, setting: string): { url: URL; username: string | undefined; password: string | undefined } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text.trim()) ? text.trim() : `http://${text.trim()}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new ProxyConfigurationError(setting, `${setting} is not a valid proxy URL. Give it as http://host:port (or http://user:password@host:port).`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ProxyConfigurationError(
      setting,
      `${setting} uses the ${url.protocol.replace(/:$/, "")} scheme; only http:// and https:// proxies are supported. Give it as http://host:port.`,
    );
  }
  if (url.hostname === "") {
    throw new ProxyConfigurationError(setting, `${setting} names no host. Give it as http://host:port.`);
  }
  const username = url.username === "" ? undefined : decodeURIComponent(url.username);
  const password = url.password === "" ? undefined : decodeURIComponent(url.password);
  const bare = new URL(`${url.protocol}//${url.host}`);
  return { url: bare, username, password };
}

/** What {@link resolveProxy} needs. */
export interface ResolveProxyInput {
  /** `proxyOptions` of the credential, which take precedence over the environment. */
  readonly proxyOptions?: ProxySettings | undefined;
  /** The environment to read `HTTPS_PROXY`, `ALL_PROXY`, `HTTP_PROXY` and `NO_PROXY` from. */
  readonly env: ProxyEnvironment;
  /** Hosts that always go direct, such as the configured IMDS host. */
  readonly alwaysDirect?: readonly string[];
}

/**
 * The proxy a credential uses, from its `proxyOptions` or else the environment; undefined when
 * neither names one. `NO_PROXY` applies to both, as in the Azure SDK.
 *
 * @throws ProxyConfigurationError when the configured proxy cannot be used
 */
export function resolveProxy(input: ResolveProxyInput): ResolvedProxy | undefined {
  let parsed: { url: URL; username: string | undefined; password: string | undefined };
  let origin: ProxyOrigin;
  if (input.proxyOptions !== undefined) {
    const { host, port } = input.proxyOptions;
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ProxyConfigurationError("proxyOptions.port", "proxyOptions.port must be a port number from 1 to 65535.");
    }
    const base = parseProxyUrl(host, "proxyOptions.host");
    if (base.username !== undefined || base.password !== undefined) {
      throw new ProxyConfigurationError(
        "proxyOptions.host",
        "proxyOptions.host holds user information; give the user name and password in proxyOptions.username and proxyOptions.password.",
      );
    }
    base.url.port = String(port);
    parsed = { url: base.url, username: input.proxyOptions.username, password: input.proxyOptions.password };
    origin = "proxyOptions";
  } else {
    const found = proxyFromEnvironment(input.env);
    if (found === undefined) return undefined;
    parsed = parseProxyUrl(found.value, found.variable);
    origin = found.variable;
  }
  const { url, username, password } = parsed;
  const hasCredentials = username !== undefined && username !== "";
  const authorization = hasCredentials ? `Basic ${Buffer.from(`${username}:${password ?? ""}`).toString("base64")}` : undefined;
  const text = `${url.protocol}//${hasCredentials ? `${encodeURIComponent(username)}:***@` : ""}${url.host}`;
  const resolved: ResolvedProxy = {
    url,
    authorization,
    hasCredentials,
    origin,
    noProxy: Object.freeze(noProxyFromEnvironment(input.env)),
    alwaysDirect: Object.freeze((input.alwaysDirect ?? []).map((host) => unbracket(host).toLowerCase())),
    toString: () => text,
  };
  // The authorization header is a secret: keep it out of JSON and of util.inspect.
  Object.defineProperty(resolved, "authorization", { enumerable: false });
  Object.defineProperty(resolved, Symbol.for("nodejs.util.inspect.custom"), { value: () => `ResolvedProxy ${text}`, enumerable: false });
  Object.defineProperty(resolved, "toJSON", { value: () => ({ url: text, origin }), enumerable: false });
  return Object.freeze(resolved);
}

/**
 * Whether a request to `url` goes direct although a proxy is configured: loopback, the IMDS
 * address, the hosts the credential always reaches directly, and `NO_PROXY` matches.
 */
export function bypassesProxy(url: URL, proxy: ResolvedProxy): boolean {
  const host = unbracket(url.hostname).toLowerCase();
  return (
    isLoopbackHost(host) || host === IMDS_ADDRESS || proxy.alwaysDirect.includes(host) || matchesNoProxy(host, proxy.noProxy)
  );
}
