/**
 * The heavy dependencies, each loaded the first time a configuration uses it. Importing the
 * package loads none of them: a credential with a secret never parses a PFX, one with a bound
 * certificate never starts msal-node, and only a Key Vault entry needs the Key Vault client. Each
 * loader memoises its promise, so a module is imported once per process however many callers wait
 * for it. The build emits ESM and CommonJS; `import()` works in both (tsc turns it into `require`
 * in the CommonJS output, which Node 22.12 and later can also use for ES modules).
 *
 * @internal
 */

/** undici: the HTTP client of `transport/httpClient.ts`. */
export type Undici = typeof import("undici");
/** msal-node: the unbound path and the managed identity endpoints other than the bound one. */
export type MsalNode = typeof import("@azure/msal-node");
/** node-forge: PKCS#12 decoding (the legacy encryptions OpenSSL 3 refuses). */
export type Forge = typeof import("node-forge");
/** The Key Vault secrets client, for the `KeyVault` source. */
export type KeyVaultSecrets = typeof import("@azure/keyvault-secrets");
/** jose: reading the claims of assertions and tokens that others signed. */
export type Jose = typeof import("jose");

let undici: Promise<Undici> | undefined;
let msalNode: Promise<MsalNode> | undefined;
let forge: Promise<Forge> | undefined;
let keyVaultSecrets: Promise<KeyVaultSecrets> | undefined;
let jose: Promise<Jose> | undefined;

/**
 * A promise of `load()` kept for the process. A failed import is not kept: a later call tries
 * again (the package may have been installed since, or the failure was an I/O error).
 */
function once<T>(current: Promise<T> | undefined, load: () => Promise<T>, keep: (p: Promise<T> | undefined) => void): Promise<T> {
  if (current !== undefined) return current;
  const pending = load();
  keep(pending);
  pending.catch(() => keep(undefined));
  return pending;
}

/** Loads undici once. */
export function loadUndici(): Promise<Undici> {
  return once(undici, () => import("undici"), (p) => (undici = p));
}

/** Loads msal-node once. */
export function loadMsalNode(): Promise<MsalNode> {
  return once(msalNode, () => import("@azure/msal-node"), (p) => (msalNode = p));
}

/** Loads node-forge once (its CommonJS `module.exports`, the value of its default import). */
export function loadForge(): Promise<Forge> {
  return once(
    forge,
    async () => {
      // An ES module sees forge's `module.exports` as the default export only (its exports are not
      // statically detectable); tsc's CommonJS interop adds the default export to the namespace.
      const loaded: Forge | { readonly default: Forge } = await import("node-forge");
      return "default" in loaded ? loaded.default : loaded;
    },
    (p) => (forge = p),
  );
}

/** Loads `@azure/keyvault-secrets` once. */
export function loadKeyVaultSecrets(): Promise<KeyVaultSecrets> {
  return once(keyVaultSecrets, () => import("@azure/keyvault-secrets"), (p) => (keyVaultSecrets = p));
}

/** Loads jose once. */
export function loadJose(): Promise<Jose> {
  return once(jose, () => import("jose"), (p) => (jose = p));
}
