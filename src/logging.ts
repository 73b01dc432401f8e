import { createClientLogger, type AzureLogger } from "@azure/logger";

/**
 * The package logger. Its namespace is `azure:bound-client-credential`, so `AZURE_LOG_LEVEL`
 * and `setLogLevel` of `@azure/logger` control it.
 *
 * @public
 */
export const logger: AzureLogger = createClientLogger("bound-client-credential");

/** A logger that prefixes its messages in the `Title => getToken() =>` style of `@azure/identity`. */
export interface CredentialLogger {
  readonly title: string;
  info(message: string): void;
  warning(message: string): void;
  verbose(message: string): void;
  error(message: string): void;
}

/**
 * Creates a logger whose lines start with `title =>`. Messages must never contain tokens, keys,
 * secrets or assertions: log thumbprints, hosts, AADSTS codes and correlation ids instead.
 */
export function credentialLogger(title: string, parent: AzureLogger = logger): CredentialLogger {
  return {
    title,
    info: (message) => parent.info(`${title} => ${message}`),
    warning: (message) => parent.warning(`${title} => ${message}`),
    verbose: (message) => parent.verbose(`${title} => ${message}`),
    error: (message) => parent.error(`${title} => ${message}`),
  };
}
