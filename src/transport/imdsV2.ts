/**
 * The IMDS v2 credential endpoint (MSAL.NET `ManagedIdentity/V2/ImdsV2ManagedIdentitySource.cs`): `getplatformmetadata` tells who this
 * VM's managed identity is, `issuecredential` turns a CSR into a binding certificate. Both are
 * plain HTTP to the link-local IMDS; nothing here holds a key or a token.
 */
import { randomUUID, X509Certificate } from "node:crypto";
import { parseEntraError } from "./entraError.ts";
import { TransportError } from "./errors.ts";
import type { HttpClient, HttpResponse } from "./httpClient.ts";
import {
  imdsProbeRetryPolicy,
  imdsRetryPolicy,
  type ImdsRetryOptions,
  parseRetryAfter,
  type RetryEvent,
  type RetryPolicy,
  type Sleep,
  withRetry,
} from "./retry.ts";

/** The API version of both IMDS v2 calls. */
/** The compute unit id of the VM or scale set, as `getplatformmetadata` returns it. */
export interface ComputeUnitId {
  readonly vmId?: string | null | undefined;
  readonly vmssId?: string | null | undefined;
}

export const IMDS_V2_API_VERSION = "2.0";
/** Path of the platform metadata call. */
export const PLATFORM_METADATA_PATH = "/metadata/identity/getplatformmetadata";
/** Path of the binding certificate call. */
export const ISSUE_CREDENTIAL_PATH = "/metadata/identity/issuecredential";
/** Deadline of one IMDS attempt, connection included. IMDS answers in milliseconds when it is there. */
export const DEFAULT_IMDS_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Which managed identity of the VM: the system-assigned one, or a user-assigned one by client id,
 * object id or ARM resource id.
 */
export type ManagedIdentitySelector =
  | { readonly kind: "system" }
  | { readonly kind: "clientId" | "objectId" | "resourceId"; readonly value: string };

/**
 * The query parameter of a selector for IMDS v2, or `""` for the system-assigned identity. Note
 * `mi_res_id` (IMDS v1 says `msi_res_id`).
 */
export function selectorQueryParameter(selector: ManagedIdentitySelector): string {
  switch (selector.kind) {
    case "system":
      return "";
    case "clientId":
      return `client_id=${encodeURIComponent(selector.value)}`;
    case "objectId":
      return `object_id=${encodeURIComponent(selector.value)}`;
    case "resourceId":
      return `mi_res_id=${encodeURIComponent(selector.value)}`;
  }
}

/** What `getplatformmetadata` says about this VM's identity. */
export interface PlatformMetadata {
  readonly cuId: ComputeUnitId;
  /** The managed identity's client id: the CSR subject CN. */
  readonly clientId: string;
  /** The managed identity's tenant: the CSR subject DC. */
  readonly tenantId: string;
  /** Where a key attestation would be obtained (handed to the attestation provider). */
  readonly attestationEndpoint: string;
}

/** A validated `issuecredential` answer. */
export interface IssuedCredential {
  /** Canonical client id of the identity: the `client_id` of the leg-1 token request. */
  readonly clientId: string;
  /** Tenant of the identity: the path segment of the leg-1 token URL. */
  readonly tenantId: string;
  /** The binding certificate. */
  readonly certificate: X509Certificate;
  /** `SystemAssigned`/`UserAssigned` or similar; informative only. */
  readonly identityType: string;
  /** `https://…` base of the regional mutual TLS token endpoint, without a trailing slash. */
  readonly mtlsAuthenticationEndpoint: string;
}

/**
 * Why an IMDS v2 call failed:
 * - `unreachable`: no connection, or no answer in time, after the retries;
 * - `v2-unavailable`: the host answered 404 to `getplatformmetadata`: IMDS v1 only;
 * - `not-imds`: a 200 without a `Server: IMDS/…` header: something else answered on that address;
 * - `identity-not-found`: IMDS does not know the selected user-assigned identity on this VM;
 * - `attestation-required`: `issuecredential` wants an `attestation_token` and none was sent;
 * - `attestation-rejected`: an `attestation_token` was sent and IMDS refused it;
 * - `http-error`: any other error status, after the retries;
 * - `invalid-response`: a 200 whose body is not what the protocol says.
 */
