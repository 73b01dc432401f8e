/**
 * Azure region resolution for regional token endpoints, as MSAL.NET does it
 * (`RegionManager`, `ConfidentialClientApplicationBuilder`): environment overrides, an explicit
 * name, or auto-detection from `REGION_NAME` and then the instance metadata service. Failure is
 * never an error: no region means the global endpoint.
 */
import { abortable } from "../abortable.ts";
import { isValidRegionName } from "./endpoints.ts";
import type { HttpClient } from "./httpClient.ts";
import { regionDiscoveryRetryPolicy, type Sleep, withRetry } from "./retry.ts";

/** The setting value that asks for auto-detection. */
export const TRY_AUTO_DETECT = "TryAutoDetect";

const COMPUTE_PATH = "/metadata/instance/compute";
const COMPUTE_API_VERSION = "2021-02-01";
const DISCOVERY_TIMEOUT_MS = 2000;

/** Where and how to ask the instance metadata service. */
export interface RegionDiscoveryTarget {
  http: HttpClient;
  /** `http://host[:port]` of the instance metadata service. */
  endpoint: string;
  /** Injectable for tests; default a real timer. */
  sleep?: Sleep;
  signal?: AbortSignal;
  /** Per-request timeout; default 2 s, as MSAL. */
  timeoutMs?: number;
}

/**
 * Detection results per metadata endpoint; failures are kept too, so nothing is asked twice. The
 * region of a machine does not change while a process runs, so MSAL.NET keeps it for the process
 * (`RegionManager`'s static cache); so does {@link processRegionCache}, and each credential shares it
 * unless it is given another.
 */
export class RegionCache {
  readonly #detected = new Map<string, Promise<string | undefined>>();

  /** The detection for `endpoint`, started by `detect` on first use. */
  detection(endpoint: string, detect: () => Promise<string | undefined>): Promise<string | undefined> {
    let pending = this.#detected.get(endpoint);
    if (pending === undefined) {
      pending = detect();
      this.#detected.set(endpoint, pending);
    }
    return pending;
  }
}

/** The region cache of the process. */
export const processRegionCache = new RegionCache();

/**
 * Resolves the region to use, or undefined for the global endpoint.
 *
 * - `MSAL_DISABLE_REGION` set (to anything non-empty): undefined.
 * - No setting: `MSAL_FORCE_REGION`, if set, is used as the setting.
 * - A valid name (letters and digits): that name, lower-cased. An invalid name: undefined.
 * - `TryAutoDetect`: `REGION_NAME` (spaces removed, lower-cased), else the `location` of
 *   `GET {imds}/metadata/instance/compute?api-version=2021-02-01` (`Metadata: true`, 2 s timeout).
 *   The outcome, success or failure, is kept in `cache` (the process's unless given) per metadata endpoint. The
 *   caller's `signal` abandons the wait (rejecting with its reason) without cancelling detection.
 */
export async function resolveRegion(
  setting: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  imds: RegionDiscoveryTarget,
  cache: RegionCache = processRegionCache,
): Promise<string | undefined> {
  if (nonEmpty(env["MSAL_DISABLE_REGION"]) !== undefined) return undefined;
  const wanted = nonEmpty(setting?.trim()) ?? nonEmpty(env["MSAL_FORCE_REGION"]?.trim());
  if (wanted === undefined) return undefined;
  if (wanted.toLowerCase() !== TRY_AUTO_DETECT.toLowerCase()) {
    return isValidRegionName(wanted) ? wanted.toLowerCase() : undefined;
  }
  const fromEnv = nonEmpty(env["REGION_NAME"]?.replace(/\s+/g, "").toLowerCase());
  if (fromEnv !== undefined && isValidRegionName(fromEnv)) return fromEnv;

  const key = imds.endpoint.replace(/\/+$/, "");
  const pending = cache.detection(key, () => {
    // The shared detection must not die with one caller's abort, or the failure would be cached.
    const { signal: _callerSignal, ...shared } = imds;
    return discoverRegion(shared).catch(() => undefined);
  });
  return imds.signal === undefined ? pending : abortable(pending, imds.signal);
}

/**
 * Asks the instance metadata service for the VM's region. On a 400 (api-version not supported) it
 * asks once more with the newest version the service lists, as MSAL.NET does.
 *
 * @returns the lower-cased region, or undefined when it cannot be learned
 */
export async function discoverRegion(imds: RegionDiscoveryTarget): Promise<string | undefined> {
  const base = imds.endpoint.replace(/\/+$/, "");
  const first = await getCompute(imds, `${base}${COMPUTE_PATH}?api-version=${COMPUTE_API_VERSION}`);
  if (first.status === 200) return locationIn(first.body);
  if (first.status !== 400) return undefined;
  const listing = await getCompute(imds, `${base}${COMPUTE_PATH}`);
  const newest = newestVersionIn(listing.body);
  if (newest === undefined) return undefined;
  const second = await getCompute(imds, `${base}${COMPUTE_PATH}?api-version=${encodeURIComponent(newest)}`);
  return second.status === 200 ? locationIn(second.body) : undefined;
}

async function getCompute(imds: RegionDiscoveryTarget, url: string): Promise<{ status: number; body: string }> {
  return withRetry(
    () =>
      imds.http.request({
        url,
        method: "GET",
        headers: { Metadata: "true" },
        timeoutMs: imds.timeoutMs ?? DISCOVERY_TIMEOUT_MS,
        ...(imds.signal === undefined ? {} : { signal: imds.signal }),
      }),
    {
      policy: regionDiscoveryRetryPolicy(),
      outcomeOf: (res) => ({ status: res.status, retryAfterMs: undefined }),
      ...(imds.sleep === undefined ? {} : { sleep: imds.sleep }),
      ...(imds.signal === undefined ? {} : { signal: imds.signal }),
    },
  );
}

function parseObject(body: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function locationIn(body: string): string | undefined {
  const document = parseObject(body);
  const location = document !== undefined && Object.hasOwn(document, "location") ? document["location"] : undefined;
  if (typeof location !== "string") return undefined;
  const region = location.replace(/\s+/g, "").toLowerCase();
  return isValidRegionName(region) ? region : undefined;
}

function newestVersionIn(body: string): string | undefined {
  const document = parseObject(body);
  const versions = document !== undefined && Object.hasOwn(document, "newest-versions") ? document["newest-versions"] : undefined;
  const newest: unknown = Array.isArray(versions) ? versions[0] : undefined;
  return typeof newest === "string" && /^[0-9A-Za-z.-]{1,32}$/.test(newest) ? newest : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
