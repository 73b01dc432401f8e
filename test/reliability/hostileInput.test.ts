// Hostile input: property-based tests (fast-check) of every parser and loader. Whatever a server
// answers, whatever a file holds, whatever an options object, a configuration section or the
// environment contains, only the library's typed errors come out — never a crash, a TypeError
// from deep inside or a hang — and what comes out when the input is good enough is sane. Response
// bodies are cut off at the size limit, even an endless one.
import "../helpers/imdsOnly.ts";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";

const { BoundClientCredential } = await import("../../src/boundClientCredential.ts");
const { withSeams } = await import("../helpers/index.ts");
const { OFFLINE_ENTRY, testOptions } = await import("../helpers/options.ts");
const { environmentOption } = await import("../../src/runtime.ts");
const { optionsFromConfiguration } = await import("../../src/configuration/fromConfiguration.ts");
const { ENVIRONMENT_VARIABLES, optionsFromEnvironment, USE_BOUND_CREDENTIAL_VARIABLE } = await import("../../src/configuration/fromEnvironment.ts");
const { SOURCE_TYPES, SOURCE_KEYS } = await import("../../src/configuration/entries.ts");
const { normalizeOptions, OPTION_KEYS } = await import("../../src/configuration/validate.ts");
const { createCertificateAuthority } = await import("../../src/emulator/pki.ts");
const { BoundCredentialConfigurationError, CredentialUnavailableError } = await import("../../src/errors.ts");
const { AssertionFileSource } = await import("../../src/sources/assertionFileSource.ts");
const { decodeBase64 } = await import("../../src/sources/base64Source.ts");
const { isEntryOf } = await import("../../src/sources/index.ts");
const { parseCertificateBytes, parseDerCertificate, parsePemCertificate, parsePkcs12 } = await import("../../src/sources/certificateParsing.ts");
const { LoadedCertificate } = await import("../../src/sources/loadedCertificate.ts");
const { createManagedIdentityAssertionSource } = await import("../../src/sources/managedIdentityAssertion.ts");
const { SourceUnavailableError } = await import("../../src/sources/types.ts");
const { EntraError, MAX_DESCRIPTION_LENGTH, parseEntraError } = await import("../../src/transport/entraError.ts");
const { TransportError } = await import("../../src/transport/errors.ts");
const { DEFAULT_MAX_RESPONSE_BYTES, HttpClient } = await import("../../src/transport/httpClient.ts");
const { ImdsV2Client, ImdsV2Error } = await import("../../src/transport/imdsV2.ts");
const { parseTokenResponse, TokenResponse, TokenResponseError } = await import("../../src/transport/tokenResponse.ts");
const { collectUnhandledRejections, socketsLeftAfterClose } = await import("./support.ts");

/** The errors the library is allowed to let out of a parser or loader. */
const TYPED_ERRORS = [
  SourceUnavailableError,
  TokenResponseError,
  EntraError,
  BoundCredentialConfigurationError,
  TransportError,
  ImdsV2Error,
  CredentialUnavailableError,
] as const;

/** Texts that betray an error from deep inside someone's code rather than a diagnosis. */
const INTERNAL_FAILURE = /Cannot read propert|is not a function|is not iterable|undefined is not|null is not|Maximum call stack|Cannot convert/;

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Fails unless `error` is one of `allowed`; with `cleanMessage` (the default) its message must not
 * carry an internal failure such as "x is not a function" either.
 */