export type ImdsV2FailureKind =
  | "unreachable"
  | "v2-unavailable"
  | "not-imds"
  | "identity-not-found"
  | "attestation-required"
  | "attestation-rejected"
  | "http-error"
  | "invalid-response";

/** An IMDS v2 call that failed. The message names the call, the host and what was wrong. */
export class ImdsV2Error extends Error {
  readonly kind: ImdsV2FailureKind;
  /** The HTTP status, when there was an answer. */
  readonly status: number | undefined;
  /** The `error` IMDS answered, when it said one. */
  readonly imdsError: string | undefined;

  constructor(kind: ImdsV2FailureKind, message: string, options: { status?: number; imdsError?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ImdsV2Error";
    this.kind = kind;
    this.status = options.status;
    this.imdsError = options.imdsError;
  }
}

/** Options of {@link ImdsV2Client}. */
export interface ImdsV2ClientOptions {
  /** The transport; IMDS is plain HTTP, so its TLS settings do not matter. */
  readonly http: HttpClient;
  /** `http://host[:port]`, the IMDS base. */
  readonly endpoint: string;
  /** Retry tunables (MSAL's numbers by default) and the sleep, injectable for tests. */
  readonly retry?: ImdsRetryOptions & { readonly sleep?: Sleep };
  /** Deadline of each attempt. Default {@link DEFAULT_IMDS_REQUEST_TIMEOUT_MS}. */
  readonly requestTimeoutMs?: number;
  /** Told before each retry, for logging. */
  readonly onRetry?: (event: RetryEvent) => void;
}

/** Per-call options. */
export interface ImdsV2CallOptions {
  readonly signal?: AbortSignal;
  /** Sent as `x-ms-client-request-id`; a new GUID when omitted. */
  readonly correlationId?: string;
}

/**
 * The IMDS v2 client.
 *
 * Retries (MSAL.NET's IMDS retry policy for managed identity): `issuecredential` uses MSAL's IMDS policy (404, 408, 410, 429,
 * 5xx and timeouts; 3 retries 1 s, 2 s, 4 s; 7 retries of 10 s after a first 410).
 * `getplatformmetadata` uses the same policy **without 404**: on that call a 404 means the host has
 * no IMDS v2 (a v1-only host), which MSAL.NET also concludes, but only after 7 s of retries; here
 * the answer is taken at once so the credential list falls through without delay. Connection
 * failures are never retried (IMDS is absent); how fast they surface is the transport's connect
 * timeout, which the caller keeps short.
 */
export class ImdsV2Client {
  readonly #http: HttpClient;
  readonly #endpoint: string;
  readonly #host: string;
  readonly #retry: ImdsRetryOptions & { readonly sleep?: Sleep };
  readonly #requestTimeoutMs: number;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;

  constructor(options: ImdsV2ClientOptions) {
    const url = new URL(options.endpoint);
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new TypeError(`The IMDS endpoint must be an http:// URL, not ${url.protocol}//.`);
    }
    this.#http = options.http;
    this.#endpoint = options.endpoint.replace(/\/+$/, "");
    this.#host = url.host;
    this.#retry = options.retry ?? {};
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_IMDS_REQUEST_TIMEOUT_MS;
    this.#onRetry = options.onRetry;
  }

  /** `hostname[:port]` of IMDS, for messages. */
  get host(): string {
    return this.#host;
  }

