// Hand-built requests to the emulator: undici with the emulator's CA and real client certificates,
// client assertions signed with jose, binding CSRs built with @peculiar/x509.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { createHash, createPrivateKey, generateKeyPairSync, type KeyObject, randomUUID } from "node:crypto";
import { CompactSign } from "jose";
import { Agent, request } from "undici";
import type { Emulator, IssuedCertificate } from "../../src/emulator/index.ts";

export const JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
export const JWT_POP = "urn:ietf:params:oauth:client-assertion-type:jwt-pop";

/** TLS material of a client certificate, for an undici Agent. */
export interface ClientTls {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** Agents created by a test file, closed by {@link closeAgents}. */
const agents: Agent[] = [];

/** An agent that trusts the emulator CA and presents `client` when given. One connection per origin. */
export function agentFor(emulator: Emulator, client?: ClientTls): Agent {
  const agent = new Agent({
    connections: 1,
    allowH2: false,
    connect: {
      ca: emulator.caCertificatePem,
      ...(client === undefined ? {} : { cert: client.certificatePem, key: client.privateKeyPem }),
    },
  });
  agents.push(agent);
  return agent;
}

export async function closeAgents(): Promise<void> {
  await Promise.all(agents.splice(0).map((agent) => agent.close()));
}

export interface JsonResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly json: Record<string, unknown>;
}

async function toJson(response: Awaited<ReturnType<typeof request>>): Promise<JsonResponse> {
  const text = await response.body.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { raw: text };
  }
  return { status: response.statusCode, headers: response.headers, json };
}

/** POSTs a form to the login or mTLS token endpoint. */
export async function postToken(
  emulator: Emulator,
  form: Record<string, string>,
  options: { host?: "login" | "mtls"; tenant?: string; client?: ClientTls; agent?: Agent } = {},
): Promise<JsonResponse> {
  const host = options.host ?? "login";
  const tenant = options.tenant ?? emulator.tenantId;
  const url = host === "login" ? emulator.tokenEndpoint(tenant) : emulator.mtlsTokenEndpoint(tenant);
  const agent = options.agent ?? agentFor(emulator, options.client);
  const response = await request(url, {
    method: "POST",
    dispatcher: agent,
    headers: { "content-type": "application/x-www-form-urlencoded;charset=utf-8" },
    body: new URLSearchParams(form).toString(),
  });
  return toJson(response);
}

/** GETs an emulator URL (login/Key Vault over HTTPS with the CA, IMDS over HTTP). */
export async function get(
  emulator: Emulator,
  url: string,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const response = await request(url, {
    method: "GET",
    headers,
    ...(url.startsWith("https:") ? { dispatcher: agentFor(emulator) } : {}),
  });
  return toJson(response);
}

/** The AADSTS code of an Entra error body. */
export function aadsts(response: JsonResponse): number | undefined {
  const codes = response.json["error_codes"];
  return Array.isArray(codes) && typeof codes[0] === "number" ? codes[0] : undefined;
}

export function x5tS256(certificatePem: string): string {
  return createHash("sha256").update(pemToDer(certificatePem)).digest("base64url");
}

export function pemToDer(pem: string): Buffer {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1] ?? "";
  return Buffer.from(body.replace(/\s+/g, ""), "base64");
}

export interface AssertionOptions {
  readonly certificate: IssuedCertificate;
  readonly clientId: string;
  readonly audience: string;
  readonly alg?: "PS256" | "RS256";
  /** Which certificate header: `x5t#S256` (default), `x5t` (SHA-1), or none. */
  readonly thumbprint?: "x5t#S256" | "x5t" | "none";
  /** `array` (msal-node), `string` (MSAL.NET), or none (default). */
  readonly x5c?: "array" | "string";
  /** Extra chain certificates (PEM) after the leaf in x5c. */
  readonly x5cChain?: readonly string[];
  /** Write nbf/exp as numeric strings, as MSAL.NET does. */
  readonly stringTimes?: boolean;
  readonly nowSeconds?: number;
  readonly lifetimeSeconds?: number;
  readonly notBeforeOffsetSeconds?: number;
  readonly claims?: Record<string, unknown>;
  /** Sign with this key instead of the certificate's. */
  readonly signingKey?: KeyObject;
}