function assertTyped(error: unknown, allowed: readonly ErrorClass[] = TYPED_ERRORS, cleanMessage = true): void {
  assert.ok(
    allowed.some((type) => error instanceof type),
    `expected one of ${allowed.map((t) => t.name).join(", ")}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
  );
  const message = (error as Error).message;
  if (cleanMessage) assert.ok(!INTERNAL_FAILURE.test(message), `an internal failure leaked into the message: ${message}`);
}

/** Runs `work`; when it throws, the error must be typed. Returns whether it succeeded. */
function typedOrValue<T>(work: () => T, allowed?: readonly ErrorClass[]): T | undefined {
  try {
    return work();
  } catch (error) {
    assertTyped(error, allowed);
    return undefined;
  }
}

async function typedOrValueAsync<T>(work: () => Promise<T>, allowed?: readonly ErrorClass[], cleanMessage = true): Promise<T | undefined> {
  try {
    return await work();
  } catch (error) {
    assertTyped(error, allowed, cleanMessage);
    return undefined;
  }
}

const rejections = collectUnhandledRejections();
let directory: string;
let validPem: string;
let validPfx: Buffer;
const PFX_PASSWORD = "hostile-Pfx-pass";

before(async () => {
  directory = await mkdtemp(join(tmpdir(), "bcc-hostile-"));
  const ca = await createCertificateAuthority();
  const issued = await ca.issueCertificate({ subject: "CN=hostile", keyType: "ec" });
  validPem = `${issued.certificatePem}\n${issued.privateKeyPem}`;
  validPfx = issued.toPfx(PFX_PASSWORD);
});

after(async () => {
  await rm(directory, { recursive: true, force: true });
  rejections.dispose();
});

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const anyText = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 80 }));
const numericText = fc.oneof(
  fc.integer({ min: -10, max: 1e10 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom("", " 3599 ", "3599.5", "1e9", "0x10", "-0", "Infinity", "NaN", "99999999999999999999"),
);
const isoText = fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? "not a date" : d.toISOString()));
/** A value a field of a JSON document could hold. */
const fieldValue = fc.oneof(
  anyText,
  numericText,
  isoText,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 2 }),
);
const tokenLike = fc.oneof(
  fc.stringMatching(/^[A-Za-z0-9_-]{4,40}\.[A-Za-z0-9_-]{4,40}\.[A-Za-z0-9_-]{0,40}$/),
  anyText,
);
/** A token response, more or less. */
const tokenDocument = fc.record(
  {
    access_token: fc.oneof(tokenLike, fieldValue),
    token_type: fc.oneof(fc.constantFrom("Bearer", "bearer", "mtls_pop", "pop", "", " "), fieldValue),
    expires_in: fc.oneof(fc.integer({ min: -5, max: 400_000_000 }), fieldValue),
    expires_on: fieldValue,
    ext_expires_in: fieldValue,
    refresh_in: fieldValue,
    scope: fieldValue,
    __proto__: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
/** Any body a server might send. */
const anyBody = fc.oneof(
  anyText,
  fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
  tokenDocument.map((doc) => JSON.stringify(doc)),
  tokenDocument.map((doc) => JSON.stringify(doc).slice(0, -3)),
);

// ---------------------------------------------------------------------------------------------
// Token responses and Entra errors
// ---------------------------------------------------------------------------------------------

describe("token responses (parseTokenResponse)", () => {
  test("any body: a valid TokenResponse or a TokenResponseError naming the field; the token never in a message", () => {
    fc.assert(
      fc.property(anyBody, fc.option(fc.constantFrom("Bearer", "mtls_pop")), (body, expected) => {
        let parsed: InstanceType<typeof TokenResponse> | undefined;
        try {
          parsed = parseTokenResponse(body, { source: "login.example", ...(expected === null ? {} : { expectedTokenType: expected }) });
        } catch (error) {
          assert.ok(error instanceof TokenResponseError, `expected TokenResponseError, got ${String(error)}`);
          assert.match(error.field, /^(body|access_token|token_type|expires_in|expires_on|ext_expires_in|refresh_in)$/);
          assert.ok(!INTERNAL_FAILURE.test(error.message));
          let token: unknown;
          try {
            token = (JSON.parse(body) as Record<string, unknown>)?.["access_token"];
          } catch {
            token = undefined;
          }
          if (typeof token === "string" && token.length >= 12) {
            assert.ok(!error.message.includes(token), "the message never quotes the access token");
          }
          return;
        }
        assert.ok(parsed instanceof TokenResponse);
        assert.match(parsed.accessToken, /^[\x21-\x7e]+$/, "a token fit for an Authorization header");
        assert.ok(parsed.tokenType.trim().length > 0);
        if (expected !== null) assert.equal(parsed.tokenType.toLowerCase(), expected.toLowerCase());
        assert.ok(Number.isFinite(parsed.expiresInSeconds) && parsed.expiresInSeconds >= 0 && parsed.expiresInSeconds <= 10 * 365 * 86400);
        for (const extra of [parsed.extExpiresInSeconds, parsed.refreshInSeconds]) {
          assert.ok(extra === undefined || (Number.isFinite(extra) && extra >= 0));
        }
        // A token of a few characters (such as "0") stands in any description by chance; as for the
        // messages above, only tokens long enough to be recognised are looked for.
        if (parsed.accessToken.length >= 12) {
          assert.ok(!JSON.stringify(parsed).includes(parsed.accessToken) || parsed.accessToken === "[REDACTED]");
          assert.ok(!inspect(parsed, { depth: Infinity, showHidden: true }).includes(parsed.accessToken) || /^\[?REDACTED/.test(parsed.accessToken));
        }
      }),
      { numRuns: 3000 },
    );
  });

  test("an inherited access_token (__proto__) is not an access_token", () => {
    assert.throws(
      () => parseTokenResponse('{"__proto__": {"access_token": "abc", "token_type": "Bearer", "expires_in": 5}}'),
      (error: unknown) => error instanceof TokenResponseError && error.field === "access_token",
    );
  });
});

describe("Entra errors (parseEntraError)", () => {
  // Header values as HTTP can carry them: undici refuses control characters in a header value.
  const headerValue = fc.oneof(anyText, numericText, fc.date({ noInvalidDate: true }).map((d) => d.toUTCString()));
  const headers = fc.dictionary(
    fc.constantFrom("retry-after", "content-type", "x-ms-request-id", "www-authenticate"),
    headerValue.map((value) => value.replace(/[\u0000-\u001f\u007f]/g, "")),
    { maxKeys: 4 },
  );
  const errorDocument = fc.record(
    {
      error: fc.oneof(fieldValue, fc.record({ code: fieldValue, message: fieldValue }, { requiredKeys: [] })),
      error_description: fc.oneof(fieldValue, fc.string({ unit: "binary", minLength: 1500, maxLength: 3000 })),
      error_codes: fc.oneof(fc.array(fc.oneof(fc.integer(), anyText, fc.double()), { maxLength: 30 }), fieldValue),
      trace_id: fieldValue,
      correlation_id: fieldValue,
      timestamp: fieldValue,
      suberror: fieldValue,
      claims: fieldValue,
      message: fieldValue,
    },
    { requiredKeys: [] },
  );
  const body = fc.oneof(anyBody, errorDocument.map((doc) => JSON.stringify(doc)));

  test("any answer: an EntraError with short, printable fields; never a throw", () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), headers, body, (status, answerHeaders, answerBody) => {
        const error = parseEntraError({ status, headers: answerHeaders, body: answerBody }, "login.example");
        assert.ok(error instanceof EntraError);
        assert.equal(error.status, status);
        assert.ok(!/[\u0000-\u001f\u007f]/.test(error.message), "no control characters: a log line cannot be forged");
        assert.ok(error.description.length <= MAX_DESCRIPTION_LENGTH + 1);
        assert.ok(error.error.length > 0 && error.error.length <= 201);
        assert.ok(error.errorCodes.length <= 20 && error.errorCodes.every((code) => Number.isSafeInteger(code) && code >= 0));
        assert.ok(error.aadsts === undefined || (Number.isSafeInteger(error.aadsts) && error.aadsts >= 0));
        assert.ok(error.retryAfterMs === undefined || (Number.isInteger(error.retryAfterMs) && error.retryAfterMs >= 0 && error.retryAfterMs <= 60_000));
      }),
      { numRuns: 3000 },
    );
  });

  test(
    "control characters in the content-type quoted for a non-JSON body are removed too",
    () => {
      const error = parseEntraError({ status: 502, headers: { "content-type": "text/html\r\nFORGED log line" }, body: "<html></html>" }, "login.example");
      assert.ok(!/[\u0000-\u001f\u007f]/.test(error.message));
    },
  );

  test("a body that is not JSON is described, never quoted (it could echo what the client sent)", () => {
    const canary = "ECHOED-client-secret-4d1a";
    fc.assert(
      fc.property(fc.integer({ min: 400, max: 599 }), anyText, anyText, (status, before, afterText) => {
        const answerBody = `<html>${before}${canary}${afterText}`;
        const error = parseEntraError({ status, headers: { "content-type": "text/html" }, body: answerBody }, "login.example");
        assert.ok(!error.message.includes(canary));
        assert.match(error.description, /not a JSON error/);
      }),
      { numRuns: 500 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// IMDS v1 (through the unbound managed identity source and msal-node) and IMDS v2
// ---------------------------------------------------------------------------------------------

interface Scripted {
  status: number;
  body: string;
  server: string | undefined;
}

/** A tiny IMDS on 127.0.0.1 that answers whatever the current run scripted. */
async function startHostileImds(): Promise<{ origin: string; script: Scripted; requests: () => number; close(): Promise<void> }> {
  const script: Scripted = { status: 200, body: "{}", server: "IMDS/150.870.65.1854" };
  let requests = 0;
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    requests++;
    req.resume();
    req.on("end", () => {
      res.writeHead(script.status, {
        "content-type": "application/json; charset=utf-8",
        ...(script.server === undefined ? {} : { server: script.server }),
      });
      res.end(script.body);
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    script,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const imdsStatus = fc.constantFrom(200, 200, 200, 200, 400, 404, 410, 429, 500, 503);
const imdsV1Document = fc.record(
  {
    access_token: fc.oneof(tokenLike, fieldValue),
    expires_on: fc.oneof(fc.integer({ min: 0, max: 4e9 }).map(String), fieldValue),
    expires_in: fc.oneof(fc.integer({ min: -5, max: 200_000 }).map(String), fieldValue),
    token_type: fc.oneof(fc.constant("Bearer"), fieldValue),
    resource: fieldValue,
    client_id: fieldValue,
    error: fieldValue,
    error_description: fieldValue,
  },
  { requiredKeys: [] },
);

describe("IMDS answers", () => {
  let imds: Awaited<ReturnType<typeof startHostileImds>>;
  let http: InstanceType<typeof HttpClient>;
  before(async () => {
    imds = await startHostileImds();
    http = new HttpClient();
  });
  after(async () => {
    await http.close();
    await imds.close();
  });

  async function imdsV1Property(cleanMessage: boolean, numRuns: number): Promise<void> {
    const options = normalizeOptions(
      {
        tenantId: "00000000-0000-0000-0000-000000000001",
        clientId: "00000000-0000-0000-0000-000000000002",
        imdsEndpoint: imds.origin,
        clientCredentials: [{ sourceType: "SignedAssertionFromManagedIdentity" }],
      },
      {},
    );
    const entry = options.entries[0]!;
    await fc.assert(
      fc.asyncProperty(imdsStatus, fc.oneof(anyBody, imdsV1Document.map((doc) => JSON.stringify(doc))), async (status, body) => {
        imds.script.status = status;
        imds.script.body = body;
        const source = createManagedIdentityAssertionSource(entry, { options, now: Date.now, env: {}, http, sleep: async () => undefined, requestTimeoutMs: 2000 });
        const result = await typedOrValueAsync(
          async () => {
            const material = await source.load();
            if (material.kind !== "assertion") throw new Error("unreachable");
            return material.getAssertion({ clientId: "c", tenantId: "t", tokenEndpoint: "https://login.example/t/oauth2/v2.0/token", bound: false });
          },
          [SourceUnavailableError],
          cleanMessage,
        );
        if (result !== undefined) {
          assert.equal(typeof result.assertion, "string");
          assert.ok(result.assertion.length > 0);
          // A usable expiry is checked with the messages (the todo row): msal-node may report an Invalid Date.
          if (cleanMessage) assert.ok(result.expiresOnTimestamp === undefined || Number.isFinite(result.expiresOnTimestamp), "a finite expiry");
        }
      }),
      { numRuns },
    );
  }

  test("IMDS v1, any answer, through the unbound managed identity source: an assertion or SourceUnavailableError", async () => {
    await imdsV1Property(false, 250);
  });

  test(
    "IMDS v1, any answer: the reason says what IMDS answered, not what broke inside msal-node; an assertion has a finite expiry",
    async () => {
      await imdsV1Property(true, 250);
    },
  );

  const platformDocument = fc.record(
    {
      clientId: fieldValue,
      tenantId: fieldValue,
      attestationEndpoint: fieldValue,
      cuId: fc.oneof(fieldValue, fc.record({ vmId: fieldValue, vmssId: fieldValue }, { requiredKeys: [] })),
    },
    { requiredKeys: [] },
  );
  const credentialDocument = fc.record(
    {
      client_id: fieldValue,
      tenant_id: fc.oneof(fc.constantFrom("72f988bf-86f1-41af-91ab-2d7cd011db47", "../../evil", "a/b"), fieldValue),
      certificate: fc.oneof(fc.base64String({ maxLength: 400 }), fieldValue),
      identity_type: fieldValue,
      mtls_authentication_endpoint: fc.oneof(
        fc.constantFrom("https://westus2.mtlsauth.microsoft.com", "http://plain.example", "https://u:p@x.example", "https://x.example/?q=1", "javascript:alert(1)"),
        fieldValue,
      ),
    },
    { requiredKeys: [] },
  );
  const serverHeader = fc.option(fc.constantFrom("IMDS/150.870.65.1854", "nginx", ""), { nil: undefined });

  test("IMDS v2 getplatformmetadata, any answer: metadata or ImdsV2Error", async () => {
    const client = new ImdsV2Client({ http, endpoint: imds.origin, retry: { sleep: async () => undefined }, requestTimeoutMs: 2000 });
    await fc.assert(
      fc.asyncProperty(imdsStatus, serverHeader, fc.oneof(anyBody, platformDocument.map((doc) => JSON.stringify(doc))), async (status, server, body) => {
        Object.assign(imds.script, { status, server, body });
        const metadata = await typedOrValueAsync(() => client.getPlatformMetadata({ kind: "system" }), [ImdsV2Error]);
        if (metadata !== undefined) {
          for (const field of [metadata.clientId, metadata.tenantId, metadata.attestationEndpoint]) assert.equal(typeof field, "string");
          assert.ok(metadata.cuId.vmId !== undefined || metadata.cuId.vmssId !== undefined);
        }
      }),
      { numRuns: 300 },
    );
  });

  test("IMDS v2 issuecredential, any answer: a certificate with an https endpoint, or ImdsV2Error", async () => {
    const client = new ImdsV2Client({ http, endpoint: imds.origin, retry: { sleep: async () => undefined }, requestTimeoutMs: 2000 });
    await fc.assert(
      fc.asyncProperty(imdsStatus, serverHeader, fc.oneof(anyBody, credentialDocument.map((doc) => JSON.stringify(doc))), async (status, server, body) => {
        Object.assign(imds.script, { status, server, body });
        const issued = await typedOrValueAsync(() => client.issueCredential({ kind: "system" }, { csr: "MIIB" }), [ImdsV2Error]);
        if (issued !== undefined) {
          assert.equal(new URL(issued.mtlsAuthenticationEndpoint).protocol, "https:");
          assert.match(issued.tenantId, /^[A-Za-z0-9][A-Za-z0-9._-]*$/);
        }
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Certificates: PEM, DER, PFX, base64
// ---------------------------------------------------------------------------------------------

/** Replaces, inserts or deletes characters of `text` at the given positions. */
const textMutation = fc.array(
  fc.record({ at: fc.nat(), kind: fc.constantFrom("replace", "insert", "delete", "truncate"), char: fc.constantFrom("A", "/", "+", "=", "-", "\n", " ", "\u0000", "é", "-----END CERTIFICATE-----") }),
  { minLength: 1, maxLength: 4 },
);

function mutateText(text: string, mutations: readonly { at: number; kind: string; char: string }[]): string {
  let result = text;
  for (const m of mutations) {
    const at = m.at % Math.max(1, result.length);
    if (m.kind === "replace") result = result.slice(0, at) + m.char + result.slice(at + 1);
    else if (m.kind === "insert") result = result.slice(0, at) + m.char + result.slice(at);
    else if (m.kind === "delete") result = result.slice(0, at) + result.slice(at + 5);
    else result = result.slice(0, at);
  }
  return result;
}

const byteMutation = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), truncate: fc.boolean() }), { minLength: 1, maxLength: 3 });

function mutateBytes(bytes: Buffer, mutations: readonly { at: number; value: number; truncate: boolean }[]): Buffer {
  let result = Buffer.from(bytes);
  for (const m of mutations) {
    const at = m.at % result.length;
    if (m.truncate) result = result.subarray(0, at);
    else result[at] = m.value;
    if (result.length === 0) break;
  }
  return result;
}

function assertCertificateOrUnavailable(work: () => InstanceType<typeof LoadedCertificate>): void {
  const loaded = typedOrValue(work, [SourceUnavailableError]);
  if (loaded !== undefined) {
    assert.ok(loaded instanceof LoadedCertificate);
    assert.match(loaded.thumbprintSha256, /^[0-9A-F]{64}$/i);
    assert.ok(!inspect(loaded, { depth: Infinity, showHidden: true }).includes("PRIVATE KEY"), "the key stays out of inspect");
  }
}

async function assertCertificateOrUnavailableAsync(work: () => Promise<InstanceType<typeof LoadedCertificate>>): Promise<void> {
  const loaded = await typedOrValueAsync(work, [SourceUnavailableError]);
  if (loaded !== undefined) assertCertificateOrUnavailable(() => loaded);
}

describe("certificate input", () => {
  test("random text as PEM: SourceUnavailableError", () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.string({ maxLength: 2000 }).map((s) => `-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----`)), (text) => {
        assertCertificateOrUnavailable(() => parsePemCertificate(text));
      }),
      { numRuns: 1000 },
    );
  });

  test("a valid PEM (certificate and key), mutated: a certificate or SourceUnavailableError", () => {
    fc.assert(
      fc.property(textMutation, fc.option(anyText, { nil: undefined }), (mutations, password) => {
        assertCertificateOrUnavailable(() => parsePemCertificate(mutateText(validPem, mutations), { password }));
      }),
      { numRuns: 600 },
    );
  });

  test("random bytes as a certificate file, DER or base64: SourceUnavailableError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 3000 }), fc.option(anyText, { nil: undefined }), async (bytes, password) => {
        await assertCertificateOrUnavailableAsync(() => parseCertificateBytes(bytes, password));
        assertCertificateOrUnavailable(() => parseDerCertificate(bytes, {}));
        await assertCertificateOrUnavailableAsync(() => parsePkcs12(bytes, password));
        await assertCertificateOrUnavailableAsync(async () => parseCertificateBytes(decodeBase64(Buffer.from(bytes).toString("latin1")), password));
      }),
      { numRuns: 600 },
    );
  });

  test("a valid PFX with a byte changed or cut short: a certificate or SourceUnavailableError", async () => {
    await fc.assert(
      fc.asyncProperty(byteMutation, fc.constantFrom(PFX_PASSWORD, "wrong", "", undefined), async (mutations, password) => {
        await assertCertificateOrUnavailableAsync(() => parsePkcs12(mutateBytes(validPfx, mutations), password));
      }),
      { numRuns: 300 },
    );
  });

  test("a certificate input over 4 MiB is refused before parsing", async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x30);
    await assert.rejects(parseCertificateBytes(huge, undefined), (error: unknown) => error instanceof SourceUnavailableError && /larger than 4 MiB/.test(error.reason));
  });
});

// ---------------------------------------------------------------------------------------------
// The assertion file
// ---------------------------------------------------------------------------------------------

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const jwtLike = fc
  .tuple(fc.jsonValue({ maxDepth: 2 }), fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.record({ exp: fieldValue, nbf: fieldValue, iss: fieldValue }, { requiredKeys: [] })), fc.base64String({ maxLength: 40 }))
  .map(([header, payload, signature]) => `${base64url(header)}.${base64url(payload)}.${signature}`);

describe("the assertion file (SignedAssertionFilePath)", () => {
  /** JavaScript dates end 8.64e15 ms from the epoch, either way. */
  const DATE_RANGE_SECONDS = 8.64e12;
  const withExpInDateRange = (content: Buffer): boolean => {
    const payload = content.toString("utf8").split(".")[1];
    try {
      const exp = (JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8")) as { exp?: unknown }).exp;
      return typeof exp !== "number" || Math.abs(exp) < DATE_RANGE_SECONDS;
    } catch {
      return true;
    }
  };
  const fileContent = fc.oneof(fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes)), anyText.map((text) => Buffer.from(text)), jwtLike.map((jwt) => Buffer.from(jwt)));

  async function fileProperty(content: fc.Arbitrary<Buffer>, numRuns: number): Promise<void> {
    const path = join(directory, "token");
    const options = normalizeOptions(
      {
        tenantId: "00000000-0000-0000-0000-000000000001",
        clientId: "00000000-0000-0000-0000-000000000002",
        clientCredentials: [{ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: path }],
      },
      {},
    );
    const entry = options.entries[0]!;
    if (!isEntryOf(entry, "SignedAssertionFilePath")) assert.fail("a SignedAssertionFilePath entry");
    await fc.assert(
      fc.asyncProperty(content, async (bytes) => {
        await writeFile(path, bytes);
        const source = new AssertionFileSource(entry, Date.now);
        const result = await typedOrValueAsync(async () => {
          const material = await source.load();
          if (material.kind !== "assertion") throw new Error("unreachable");
          return material.getAssertion({ clientId: "c", tenantId: "t", tokenEndpoint: "https://login.example/t/oauth2/v2.0/token", bound: false });
        }, [SourceUnavailableError]);
        if (result !== undefined) {
          assert.ok(result.assertion.length > 0);
          assert.ok(!inspect(result, { depth: Infinity, showHidden: true }).includes(result.assertion), "the assertion stays out of inspect");
        }
      }),
      { numRuns },
    );
  }

  test("any file content (exp within the range of a Date): an assertion or SourceUnavailableError", async () => {
    await fileProperty(fileContent.filter(withExpInDateRange), 300);
  });

  test(
    "any file content, exp included: an assertion or SourceUnavailableError",
    async () => {
      await fileProperty(fileContent, 300);
    },
  );

  test(
    "through the credential: an assertion file whose exp is out of range makes the entry unavailable; the fallback serves",
    async () => {
      const path = join(directory, "out-of-range");
      await writeFile(path, `${base64url({ alg: "RS256" })}.${base64url({ exp: -1e13 })}.c2ln`);
      const credential = new BoundClientCredential(
        withSeams(testOptions([{ sourceType: "SignedAssertionFilePath", signedAssertionFileDiskPath: path }, OFFLINE_ENTRY]), { env: {} }),
      );
      try {
        const outcome = await credential.getToken("https://storage.azure.com/.default").then(
          () => undefined,
          (error: unknown) => error,
        );
        // Both entries unavailable (the second is a Windows store): CredentialUnavailableError naming the file.
        assert.ok(outcome instanceof CredentialUnavailableError, `got ${String(outcome)}`);
        assert.match(outcome.message, /clientCredentials\[0\] \(SignedAssertionFilePath[^)]*\): unavailable: /);
      } finally {
        await credential.close();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Options, configuration sections, environment variables
// ---------------------------------------------------------------------------------------------

/** Keys in the casing of appsettings.json, camelCase, or a random one. */
function keyOf(names: readonly string[]) {
  return fc.oneof(
    fc.constantFrom(...names),
    fc.constantFrom(...names).map((name) => name[0]!.toUpperCase() + name.slice(1)),
    fc.constantFrom(...names).map((name) => name.toLowerCase()),
    fc.string({ maxLength: 12 }),
  );
}

const entryKeys = [...new Set(["sourceType", "skip", "useBoundCredential", ...Object.values(SOURCE_KEYS).flat()])];
const sourceTypeValue = fc.oneof(fc.constantFrom(...SOURCE_TYPES), fc.constantFrom(...SOURCE_TYPES).map((s) => s.toLowerCase()), fc.integer({ min: -1, max: 20 }), fieldValue);
const entryLike = fc.dictionary(keyOf(entryKeys), fc.oneof(fieldValue, sourceTypeValue), { maxKeys: 6 }).chain((entry) =>
  sourceTypeValue.map((sourceType) => ({ sourceType, ...entry })),
);
const optionsLike = fc.dictionary(keyOf(OPTION_KEYS), fieldValue, { maxKeys: 6 }).chain((options) =>
  fc.record({
    tenantId: fc.oneof(fc.constantFrom("72f988bf-86f1-41af-91ab-2d7cd011db47", "contoso.onmicrosoft.com", "common"), fieldValue),
    clientId: fc.oneof(fc.uuid(), fieldValue),
    clientCredentials: fc.oneof(fc.array(entryLike, { maxLength: 3 }), fieldValue),
  }).map((required) => ({ ...required, ...options })),
);
const sectionKeys = ["Instance", "TenantId", "ClientId", "Authority", "AzureRegion", "SendX5C", "ClientCapabilities", "ClientCredentials", "ClientSecret", "ClientCertificates", "ClientCredentialsUsingManagedIdentity"];
const sectionLike = fc.dictionary(keyOf(sectionKeys), fc.oneof(fieldValue, fc.array(entryLike, { maxLength: 3 })), { maxKeys: 7 });
const hostile = fc.anything({
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
  maxDepth: 3,
});

/**
 * `options` with an empty environment under its seam key, the value itself otherwise untouched: an
 * object is copied by its property descriptors onto its own prototype (nothing is read, nothing
 * changes category), anything else is passed as it is.
 */
function withEmptyEnvironment(options: unknown): unknown {
  if (typeof options !== "object" || options === null || Array.isArray(options)) return options;
  const copy: object = Object.create(Object.getPrototypeOf(options) as object | null, Object.getOwnPropertyDescriptors(options));
  Object.defineProperty(copy, environmentOption, { value: {} });
  return copy;
}

/** Builds a credential from `options` without any network use; the constructor may only throw typed. */
function construct(options: unknown): void {
  const credential = typedOrValue(() => new BoundClientCredential(withEmptyEnvironment(options) as never), [BoundCredentialConfigurationError]);
  if (credential !== undefined) assert.ok(!JSON.stringify(credential).includes("secret-canary"));
}

describe("options and configuration", () => {
  test("normalizeOptions and the constructor, with any value: options or BoundCredentialConfigurationError", () => {
    fc.assert(
      fc.property(fc.oneof(hostile, optionsLike), (input) => {
        typedOrValue(() => normalizeOptions(input, {}), [BoundCredentialConfigurationError]);
        construct(input);
      }),
      { numRuns: 2000 },
    );
  });

  test("configuration errors name a path and a remedy", () => {
    fc.assert(
      fc.property(optionsLike, (input) => {
        try {
          normalizeOptions(input, {});
        } catch (error) {
          assert.ok(error instanceof BoundCredentialConfigurationError);
          assert.match(error.code, /^BCC_[A-Z_]+$/);
          assert.equal(typeof error.path, "string");
          assert.ok(error.remedy.length > 0);
        }
      }),
      { numRuns: 500 },
    );
  });

  test("fromConfiguration with any JSON, or an AzureAd-shaped section: options or BoundCredentialConfigurationError", () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue({ maxDepth: 4 }), sectionLike, sectionLike.map((section) => ({ AzureAd: section })), hostile), (section) => {
        const options = typedOrValue(() => optionsFromConfiguration(section), [BoundCredentialConfigurationError]);
        if (options !== undefined) construct(options);
      }),
      { numRuns: 2000 },
    );
  });

  test("fromEnvironment with any variables: options or BoundCredentialConfigurationError", () => {
    const variable = fc.oneof(fc.constantFrom(...ENVIRONMENT_VARIABLES, USE_BOUND_CREDENTIAL_VARIABLE), fc.string({ maxLength: 10 }));
    const value = fc.oneof(
      anyText,
      fc.constantFrom("true", "false", "1", "", "*", "72f988bf-86f1-41af-91ab-2d7cd011db47", "https://login.microsoftonline.com", "http://insecure.example", "/no/such/file.pem"),
    );
    fc.assert(
      fc.property(fc.dictionary(variable, value, { maxKeys: 8 }), (env) => {
        const options = typedOrValue(() => optionsFromEnvironment(env), [BoundCredentialConfigurationError]);
        if (options !== undefined) typedOrValue(() => BoundClientCredential.fromEnvironment(env), [BoundCredentialConfigurationError]);
      }),
      { numRuns: 2000 },
    );
  });

  /** A credential whose only entry is a Windows store entry: always unavailable, never a request. */
  function offlineCredential() {
    return new BoundClientCredential(withSeams(testOptions([OFFLINE_ENTRY], { additionallyAllowedTenants: ["*"] }), { env: {} }));
  }
  const getTokenOptions = fc.record(
    { tenantId: anyText, claims: anyText, enableCae: fc.boolean(), requestOptions: fc.record({ timeout: fc.integer({ min: 1, max: 5000 }) }) },
    { requiredKeys: [] },
  );

  /** getToken must answer with a promise, whatever it is given; the promise may only reject typed. */
  async function getTokenSettlesTyped(credential: ReturnType<typeof offlineCredential>, scopes: unknown, options: unknown): Promise<void> {
    let promise: Promise<unknown>;
    try {
      promise = credential.getToken(scopes as string, options as never);
    } catch (error) {
      assert.fail(`getToken threw synchronously instead of rejecting: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
    await typedOrValueAsync(() => promise, [BoundCredentialConfigurationError, CredentialUnavailableError]);
  }

  test("getToken with any string or string[] scopes and options, on a credential that makes no request: only typed errors", async () => {
    const credential = offlineCredential();
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.array(anyText, { maxLength: 3 }), anyText), getTokenOptions, async (scopes, options) => {
        await getTokenSettlesTyped(credential, scopes, options);
      }),
      { numRuns: 500 },
    );
    await credential.close();
  });

  test(
    "getToken with any value at all as scopes or options: a rejected promise with a typed error, never a synchronous throw",
    async () => {
      const credential = offlineCredential();
      try {
        await fc.assert(
          fc.asyncProperty(fc.oneof(hostile, fc.array(hostile, { maxLength: 2 })), fc.oneof(getTokenOptions, hostile), async (scopes, options) => {
            await getTokenSettlesTyped(credential, scopes, options);
          }),
          { numRuns: 500 },
        );
      } finally {
        await credential.close();
      }
    },
  );
});

