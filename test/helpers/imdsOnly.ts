/**
 * Imported first by tests of managed identity flows: msal-node picks its managed identity host from
 * these variables, once per process, and these tests need IMDS (the emulator's) whatever machine
 * runs them.
 */
for (const name of [
  "IDENTITY_ENDPOINT",
  "IDENTITY_HEADER",
  "IDENTITY_SERVER_THUMBPRINT",
  "IMDS_ENDPOINT",
  "MSI_ENDPOINT",
  "MSI_SECRET",
  "AZURE_POD_IDENTITY_AUTHORITY_HOST",
  "DEFAULT_IDENTITY_CLIENT_ID",
]) {
  delete process.env[name];
}

export {};