  /**
   * `GET getplatformmetadata`: the identity, tenant and compute unit id of this VM.
   *
   * @throws ImdsV2Error (`v2-unavailable` on 404, `not-imds` without a `Server: IMDS` header, …)
   * @throws TransportError of kind `aborted` when `signal` aborts
   */
  async getPlatformMetadata(selector: ManagedIdentitySelector, call: ImdsV2CallOptions = {}): Promise<PlatformMetadata> {
    const what = `IMDS getplatformmetadata at ${this.#host}`;
    const response = await this.#send(
      { method: "GET", path: PLATFORM_METADATA_PATH, selector },
      imdsProbeRetryPolicy(this.#retry),
      call,
      what,
    );
    if (response.status === 404) {
      throw new ImdsV2Error(
        "v2-unavailable",
        `${what} answered 404: this host has IMDS v1 only, which cannot issue a binding certificate. ` +
          "Bound managed identity needs an Azure VM with the IMDS v2 credential endpoint; use an unbound entry elsewhere.",
        { status: 404 },
      );
    }
    this.#throwIfIdentityNotFound(response, selector, what);
    this.#throwIfError(response, what);
    const server = response.headers["server"];
    if (server === undefined || !/imds/i.test(server)) {
      throw new ImdsV2Error(
        "not-imds",
        `${what} answered without a "Server: IMDS/…" header${server === undefined ? "" : ` (Server: ${printable(server)})`}: ` +
          "whatever answered on that address is not the instance metadata service.",
        { status: response.status },
      );
    }
    const body = parseJsonObject(response.body, what);
    const cuIdValue = body["cuId"];
    if (typeof cuIdValue !== "object" || cuIdValue === null || Array.isArray(cuIdValue)) {
      throw invalid(what, "cuId", "is not an object");
    }
    const cuIdFields = cuIdValue as Record<string, unknown>;
    const vmId = optionalString(cuIdFields, "vmId", what);
    const vmssId = optionalString(cuIdFields, "vmssId", what);
    if (vmId === undefined && vmssId === undefined) throw invalid(what, "cuId", "has neither vmId nor vmssId");
    return {
      cuId: { vmId, vmssId },
      clientId: requiredString(body, "clientId", what),
      tenantId: requiredString(body, "tenantId", what),
      attestationEndpoint: requiredString(body, "attestationEndpoint", what),
    };
  }

  /**
   * `POST issuecredential` with the CSR (and an attestation token when there is one).
   *
   * @param csr - single-line base64 DER of the PKCS#10 request
   * @throws ImdsV2Error (`attestation-required`, `attestation-rejected`, `invalid-response`, …)
   * @throws TransportError of kind `aborted` when `signal` aborts
   */
  async issueCredential(
    selector: ManagedIdentitySelector,
    request: { readonly csr: string; readonly attestationToken?: string | undefined },
    call: ImdsV2CallOptions = {},
  ): Promise<IssuedCredential> {
    const what = `IMDS issuecredential at ${this.#host}`;
    const payload: Record<string, string> = { csr: request.csr };
    if (request.attestationToken !== undefined) payload["attestation_token"] = request.attestationToken;
    const response = await this.#send(
      { method: "POST", path: ISSUE_CREDENTIAL_PATH, selector, json: JSON.stringify(payload) },
      imdsRetryPolicy(this.#retry),
      call,
      what,
    );
    this.#throwIfIdentityNotFound(response, selector, what);
    if (response.status === 400) {
      const error = parseEntraError(response, this.#host);
      if (/attestation/i.test(error.description)) {
        if (request.attestationToken === undefined) {
          throw new ImdsV2Error(
            "attestation-required",
            `${what} requires an attestation token for the binding key ("${error.description}"). ` +
              "Configure the attestationProvider option with a provider that can attest keys on this platform.",
            { status: 400, imdsError: error.error },
          );
        }
        throw new ImdsV2Error(
          "attestation-rejected",
          `${what} rejected the attestation token from attestationProvider: ${error.description}`,
          { status: 400, imdsError: error.error },
        );
      }
    }
    this.#throwIfError(response, what);
    const body = parseJsonObject(response.body, what);
    const clientId = requiredString(body, "client_id", what);
    const tenantId = requiredString(body, "tenant_id", what);
    const certificateText = requiredString(body, "certificate", what);
    const identityType = requiredString(body, "identity_type", what);
    const endpointText = requiredString(body, "mtls_authentication_endpoint", what);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(tenantId.replace(/^\/+|\/+$/g, ""))) {
      throw invalid(what, "tenant_id", "is not a tenant id or domain");
    }
    let certificate: X509Certificate;
    try {
      if (!/^[A-Za-z0-9+/=\s]+$/.test(certificateText)) throw new Error("not base64");
      certificate = new X509Certificate(Buffer.from(certificateText, "base64"));
    } catch (cause) {
      throw new ImdsV2Error("invalid-response", `${what} answered a certificate that is not base64 DER X.509.`, { cause });
    }
    let endpoint: URL;
    try {
      endpoint = new URL(endpointText);
    } catch (cause) {
      throw new ImdsV2Error("invalid-response", `${what} answered an mtls_authentication_endpoint that is not a URL.`, { cause });
    }
    if (endpoint.protocol !== "https:" || endpoint.search !== "" || endpoint.hash !== "" || endpoint.username !== "") {
      throw invalid(what, "mtls_authentication_endpoint", "is not a plain https:// URL");
    }
    return {
      clientId,
      tenantId: tenantId.replace(/^\/+|\/+$/g, ""),
      certificate,
      identityType,
      mtlsAuthenticationEndpoint: endpointText.replace(/\/+$/, ""),
    };
  }

