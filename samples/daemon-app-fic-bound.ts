/**
 * Sample: a daemon application on an Azure VM that has **no secret and no certificate of its
 * own**. The app trusts the VM's managed identity as a federated identity credential (FIC); the
 * entry is **bound**: IMDS v2 issues a binding certificate for a key made in this process, the
 * managed identity's token is obtained over mutual TLS with it, and the app's token is then
 * requested over mutual TLS as well, with that token as a `jwt-pop` client assertion.
 *
 * Runs against the local emulator (Entra ID and IMDS v2) by default. To run it against Azure, on
 * a VM whose IMDS offers the credential endpoint (IMDS v2), set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the application (client) ID; the app has a federated credential for the managed identity |
 * | `MANAGED_IDENTITY_CLIENT_ID` | optional: the user-assigned managed identity; the system-assigned one when unset |
 * | `SAMPLE_SCOPE` | optional: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * node samples/daemon-app-fic-bound.ts
 * ```
 */
import { BoundClientCredential } from "bound-client-credential";
import {
  azureSettings,
  nonEmpty,
  printResult,
  resultOf,
  runWhenExecuted,
  scopeFrom,
  startSampleEmulator,
  type EmulatorConnection,
  type SampleOptions,
  type SampleResult,
} from "./support/sample.ts";

/** What this sample returns: the common result and the managed identity used. */
export interface FicBoundResult extends SampleResult {
  /** The user-assigned managed identity, or `system-assigned`. */
  readonly managedIdentity: string;
}

/** Obtains a token with a bound managed identity federated credential. */
export async function main(options: SampleOptions = {}): Promise<FicBoundResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const scope = scopeFrom(env);
  const azure = azureSettings(env, ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"]);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    let settings: { tenantId: string; clientId: string; managedIdentityClientId: string | undefined };
    let connection: Partial<EmulatorConnection> = {};
    if (azure !== undefined) {
      settings = {
        tenantId: azure.AZURE_TENANT_ID,
        clientId: azure.AZURE_CLIENT_ID,
        managedIdentityClientId: nonEmpty(env["MANAGED_IDENTITY_CLIENT_ID"]),
      };
    } else {
      // The emulator plays Entra ID and the VM's IMDS: a user-assigned identity the app trusts.
      const { emulator, connection: toEmulator } = await startSampleEmulator();
      cleanup.push(() => emulator.close());
      const identity = emulator.registerManagedIdentity({ kind: "user" });
      const app = emulator.registerApp({ federatedCredentials: [emulator.federatedCredentialFor(identity)] });
      settings = { tenantId: emulator.tenantId, clientId: app.clientId, managedIdentityClientId: identity.clientId };
      connection = toEmulator;
    }

    // This is all an application writes.
    const credential = new BoundClientCredential({
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
    cleanup.push(() => credential.close());
    const token = await credential.getToken(scope);

    const result: FicBoundResult = {
      ...resultOf(azure === undefined ? "emulator" : "azure", credential, token.token),
      managedIdentity: settings.managedIdentityClientId ?? "system-assigned",
    };
    printResult(print, `daemon app, bound managed identity federated credential (${result.mode})`, result);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
