/**
 * Sample: a web API that calls Azure Storage **on behalf of its signed-in user** (OAuth 2.0
 * On-Behalf-Of), authenticating as itself with a **bound** certificate: the certificate is
 * presented in the TLS handshake to Entra ID's `mtlsauth` token endpoint, and the token that comes
 * back — the user's, for Storage — is an ordinary Bearer token for `BlobServiceClient`.
 *
 * The API (`node:http`) validates each incoming token with jose against the tenant's JWKS (issuer,
 * audience = the API's client ID, `scp`), then makes one `TokenCredential` per request with
 * `appCredential.onBehalfOf(token)`: users' tokens are cached per user, and every request shares
 * the app credential's connections. A claims challenge from Conditional Access is sent back to the
 * caller as `WWW-Authenticate: Bearer error="insufficient_claims", claims="…"`.
 *
 * Runs against the local emulator and an Azurite blob service by default: it starts both, signs
 * two users in (the emulator issues their tokens for the API), calls the API for each, and stops.
 * To run it against Azure — the API then serves until Ctrl+C — set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the API's application (client) ID; mutual TLS client authentication enabled, Storage `user_impersonation` consented |
 * | `AZURE_CLIENT_CERTIFICATE_PATH` | a PFX/P12 or PEM file with the API's certificate and key |
 * | `AZURE_CLIENT_CERTIFICATE_PASSWORD` | optional: the PFX password |
 * | `SAMPLE_STORAGE_ACCOUNT_URL` | the blob account, such as `https://contoso.blob.core.windows.net` |
 * | `PORT` | optional: where the API listens; default 8080 |
 *
 * ```sh
 * node samples/web-api-obo-bound.ts
 * ```
 */
import { writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { BlobServiceClient, type StoragePipelineOptions } from "@azure/storage-blob";
import { createRemoteJWKSet, customFetch, jwtVerify, type JWTPayload } from "jose";
import { Agent, fetch as undiciFetch } from "undici";
import { AuthenticationRequiredError, BoundClientCredential } from "bound-client-credential";
import { startAzurite } from "../test/helpers/azurite.ts";
import {
  azureSettings,
  nonEmpty,
  printResult,
  runWhenExecuted,
  startSampleEmulator,
  temporaryDirectory,
  type EmulatorConnection,
  type SampleOptions,
} from "./support/sample.ts";

/** The delegated permission the API's callers must hold. */
const API_SCOPE = "access_as_user";

/** What the API answered one caller. */
export interface ApiCall {
  readonly status: number;
  /** The `oid` the API saw in the caller's token. */
  readonly user: string | undefined;
  /** The blob the API wrote on behalf of the user. */
  readonly blob: string | undefined;
  readonly error: string | undefined;
}

/** What this sample returns. */
export interface WebApiResult {
  readonly mode: "emulator" | "azure";
  readonly calls: readonly ApiCall[];
  /** Token requests the API sent to the mTLS host, and to the login host. */
  readonly tokenRequests: { readonly mtls: number; readonly login: number };
}

/** The web API itself: what an application writes. */
export function createWebApi(settings: {
  readonly tenantId: string;
  readonly clientId: string;
  readonly issuer: string;
  readonly jwksUrl: string;
  /** Trusted CA of the JWKS host, for the emulator; Node's roots otherwise. */
  readonly jwksCa?: string;
  readonly appCredential: BoundClientCredential;
  readonly storageAccountUrl: string;
  readonly storageOptions?: StoragePipelineOptions;
}): http.Server {
  const agent = settings.jwksCa === undefined ? undefined : new Agent({ connect: { ca: settings.jwksCa } });
  const jwks = createRemoteJWKSet(new URL(settings.jwksUrl), {
    ...(agent === undefined
      ? {}
      : { [customFetch]: (url: string, init: RequestInit) => undiciFetch(url, { ...(init as object), dispatcher: agent }) as unknown as Promise<Response> }),
  });
  const authenticate = async (header: string | undefined): Promise<{ token: string; claims: JWTPayload }> => {
    const token = /^Bearer (\S+)$/.exec(header ?? "")?.[1];
    if (token === undefined) throw new Error("no Bearer token");
    const { payload } = await jwtVerify(token, jwks, { issuer: settings.issuer, audience: [settings.clientId, `api://${settings.clientId}`] });
    if (typeof payload["scp"] !== "string" || !payload["scp"].split(" ").includes(API_SCOPE)) throw new Error(`the token lacks the ${API_SCOPE} permission`);
    return { token, claims: payload };
  };
  const server = http.createServer((request, response) => {
    const reply = (status: number, body: object, headers: Record<string, string> = {}) => {
      response.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
    };
    void (async () => {
      let caller: { token: string; claims: JWTPayload };
      try {
        caller = await authenticate(request.headers.authorization);
      } catch (error) {
        reply(401, { error: `unauthorized: ${error instanceof Error ? error.message : String(error)}` }, { "www-authenticate": "Bearer" });
        return;
      }
      const user = String(caller.claims["oid"]);
      try {
        // One credential per request, on behalf of this caller; the app's caches and connections are shared.
        const blobs = new BlobServiceClient(settings.storageAccountUrl, settings.appCredential.onBehalfOf(caller.token), settings.storageOptions);
        const container = blobs.getContainerClient(`user-${user.slice(0, 8)}`);
        await container.createIfNotExists();
        const blob = container.getBlockBlobClient("hello.txt");
        const content = `written on behalf of ${user}`;
        await blob.upload(content, Buffer.byteLength(content));
        reply(200, { user, blob: `${container.containerName}/hello.txt`, content: (await blob.downloadToBuffer()).toString("utf8") });
      } catch (error) {
        if (error instanceof AuthenticationRequiredError && error.getTokenOptions?.claims !== undefined) {
          // Conditional Access wants more from the user: the caller signs in again with these claims.
          const claims = Buffer.from(error.getTokenOptions.claims).toString("base64");
          reply(401, { error: "insufficient_claims" }, { "www-authenticate": `Bearer error="insufficient_claims", claims="${claims}"` });
          return;
        }
        reply(502, { error: error instanceof Error ? error.message.split("\n")[0] : String(error) });
      }
    })();
  });
  server.on("close", () => void agent?.close());
  return server;
}

async function listen(server: http.Server, port: number): Promise<string> {
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function call(apiUrl: string, token: string | undefined): Promise<ApiCall> {
  const response = await fetch(`${apiUrl}/blob`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const body = (await response.json()) as Record<string, unknown>;
  const text = (name: string) => (typeof body[name] === "string" ? (body[name] as string) : undefined);
  return { status: response.status, user: text("user"), blob: text("blob"), error: text("error") };
}

/** Runs the web API against the emulator and Azurite and calls it for two users; or serves it against Azure. */
export async function main(options: SampleOptions = {}): Promise<WebApiResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const azure = azureSettings(env, ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH", "SAMPLE_STORAGE_ACCOUNT_URL"]);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    if (azure !== undefined) {
      const password = nonEmpty(env["AZURE_CLIENT_CERTIFICATE_PASSWORD"]);
      const appCredential = new BoundClientCredential({
        tenantId: azure.AZURE_TENANT_ID,
        clientId: azure.AZURE_CLIENT_ID,
        clientCredentials: [
          {
            sourceType: "Path",
            certificateDiskPath: azure.AZURE_CLIENT_CERTIFICATE_PATH,
            ...(password === undefined ? {} : { certificatePassword: password }),
            useBoundCredential: true,
          },
        ],
      });
      const server = createWebApi({
        tenantId: azure.AZURE_TENANT_ID,
        clientId: azure.AZURE_CLIENT_ID,
        issuer: `https://login.microsoftonline.com/${azure.AZURE_TENANT_ID}/v2.0`,
        jwksUrl: `https://login.microsoftonline.com/${azure.AZURE_TENANT_ID}/discovery/v2.0/keys`,
        appCredential,
        storageAccountUrl: azure.SAMPLE_STORAGE_ACCOUNT_URL,
      });
      const url = await listen(server, Number(nonEmpty(env["PORT"]) ?? 8080));
      print(`web API listening on ${url}/blob; call it with a user's token for api://${azure.AZURE_CLIENT_ID}/${API_SCOPE}. Ctrl+C stops it.`);
      await new Promise<void>((resolve) => process.once("SIGINT", () => server.close(() => resolve())));
      await appCredential.close();
      return { mode: "azure", calls: [], tokenRequests: { mtls: 0, login: 0 } };
    }

    // The emulator plays Entra ID, Azurite plays Storage; the API's certificate is written to disk.
    const { emulator, connection } = await startSampleEmulator();
    cleanup.push(() => emulator.close());
    const azurite = await startAzurite(emulator);
    cleanup.push(() => azurite.stop());
    const certificate = await emulator.issueCertificate({ subject: "CN=contoso-web-api" });
    const api = emulator.registerApp({ certificates: [certificate.certificatePem] });
    const directory = await temporaryDirectory("bcc-sample-");
    cleanup.push(() => directory.remove());
    const certificatePath = path.join(directory.path, "contoso-web-api.pem");
    await writeFile(certificatePath, `${certificate.privateKeyPem}\n${certificate.certificatePem}`, { mode: 0o600 });
    const toEmulator: EmulatorConnection = connection;

    const appCredential = new BoundClientCredential({
      tenantId: emulator.tenantId,
      clientId: api.clientId,
      clientCredentials: [{ sourceType: "Path", certificateDiskPath: certificatePath, useBoundCredential: true }],
      ...toEmulator,
    });
    cleanup.push(() => appCredential.close());
    const server = createWebApi({
      tenantId: emulator.tenantId,
      clientId: api.clientId,
      issuer: `${emulator.authorityHost}/${emulator.tenantId}/v2.0`,
      jwksUrl: `${emulator.authorityHost}/${emulator.tenantId}/discovery/v2.0/keys`,
      jwksCa: emulator.caCertificatePem,
      appCredential,
      storageAccountUrl: azurite.accountUrl,
      storageOptions: azurite.clientOptions(),
    });
    const apiUrl = await listen(server, 0);
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));

    // Two users signed in to a client app, which calls the API with their tokens (twice each), and
    // one caller without a valid token.
    const users = ["Ada", "Grace"];
    const calls: ApiCall[] = [];
    for (const name of users) {
      const token = await emulator.issueUserToken({ app: api, user: { name, preferredUsername: `${name.toLowerCase()}@contoso.test` } });
      calls.push(await call(apiUrl, token), await call(apiUrl, token));
    }
    calls.push(await call(apiUrl, "not-a-valid-token"));
    const result: WebApiResult = {
      mode: "emulator",
      calls,
      tokenRequests: {
        mtls: emulator.journal.ofRoute("mtls.token").length,
        login: emulator.journal.ofRoute("login.token").length,
      },
    };
    printResult(print, "web API calling Storage on behalf of its users, bound certificate (emulator)", {
      ...result,
      calls: calls.map((c) => `${c.status} ${c.user ?? "-"} ${c.blob ?? c.error ?? ""}`),
    });
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
