/**
 * The emulator's own protocol constants. They are written down here again, not imported from the
 * library, so that the emulator checks the library against Entra's values rather than against the
 * library's own idea of them.
 */

/**
 * The audience of a managed identity token used as a federated credential in the public cloud
 * (Microsoft.Identity.Web `ManagedIdentityClientAssertion`; Entra's workload identity federation).
 */
export const TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange";