  async #send(
    request: { method: "GET" | "POST"; path: string; selector: ManagedIdentitySelector; json?: string },
    policy: RetryPolicy,
    call: ImdsV2CallOptions,
    what: string,
  ): Promise<HttpResponse> {
    const selector = selectorQueryParameter(request.selector);
    const url = `${this.#endpoint}${request.path}?cred-api-version=${IMDS_V2_API_VERSION}${selector === "" ? "" : `&${selector}`}`;
    const headers: Record<string, string> = {
      Metadata: "true",
      "x-ms-client-request-id": call.correlationId ?? randomUUID(),
    };
    if (request.json !== undefined) headers["content-type"] = "application/json; charset=utf-8";
    const host = this.#host;
    try {
      return await withRetry(
        () =>
          this.#http.request({
            url,
            method: request.method,
            headers,
            ...(request.json === undefined ? {} : { body: request.json }),
            ...(call.signal === undefined ? {} : { signal: call.signal }),
            timeoutMs: this.#requestTimeoutMs,
          }),
        {
          policy,
          outcomeOf: (res) => ({ status: res.status, retryAfterMs: parseRetryAfter(res.headers["retry-after"]) }),
          ...(this.#retry.sleep === undefined ? {} : { sleep: this.#retry.sleep }),
          ...(call.signal === undefined ? {} : { signal: call.signal }),
          ...(this.#onRetry === undefined ? {} : { onRetry: this.#onRetry }),
          abortError: () =>
            new TransportError("aborted", host, `The request to ${host} was aborted.`, { code: "AbortError", cause: call.signal?.reason }),
        },
      );
    } catch (err) {
      if (err instanceof TransportError && err.kind !== "aborted") {
        throw new ImdsV2Error("unreachable", `${what} is unreachable: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  #throwIfIdentityNotFound(response: HttpResponse, selector: ManagedIdentitySelector, what: string): void {
    if (response.status !== 400) return;
    const error = parseEntraError(response, this.#host);
    if (!/identity not found/i.test(error.description)) return;
    const which =
      selector.kind === "system"
        ? "a system-assigned managed identity"
        : `the user-assigned managed identity ${selectorQueryParameter(selector)}`;
    throw new ImdsV2Error(
      "identity-not-found",
      `${what} does not know ${which} on this host ("${error.description}"). ` +
        "Assign that identity to this VM, or correct the managedIdentity* selector of the entry.",
      { status: 400, imdsError: error.error },
    );
  }

  #throwIfError(response: HttpResponse, what: string): void {
    if (response.status >= 200 && response.status <= 299) return;
    const error = parseEntraError(response, this.#host);
    throw new ImdsV2Error("http-error", `${what} answered ${response.status} ${error.error}: ${error.description}`, {
      status: response.status,
      imdsError: error.error,
    });
  }
}

function parseJsonObject(body: string, what: string): Record<string, unknown> {
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    throw new ImdsV2Error("invalid-response", `${what} answered a body that is not JSON.`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) {
    throw new ImdsV2Error("invalid-response", `${what} answered JSON that is not an object.`);
  }
  return document as Record<string, unknown>;
}

function requiredString(document: Record<string, unknown>, field: string, what: string): string {
  const value = Object.hasOwn(document, field) ? document[field] : undefined;
  if (typeof value !== "string" || value.trim() === "") {
    throw invalid(what, field, value === undefined || value === null ? "is missing" : "is not a non-empty string");
  }
  return value;
}

function optionalString(document: Record<string, unknown>, field: string, what: string): string | undefined {
  const value = Object.hasOwn(document, field) ? document[field] : undefined;
  if (value === undefined || value === null || value === "") return undefined;
  if (typeof value !== "string") throw invalid(what, `cuId.${field}`, "is not a string");
  return value;
}

function invalid(what: string, field: string, problem: string): ImdsV2Error {
  return new ImdsV2Error("invalid-response", `${what} answered no usable ${field}: it ${problem}.`);
}

function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 60);
}