/** A client assertion as MSAL builds it (signed with the certificate's key). */
export async function signClientAssertion(options: AssertionOptions): Promise<string> {
  const alg = options.alg ?? "PS256";
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const nbf = now + (options.notBeforeOffsetSeconds ?? 0);
  const exp = nbf + (options.lifetimeSeconds ?? 600);
  const der = pemToDer(options.certificate.certificatePem);
  const header: Record<string, unknown> = { alg, typ: "JWT" };
  const thumbprint = options.thumbprint ?? "x5t#S256";
  if (thumbprint === "x5t#S256") header["x5t#S256"] = createHash("sha256").update(der).digest("base64url");
  if (thumbprint === "x5t") header["x5t"] = createHash("sha1").update(der).digest("base64url");
  if (options.x5c !== undefined) {
    const chain = [der, ...(options.x5cChain ?? []).map(pemToDer)].map((buffer) => buffer.toString("base64"));
    header["x5c"] = options.x5c === "string" ? chain[0] : chain;
  }
  const payload = {
    aud: options.audience,
    iss: options.clientId,
    sub: options.clientId,
    jti: randomUUID(),
    nbf: options.stringTimes ? String(nbf) : nbf,
    exp: options.stringTimes ? String(exp) : exp,
    ...(options.stringTimes ? {} : { iat: nbf }),
    ...options.claims,
  };
  const key = options.signingKey ?? createPrivateKey(options.certificate.privateKeyPem);
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header as { alg: string })
    .sign(key);
}

/** The claims of a JWT, unverified. */
export function decodeClaims(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

x509.cryptoProvider.set(globalThis.crypto);

export interface CsrOptions {
  readonly subject: string;
  readonly cuIdJson: string;
  readonly keyBits?: number;
  readonly signing?: "pss" | "pkcs1";
  /** Leave out the cuId attribute. */
  readonly withoutCuId?: boolean;
}

/** A binding CSR as the bound managed identity flow builds it, and its key. */
export async function createBindingCsr(options: CsrOptions): Promise<{ csrBase64: string; privateKeyPem: string }> {
  const pair = generateKeyPairSync("rsa", { modulusLength: options.keyBits ?? 2048 });
  const algorithm =
    options.signing === "pkcs1"
      ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }
      : { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 };
  const keys = {
    privateKey: await crypto.subtle.importKey("pkcs8", pair.privateKey.export({ type: "pkcs8", format: "der" }), algorithm, true, ["sign"]),
    publicKey: await crypto.subtle.importKey("spki", pair.publicKey.export({ type: "spki", format: "der" }), algorithm, true, ["verify"]),
  };
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: options.subject,
    keys,
    signingAlgorithm: algorithm,
    attributes: options.withoutCuId ? [] : [new x509.Attribute("1.3.6.1.4.1.311.90.2.10", [utf8StringDer(options.cuIdJson)])],
  });
  return {
    csrBase64: Buffer.from(csr.rawData).toString("base64"),
    privateKeyPem: pair.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

function utf8StringDer(text: string): ArrayBuffer {
  const value = Buffer.from(text, "utf8");
  const length = value.length < 128 ? Buffer.from([value.length]) : Buffer.from([0x81, value.length]);
  const der = Buffer.concat([Buffer.from([0x0c]), length, value]);
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

/** base64 DER → PEM. */
export function derToPem(base64: string): string {
  return `-----BEGIN CERTIFICATE-----\n${base64.match(/.{1,64}/g)?.join("\n") ?? ""}\n-----END CERTIFICATE-----\n`;
}
