/**
 * Sample: one ordered list for every place the application runs. On an Azure VM with IMDS v2
 * the bound managed identity serves; where there is none (a laptop, a CI runner, an older VM) the
 * list falls through to the bound certificate; if that is not deployed either, to the secret. An
 * entry that cannot serve is *unavailable*: its reason is logged (a warning), it is benched for a
 * while, and the next entry is tried in the same `getToken` call.
 *
 * Runs against the local emulator by default, whose IMDS is v1 only here, as on a machine without
 * the credential endpoint: the managed identity is skipped and the certificate serves. To run it
 * against Azure, set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the application (client) ID |
 * | `MANAGED_IDENTITY_CLIENT_ID` | optional: a user-assigned managed identity the app trusts as a federated credential |
 * | `AZURE_CLIENT_CERTIFICATE_PATH` | optional: a PFX/P12 or PEM certificate file registered on the app (bound entry) |
 * | `AZURE_CLIENT_CERTIFICATE_PASSWORD` | optional: its password |
 * | `AZURE_CLIENT_SECRET` | optional: a client secret (last resort, never bound) |
 * | `SAMPLE_SCOPE` | optional: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * node samples/mixed-list-fallback.ts
 * ```
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { BoundClientCredential, type CredentialDescription } from "bound-client-credential";
import {
  azureSettings,
  nonEmpty,
  printResult,
  resultOf,
  runWhenExecuted,
  scopeFrom,
  startSampleEmulator,
  temporaryDirectory,
  withCredentialWarnings,
  type EmulatorConnection,
  type SampleOptions,
  type SampleResult,
} from "./support/sample.ts";

/** What this sample returns: the common result and why the entries before the serving one were skipped. */
export interface MixedListResult extends SampleResult {
  /** The list, in order, as the credential names its entries. */
  readonly list: readonly string[];
  /** The warnings logged while the list was walked: one per entry that could not serve. */
  readonly skipped: readonly string[];
}

interface ListSettings {
  tenantId: string;
  clientId: string;
  managedIdentityClientId: string | undefined;
  certificatePath: string | undefined;
  certificatePassword: string | undefined;
  clientSecret: string | undefined;
}

/** Walks a list of bound managed identity, bound certificate and secret, and shows which served. */
export async function main(options: SampleOptions = {}): Promise<MixedListResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const scope = scopeFrom(env);
  const azure = azureSettings(env, ["AZURE_TENANT_ID", "AZURE_CLIENT_ID"]);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    let settings: ListSettings;
    let connection: Partial<EmulatorConnection> = {};
    if (azure !== undefined) {
      settings = {
        tenantId: azure.AZURE_TENANT_ID,
        clientId: azure.AZURE_CLIENT_ID,
        managedIdentityClientId: nonEmpty(env["MANAGED_IDENTITY_CLIENT_ID"]),
        certificatePath: nonEmpty(env["AZURE_CLIENT_CERTIFICATE_PATH"]),
        certificatePassword: nonEmpty(env["AZURE_CLIENT_CERTIFICATE_PASSWORD"]),
        clientSecret: nonEmpty(env["AZURE_CLIENT_SECRET"]),
      };
    } else {
      // A machine without IMDS v2: the emulator's IMDS answers as a v1-only host.
      const { emulator, connection: toEmulator } = await startSampleEmulator({ imds: { v2: false } });
      cleanup.push(() => emulator.close());
      const identity = emulator.registerManagedIdentity({ kind: "user" });
      const certificate = await emulator.issueCertificate({ subject: "CN=contoso-worker" });
      const clientSecret = "emulator-only-secret";
      const app = emulator.registerApp({
        certificates: [certificate.certificatePem],
        secrets: [clientSecret],
        federatedCredentials: [emulator.federatedCredentialFor(identity)],
      });
      const directory = await temporaryDirectory("bcc-sample-");
      cleanup.push(() => directory.remove());
      const certificatePath = path.join(directory.path, "contoso-worker.pem");
      await writeFile(certificatePath, certificate.privateKeyPem + certificate.certificatePem, { mode: 0o600 });
      settings = {
        tenantId: emulator.tenantId,
        clientId: app.clientId,
        managedIdentityClientId: identity.clientId,
        certificatePath,
        certificatePassword: undefined,
        clientSecret,
      };
      connection = toEmulator;
    }

    // This is all an application writes: the strongest credential first.
    const clientCredentials: CredentialDescription[] = [
      {
        sourceType: "SignedAssertionFromManagedIdentity",
        ...(settings.managedIdentityClientId === undefined ? {} : { managedIdentityClientId: settings.managedIdentityClientId }),
        useBoundCredential: true,
      },
    ];
    if (settings.certificatePath !== undefined) {
      clientCredentials.push({
        sourceType: "Path",
        certificateDiskPath: settings.certificatePath,
        ...(settings.certificatePassword === undefined ? {} : { certificatePassword: settings.certificatePassword }),
        useBoundCredential: true,
      });
    }
    if (settings.clientSecret !== undefined) {
      clientCredentials.push({ sourceType: "ClientSecret", clientSecret: settings.clientSecret });
    }
    const credential = new BoundClientCredential({ tenantId: settings.tenantId, clientId: settings.clientId, clientCredentials, ...connection });
    cleanup.push(() => credential.close());
    const { value: token, warnings } = await withCredentialWarnings(() => credential.getToken(scope));

    const result: MixedListResult = {
      ...resultOf(azure === undefined ? "emulator" : "azure", credential, token.token),
      list: (credential.toJSON()["clientCredentials"] as string[] | undefined) ?? [],
      skipped: warnings,
    };
    printResult(print, `mixed list with fall-through (${result.mode})`, result);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
