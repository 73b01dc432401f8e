/** The package version, sent in telemetry fields and spans; kept equal to package.json by a test. */
export const SDK_VERSION = "0.1.0";

/** The public-cloud login host. */
export const DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com";

/** The instance metadata service of an Azure VM. */
export const DEFAULT_IMDS_ENDPOINT = "http://169.254.169.254";

/** The audience of a managed identity token used as a federated credential in the public cloud. */
export const DEFAULT_TOKEN_EXCHANGE_URL = "api://AzureADTokenExchange";
