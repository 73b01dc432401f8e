/**
 * Sample: a daemon application that authenticates with a certificate file, **bound**: the
 * certificate is presented in the TLS handshake to Entra ID's `mtlsauth` token endpoint, and the
 * token that comes back is an ordinary Bearer token for any Azure SDK client.
 *
 * Runs against the local emulator by default. To run it against Azure, set:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `AZURE_TENANT_ID` | the directory (tenant) ID |
 * | `AZURE_CLIENT_ID` | the application (client) ID; the app must have mutual TLS client authentication enabled |
 * | `AZURE_CLIENT_CERTIFICATE_PATH` | a PFX/P12 or PEM file with the certificate and its private key, registered on the app |
 * | `AZURE_CLIENT_CERTIFICATE_PASSWORD` | optional: the PFX password |
 * | `AZURE_AUTHORITY_HOST` | optional: another cloud's login host, such as `https://login.microsoftonline.us` |
 * | `SAMPLE_SCOPE` | optional: the scope; default `https://storage.azure.com/.default` |
 *
 * ```sh
 * node samples/daemon-app-cert-bound.ts
 * ```
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";
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
  type EmulatorConnection,
  type SampleOptions,
  type SampleResult,
} from "./support/sample.ts";

/** What this sample returns: the common result and the certificate file it used. */
export interface CertBoundResult extends SampleResult {
  readonly certificateFile: string;
}

/** Obtains a token with a bound certificate file and shows who served it. */
export async function main(options: SampleOptions = {}): Promise<CertBoundResult> {
  const env = options.env ?? process.env;
  const print = options.print ?? console.log;
  const scope = scopeFrom(env);
  const azure = azureSettings(env, ["AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH"]);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    let settings: { tenantId: string; clientId: string; certificatePath: string; certificatePassword?: string };
    let connection: Partial<EmulatorConnection> = {};
    if (azure !== undefined) {
      const password = nonEmpty(env["AZURE_CLIENT_CERTIFICATE_PASSWORD"]);
      settings = {
        tenantId: azure.AZURE_TENANT_ID,
        clientId: azure.AZURE_CLIENT_ID,
        certificatePath: azure.AZURE_CLIENT_CERTIFICATE_PATH,
        ...(password === undefined ? {} : { certificatePassword: password }),
      };
    } else {
      // The emulator plays Entra ID: an app with a certificate registered, the PFX written to disk.
      const { emulator, connection: toEmulator } = await startSampleEmulator();
      cleanup.push(() => emulator.close());
      const certificate = await emulator.issueCertificate({ subject: "CN=contoso-daemon" });
      const app = emulator.registerApp({ certificates: [certificate.certificatePem] });
      const directory = await temporaryDirectory("bcc-sample-");
      cleanup.push(() => directory.remove());
      const certificatePath = path.join(directory.path, "contoso-daemon.pfx");
      await writeFile(certificatePath, certificate.toPfx("sample-password"), { mode: 0o600 });
      settings = { tenantId: emulator.tenantId, clientId: app.clientId, certificatePath, certificatePassword: "sample-password" };
      connection = toEmulator;
    }

    // This is all an application writes.
    const credential = new BoundClientCredential({
      tenantId: settings.tenantId,
      clientId: settings.clientId,
      clientCredentials: [
        {
          sourceType: "Path",
          certificateDiskPath: settings.certificatePath,
          ...(settings.certificatePassword === undefined ? {} : { certificatePassword: settings.certificatePassword }),
          useBoundCredential: true,
        },
      ],
      ...connection,
    });
    cleanup.push(() => credential.close());
    const token = await credential.getToken(scope);

    const result: CertBoundResult = { ...resultOf(azure === undefined ? "emulator" : "azure", credential, token.token), certificateFile: settings.certificatePath };
    printResult(print, `daemon app, bound certificate (${result.mode})`, result);
    return result;
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

runWhenExecuted(import.meta, main);
