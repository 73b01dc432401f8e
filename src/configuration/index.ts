/**
 * The configuration layer as the credential class uses it: three front ends that produce
 * {@link BoundClientCredentialOptions} (drop-in arguments, an Identity.Web section, environment
 * variables) and one validator that turns options into frozen {@link NormalizedOptions}.
 */
export { normalizeOptions, type Environment } from "./validate.ts";
export { optionsFromDropInArguments } from "./dropIn.ts";
export { optionsFromConfiguration, type ConfigurationSectionOptions } from "./fromConfiguration.ts";
export { optionsFromEnvironment, USE_BOUND_CREDENTIAL_VARIABLE, ENVIRONMENT_VARIABLES } from "./fromEnvironment.ts";
export type { NormalizedEntry, NormalizedOptions } from "./normalized.ts";
