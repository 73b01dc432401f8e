/**
 * Sample: BoundClientCredential as the first link of `@azure/identity`'s `ChainedTokenCredential`,
 * used through `getBearerTokenProvider` (for clients that want a function returning a token
 * string, such as the OpenAI client). When every entry of the list is *unavailable* (here: a bound
 * managed identity on a machine without IMDS v2) the credential throws `CredentialUnavailableError`
 * and the chain moves on; when Entra ID *refuses* an entry, it throws an `AuthenticationError` and
 * the chain stops, as `@azure/identity`'s own credentials do.
 *
 * Runs against the local emulator by default (IMDS v1 only, so the chain moves on to the secret).
 * To run it against Azure, set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the application (client) ID |
 * | `AZURE_CLIENT_SECRET` | a client secret of the app, for the second link (`ClientSecretCredential`) |
 * | `MANAGED_IDENTITY_CLIENT_ID` | optional: the user-assigned managed identity of the first link |
 * | `SAMPLE_SCOPE` | optional: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * node samples/chained-credential.ts
 * ```
 */
import { ChainedTokenCredential, ClientSecretCredential, getBearerTokenProvider, type ClientSecretCredentialOptions } from "@azure/identity";
import { BoundClientCredential } from "bound-client-credential";
import {
  azureSettings,
  nonEmpty,
  printResult,
  runWhenExecuted,
  scopeFrom,
  startSampleEmulator,
  tokenClaims,
  trustingEmulator,
  type EmulatorConnection,
  type SampleOptions,
  type SampleResult,
} from "./support/sample.ts";

/** What this sample returns: the common result and which link of the chain served. */
export interface ChainedResult extends SampleResult {
  readonly chainServedBy: "BoundClientCredential" | "ClientSecretCredential";
}

/** Runs a chain of a bound managed identity and a client secret, through getBearerTokenProvider. */
export async function main(options: SampleOptions = {}): Promise<ChainedResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const scope = scopeFrom(env);
  const azure = azureSettings(env, ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"]);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    let settings: { tenantId: string; clientId: string; clientSecret: string; managedIdentityClientId: string | undefined };
    let connection: Partial<EmulatorConnection> = {};
    let secretCredentialOptions: ClientSecretCredentialOptions = {};
    if (azure !== undefined) {
      settings = {
        tenantId: azure.AZURE_TENANT_ID,
        clientId: azure.AZURE_CLIENT_ID,
        clientSecret: azure.AZURE_CLIENT_SECRET,
        managedIdentityClientId: nonEmpty(env["MANAGED_IDENTITY_CLIENT_ID"]),
      };
    } else {
      // A machine without IMDS v2, so the bound managed identity is unavailable.
      const { emulator, connection: toEmulator } = await startSampleEmulator({ imds: { v2: false } });
      cleanup.push(() => emulator.close());
      const identity = emulator.registerManagedIdentity({ kind: "user" });
      const clientSecret = "emulator-only-secret";
      const app = emulator.registerApp({ secrets: [clientSecret], federatedCredentials: [emulator.federatedCredentialFor(identity)] });
      settings = { tenantId: emulator.tenantId, clientId: app.clientId, clientSecret, managedIdentityClientId: identity.clientId };
      connection = toEmulator;
      // @azure/identity's credential, pointed at the emulator too.
      secretCredentialOptions = { authorityHost: emulator.authorityHost, disableInstanceDiscovery: true, tlsOptions: trustingEmulator(emulator) };
    }

    // This is all an application writes.
    const bound = new BoundClientCredential({
      tenantId: settings.tenantId,
      clientId: settings.clientId,
      clientCredentials: [
        {
          sourceType: "SignedAssertionFromManagedIdentity",
          ...(settings.managedIdentityClientId === undefined ? {} : { managedIdentityClientId: settings.managedIdentityClientId }),
          useBoundCredential: true,
        },
      ],
      ...connection,
    });
    cleanup.push(() => bound.close());
    const chain = new ChainedTokenCredential(
      bound,
      new ClientSecretCredential(settings.tenantId, settings.clientId, settings.clientSecret, secretCredentialOptions),
    );
    const getAccessToken = getBearerTokenProvider(chain, scope);
    const token = await getAccessToken();

    const served = bound.lastServed;
    const result: ChainedResult = {
      mode: azure === undefined ? "emulator" : "azure",
      chainServedBy: served === undefined ? "ClientSecretCredential" : "BoundClientCredential",
      servedBy: served?.entryId,
      bound: served?.bound,
      tokenEndpoint: served?.tokenEndpoint,
      claims: tokenClaims(token),
    };
    printResult(print, `ChainedTokenCredential with getBearerTokenProvider (${result.mode})`, result);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
