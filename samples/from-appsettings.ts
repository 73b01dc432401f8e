/**
 * Sample: the `AzureAd` section of a Microsoft.Identity.Web `appsettings.json`, used unchanged.
 * `samples/appsettings.json` is the configuration of an ASP.NET Core daemon: a bound managed
 * identity first (an Azure VM), then a bound certificate file, then the federated token file of AKS
 * workload identity. The same file
 * configures BoundClientCredential through `BoundClientCredential.fromConfiguration`: keys are
 * matched case-insensitively and `SourceType` by name, as Identity.Web binds them.
 *
 * Only what a JSON file cannot say is given in code, as overrides: here, where the emulator
 * listens and which CA it uses.
 *
 * Runs against the local emulator by default: it registers the app and tenant of the file and
 * plays the VM's IMDS, so the first entry (bound managed identity) serves. To run it against
 * Azure with your own file, set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `APPSETTINGS_PATH` | your `appsettings.json`; its `AzureAd` section is used as it is |
 * | `SAMPLE_SCOPE` | optional: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * node samples/from-appsettings.ts
 * ```
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { BoundClientCredential, type BoundClientCredentialOptions } from "bound-client-credential";
import {
  azureSettings,
  printResult,
  resultOf,
  runWhenExecuted,
  scopeFrom,
  startSampleEmulator,
  type SampleOptions,
  type SampleResult,
} from "./support/sample.ts";

/** The file this sample reads when `APPSETTINGS_PATH` is not set. */
export const SAMPLE_APPSETTINGS = path.join(import.meta.dirname, "appsettings.json");

/** What this sample returns: the common result and the file it read. */
export interface FromAppSettingsResult extends SampleResult {
  readonly appsettings: string;
  /** The list as the credential names its entries. */
  readonly list: readonly string[];
}

/** Reads an appsettings.json's AzureAd section and obtains a token with it. */
export async function main(options: SampleOptions = {}): Promise<FromAppSettingsResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const azure = azureSettings(env, ["APPSETTINGS_PATH"]);
  const file = azure?.APPSETTINGS_PATH ?? SAMPLE_APPSETTINGS;
  // This is what an application writes: parse the file, hand the section over.
  const settings = JSON.parse(await readFile(file, "utf8")) as { AzureAd?: unknown };

  const cleanup: (() => Promise<void>)[] = [];
  try {
    let overrides: Partial<BoundClientCredentialOptions> = {};
    if (azure === undefined) {
      // The emulator adopts the file's tenant and app, and trusts the VM's system-assigned
      // managed identity as the app's federated credential.
      const section = settings.AzureAd as { TenantId: string; ClientId: string };
      const { emulator, connection } = await startSampleEmulator({ tenantId: section.TenantId });
      cleanup.push(() => emulator.close());
      const identity = emulator.registerManagedIdentity({ kind: "system" });
      emulator.registerApp({ clientId: section.ClientId, federatedCredentials: [emulator.federatedCredentialFor(identity)] });
      overrides = connection;
    }

    const credential = BoundClientCredential.fromConfiguration(settings.AzureAd, overrides);
    cleanup.push(() => credential.close());
    const token = await credential.getToken(scopeFrom(env));

    const result: FromAppSettingsResult = {
      ...resultOf(azure === undefined ? "emulator" : "azure", credential, token.token),
      appsettings: file,
      list: (credential.toJSON()["clientCredentials"] as string[] | undefined) ?? [],
    };
    printResult(print, `appsettings.json, AzureAd section (${result.mode})`, result);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
