/**
 * The `claims` request parameter: a claims challenge merged with the client capabilities, as MSAL
 * builds it (`{"access_token":{"xms_cc":{"values":["cp1"]}}}`). Returns undefined when there is
 * nothing to send.
 *
 * @throws TypeError when the challenge is not a JSON object
 */
export function buildClaimsParameter(challenge: string | undefined, capabilities: readonly string[]): string | undefined {
  if (challenge === undefined && capabilities.length === 0) return undefined;
  let claims: Record<string, unknown> = {};
  if (challenge !== undefined && challenge.trim() !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(challenge);
    } catch {
      throw new TypeError("The claims challenge is not valid JSON; pass the decoded `claims` value of the WWW-Authenticate challenge.");
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new TypeError("The claims challenge must be a JSON object.");
    }
    claims = parsed as Record<string, unknown>;
  }
  if (capabilities.length > 0) {
    const accessToken = claims["access_token"];
    const section = accessToken !== null && typeof accessToken === "object" && !Array.isArray(accessToken)
      ? (accessToken as Record<string, unknown>)
      : {};
    claims = { ...claims, access_token: { ...section, xms_cc: { values: [...capabilities] } } };
  }
  return JSON.stringify(claims);
}

/** The capabilities to announce for one request: the configured ones, plus `cp1` for CAE. */
export function capabilitiesFor(configured: readonly string[], enableCae: boolean): readonly string[] {
  return enableCae && !configured.includes("cp1") ? [...configured, "cp1"] : configured;
}
