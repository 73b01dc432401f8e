/**
 * Sample: replacing `@azure/identity`'s `ClientCertificateCredential` with BoundClientCredential.
 * The constructor takes the same arguments (tenant, client, certificate path or PEM), plus
 * `useBoundCredential: true` to obtain the token over mutual TLS; the Azure SDK client using it
 * does not change.
 *
 * ```ts
 * // before
 * const credential = new ClientCertificateCredential(tenantId, clientId, certificatePath);
 * // after
 * const credential = new BoundClientCredential(tenantId, clientId, certificatePath, { useBoundCredential: true });
 * ```
 *
 * Runs against the local emulator (Entra ID and a Key Vault) by default. To run it against Azure, set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the application (client) ID; the app must have mutual TLS client authentication enabled |
 * | `AZURE_CLIENT_CERTIFICATE_PATH` | a PEM (certificate and key) or PFX/P12 file registered on the app |
 * | `AZURE_CLIENT_CERTIFICATE_PASSWORD` | optional: its password |
 * | `AZURE_KEYVAULT_URL` | optional: a vault the app may read secrets from, such as `https://myvault.vault.azure.net` |
 * | `KEYVAULT_SECRET_NAME` | the secret to read, when `AZURE_KEYVAULT_URL` is set |
 * | `SAMPLE_SCOPE` | optional, without a vault: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * node samples/drop-in-client-certificate.ts
 * ```
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { SecretClient, type SecretClientOptions } from "@azure/keyvault-secrets";
import { BoundClientCredential } from "bound-client-credential";
import {
  azureSettings,
  nonEmpty,
  printResult,
  resultOf,
  runWhenExecuted,
  scopeFrom,
  startSampleEmulator,
  temporaryDirectory,
  trustingEmulator,
  type EmulatorConnection,
  type SampleOptions,
  type SampleResult,
} from "./support/sample.ts";

/** What this sample returns: the common result and what the Key Vault client read. */
export interface DropInResult extends SampleResult {
  /** The secret read with the credential, by name and length (the value is not shown). */
  readonly secret: { readonly name: string; readonly length: number } | undefined;
}

/** Uses the drop-in constructor, bound, with Key Vault's SecretClient. */
export async function main(options: SampleOptions = {}): Promise<DropInResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const azure = azureSettings(env, ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH"]);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    let tenantId: string;
    let clientId: string;
    let certificatePath: string;
    let certificatePassword: string | undefined;
    let vault: { url: string; secretName: string; clientOptions: SecretClientOptions } | undefined;
    let connection: Partial<EmulatorConnection> = {};
    if (azure !== undefined) {
      tenantId = azure.AZURE_TENANT_ID;
      clientId = azure.AZURE_CLIENT_ID;
      certificatePath = azure.AZURE_CLIENT_CERTIFICATE_PATH;
      certificatePassword = nonEmpty(env["AZURE_CLIENT_CERTIFICATE_PASSWORD"]);
      const vaultSettings = azureSettings(env, ["AZURE_KEYVAULT_URL", "KEYVAULT_SECRET_NAME"]);
      vault = vaultSettings && { url: vaultSettings.AZURE_KEYVAULT_URL, secretName: vaultSettings.KEYVAULT_SECRET_NAME, clientOptions: {} };
    } else {
      // The emulator plays Entra ID and Key Vault; the certificate is a PEM file, as
      // ClientCertificateCredential reads it.
      const { emulator, connection: toEmulator } = await startSampleEmulator();
      cleanup.push(() => emulator.close());
      const certificate = await emulator.issueCertificate({ subject: "CN=contoso-reporting" });
      const app = emulator.registerApp({ certificates: [certificate.certificatePem] });
      emulator.keyVault.setSecret("reporting-database-password", "correct horse battery staple");
      const directory = await temporaryDirectory("bcc-sample-");
      cleanup.push(() => directory.remove());
      certificatePath = path.join(directory.path, "contoso-reporting.pem");
      await writeFile(certificatePath, certificate.privateKeyPem + certificate.certificatePem, { mode: 0o600 });
      tenantId = emulator.tenantId;
      clientId = app.clientId;
      vault = {
        url: emulator.keyVaultUrl,
        secretName: "reporting-database-password",
        // The emulator's vault lives on 127.0.0.1, not on the host its challenge names.
        clientOptions: { disableChallengeResourceVerification: true, tlsOptions: trustingEmulator(emulator) },
      };
      connection = toEmulator;
    }

    // This is all an application writes.
    const credential = new BoundClientCredential(
      tenantId,
      clientId,
      certificatePassword === undefined ? { certificatePath } : { certificatePath, certificatePassword },
      { useBoundCredential: true, ...connection },
    );
    cleanup.push(() => credential.close());

    let secret: DropInResult["secret"];
    let token: string;
    if (vault !== undefined) {
      const client = new SecretClient(vault.url, credential, vault.clientOptions);
      const read = await client.getSecret(vault.secretName);
      secret = { name: read.name, length: read.value?.length ?? 0 };
      // The token the client used, from the credential's cache (SecretClient asks for CAE tokens).
      token = (await credential.getToken("https://vault.azure.net/.default", { enableCae: true })).token;
    } else {
      token = (await credential.getToken(scopeFrom(env))).token;
    }

    const result: DropInResult = { ...resultOf(azure === undefined ? "emulator" : "azure", credential, token), secret };
    printResult(print, `drop-in for ClientCertificateCredential, bound (${result.mode})`, result);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
