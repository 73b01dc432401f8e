/**
 * What the list does with an Entra error code, and what to tell the user. Codes that mean "this
 * credential is bad" make the entry rejected (reload once, then bench); codes that mean "this
 * credential cannot work for this app here" make it unavailable; the rest stop the list.
 */
export interface AadstsRule {
  readonly outcome: "rejected" | "unavailable" | "stop";
  readonly remedy: string;
}

export const AADSTS_RULES: ReadonlyMap<number, AadstsRule> = new Map<number, AadstsRule>([
  [700027, { outcome: "rejected", remedy: "Entra does not recognise the certificate or the assertion signature: upload this certificate (see its thumbprint) to the app registration, or check that the certificate file holds the right key." }],
  [700024, { outcome: "rejected", remedy: "The client assertion is outside its validity window: check this machine's clock, or refresh the assertion file." }],
  [7000214, { outcome: "rejected", remedy: "The certificate has been revoked: replace it with a valid one and register it on the app." }],
  [1000502, { outcome: "rejected", remedy: "The certificate is outside its validity window: renew it." }],
  [7000274, { outcome: "rejected", remedy: "Entra refused the credential: replace it and register the new one on the app." }],
  [7000277, { outcome: "rejected", remedy: "Entra refused the credential: replace it and register the new one on the app." }],
  [500181, { outcome: "rejected", remedy: "The certificate in the TLS handshake is not the one the assertion is bound to: the binding certificate is re-minted once; if this persists, check for a proxy that replaces client certificates." }],
  [7000215, { outcome: "rejected", remedy: "The client secret is wrong: copy the secret value (not its ID) from the app registration." }],
  [7000222, { outcome: "rejected", remedy: "The client secret has expired: create a new secret on the app registration." }],
  [7000218, { outcome: "rejected", remedy: "The request carried no credential: this entry produced neither a secret nor an assertion." }],
  [392200, { outcome: "rejected", remedy: "Entra saw no client certificate in the TLS handshake: a TLS-terminating proxy between this process and the mtlsauth host removes it; let that host bypass the proxy." }],
  [1000610, { outcome: "rejected", remedy: "The attestation token was refused: the binding certificate is re-minted once." }],
  [1000611, { outcome: "rejected", remedy: "The attestation token was refused: the binding certificate is re-minted once." }],
  [1000612, { outcome: "rejected", remedy: "The attestation token was refused: the binding certificate is re-minted once." }],
  [1000613, { outcome: "rejected", remedy: "The attestation token was refused: the binding certificate is re-minted once." }],
  [1000614, { outcome: "rejected", remedy: "The attestation token was refused: the binding certificate is re-minted once." }],
  [51000, { outcome: "unavailable", remedy: "Mutual TLS client authentication is not enabled for this application: enable it for the app, or set useBoundCredential to false for this entry." }],
  [392189, { outcome: "unavailable", remedy: "This mTLS endpoint accepts only certificates by subject name and issuer or federated credentials: register the certificate by subject name and issuer." }],
  [3921996, { outcome: "unavailable", remedy: "The tenant is not allowed to receive tokens with attested binding certificates." }],
  [700021, { outcome: "stop", remedy: "The assertion was issued for another application: check clientId." }],
  [700023, { outcome: "stop", remedy: "The assertion audience does not match the token endpoint: check authorityHost and tenantId." }],
  [700016, { outcome: "stop", remedy: "No application with this client ID exists in the tenant: check clientId and tenantId." }],
  [90002, { outcome: "stop", remedy: "The tenant does not exist: check tenantId." }],
  [500011, { outcome: "stop", remedy: "The resource of the scope does not exist in the tenant: check the scope, and that the API is registered in this tenant." }],
  // User flows (On-Behalf-Of): the caller's token, or the user, is at fault — never the entry.
  [50013, { outcome: "stop", remedy: "The user's token (the On-Behalf-Of assertion) is not valid for this app: it must be an access token issued to this app's client ID (aud) in this tenant; the caller must send a token for this API." }],
  [500133, { outcome: "stop", remedy: "The user's token (the On-Behalf-Of assertion) has expired: the caller must acquire a fresh token and call again." }],
  [50076, { outcome: "stop", remedy: "Conditional Access requires multi-factor authentication: send the claims challenge back to the caller (WWW-Authenticate) so that it signs the user in again with those claims." }],
  [50079, { outcome: "stop", remedy: "The user must enroll in multi-factor authentication: send the claims challenge back to the caller so that it signs the user in interactively." }],
  [53003, { outcome: "stop", remedy: "Access is blocked by a Conditional Access policy: send the claims challenge back to the caller; the user or an administrator must satisfy the policy." }],
  [65001, { outcome: "stop", remedy: "Neither the user nor an administrator has consented to this app calling the downstream API: grant admin consent for the API permission on the app registration (Enterprise applications > Permissions > Grant admin consent), or list the API in knownClientApplications so that the client app's sign-in asks for it." }],
  [70011, { outcome: "stop", remedy: "The scope is not valid for an app token: use `<resource>/.default`." }],
  [1002012, { outcome: "stop", remedy: "The scope is not valid for an app token: use `<resource>/.default`." }],
]);