// ---------------------------------------------------------------------------------------------
// Size limits
// ---------------------------------------------------------------------------------------------

describe("response bodies are size-limited", () => {
  test("an endless body is cut off at the limit and its connection dropped; a declared huge one is not read at all", async () => {
    let endlessClosed = false;
    let written = 0;
    const sockets = new Set<Socket>();
    const server = createServer((req, res) => {
      if (req.url === "/declared") {
        res.writeHead(200, { "content-length": String(10 * 1024 * 1024) });
        res.write(Buffer.alloc(1024, 0x61));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
        if (!res.destroyed) res.once("drain", pump);
      };
      res.on("close", () => {
        endlessClosed = true;
      });
      pump();
    });
    server.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const http = new HttpClient();
    try {
      for (const path of ["/endless", "/declared"]) {
        await assert.rejects(
          http.request({ url: `${origin}${path}`, method: "GET" }),
          (error: unknown) => error instanceof TransportError && error.kind === "body-too-large" && /larger than 1048576 bytes/.test(error.message),
        );
      }
      // The endless answer stopped: the client hung up rather than reading on.
      for (let i = 0; i < 100 && !endlessClosed; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.ok(endlessClosed, "the endless response's connection was closed");
      assert.ok(written < 64 * DEFAULT_MAX_RESPONSE_BYTES, `the server wrote ${written} bytes before the client hung up`);

      // The same through the IMDS v2 client: an endless platform metadata answer.
      const imds = new ImdsV2Client({ http, endpoint: `${origin}`, retry: { sleep: async () => undefined } });
      await assert.rejects(imds.getPlatformMetadata({ kind: "system" }), (error: unknown) => error instanceof ImdsV2Error && /larger than 1048576 bytes/.test(error.message));
    } finally {
      await http.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

test("end of file: no unhandled rejection, no socket left open", async () => {
  assert.deepEqual(rejections.rejections, []);
  assert.deepEqual(await socketsLeftAfterClose(), []);
});
