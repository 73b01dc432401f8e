/**
 * The source registry as configuration sees it: one descriptor per source type, the lists derived
 * from it, and the defaults each descriptor applies once, so that sources receive them ready.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { COMMON_ENTRY_KEYS, SOURCE_KEYS, SOURCE_TYPES } from "../../src/configuration/entries.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { isEntryOf, SOURCE_DESCRIPTORS } from "../../src/sources/index.ts";
import { expectConfigError, optionsOf } from "./helpers.ts";

describe("the source registry", () => {
  test("every source type has one descriptor, filed under its own name", () => {
    // Identity.Web's ten source types, CustomSignedAssertion, and this package's own Pkcs11.
    assert.equal(SOURCE_TYPES.length, 12);
    for (const [name, descriptor] of Object.entries(SOURCE_DESCRIPTORS)) {
      assert.equal(descriptor.sourceType, name);
      const keys: readonly string[] = descriptor.keys;
      assert.deepEqual(SOURCE_KEYS[descriptor.sourceType], keys);
      for (const key of keys) assert.ok(!COMMON_ENTRY_KEYS.includes(key), `${name} lists the common key ${key}`);
      const codeOnly: readonly string[] = descriptor.codeOnlyKeys ?? [];
      for (const key of codeOnly) assert.ok(keys.includes(key), `${name}: ${key} is code-only but not a key`);
    }
  });

  test("exactly the sources that cannot present a certificate refuse to bind, with their reason", () => {
    const refusing = SOURCE_TYPES.filter((type) => SOURCE_DESCRIPTORS[type].cannotBind !== undefined);
    assert.deepEqual(refusing, ["ClientSecret", "SignedAssertionFilePath"]);
    for (const type of refusing) {
      const entry = type === "ClientSecret" ? { sourceType: type, clientSecret: "s" } : { sourceType: type, signedAssertionFileDiskPath: "/t" };
      const error = expectConfigError(() => normalizeOptions(optionsOf([{ ...entry, useBoundCredential: true }]), {}), {
        code: "BCC_BOUND_NOT_SUPPORTED",
        path: "clientCredentials[0].useBoundCredential",
        remedy: /certificate entry/,
      });
      assert.ok(error.message.includes(SOURCE_DESCRIPTORS[type].cannotBind ?? "?"));
    }
  });
});

describe("defaults are applied once, by the descriptor", () => {
  test("the token exchange audience of a managed identity follows the cloud, unless given", () => {
    const cases = [
      ["https://login.microsoftonline.com", undefined, "api://AzureADTokenExchange"],
      ["https://login.microsoftonline.us", undefined, "api://AzureADTokenExchangeUSGov"],
      ["https://login.chinacloudapi.cn", undefined, "api://AzureADTokenExchangeChina"],
      ["https://login.microsoftonline.us", "api://custom", "api://custom"],
    ] as const;
    for (const [authorityHost, given, expected] of cases) {
      const entry = { sourceType: "SignedAssertionFromManagedIdentity", ...(given === undefined ? {} : { tokenExchangeUrl: given }) };
      const normalized = normalizeOptions(optionsOf([entry], { authorityHost }), {}).entries[0]!;
      assert.ok(isEntryOf(normalized, "SignedAssertionFromManagedIdentity"));
      assert.equal(normalized.description.tokenExchangeUrl, expected, authorityHost);
    }
  });

  test("the assertion file falls back to AZURE_FEDERATED_TOKEN_FILE, a blank one counting as unset", () => {
    const entry = { sourceType: "SignedAssertionFilePath" };
    const fromEnv = normalizeOptions(optionsOf([entry]), { AZURE_FEDERATED_TOKEN_FILE: "/var/run/token" }).entries[0]!;
    assert.ok(isEntryOf(fromEnv, "SignedAssertionFilePath"));
    assert.equal(fromEnv.description.signedAssertionFileDiskPath, "/var/run/token");
    assert.match(fromEnv.id, /SignedAssertionFilePath \/var\/run\/token/);
    const blank = normalizeOptions(optionsOf([entry]), { AZURE_FEDERATED_TOKEN_FILE: "  " }).entries[0]!;
    assert.ok(isEntryOf(blank, "SignedAssertionFilePath"));
    assert.equal(blank.description.signedAssertionFileDiskPath, undefined);
    assert.match(blank.id, /AZURE_FEDERATED_TOKEN_FILE \(not set\)/);
    const given = normalizeOptions(optionsOf([{ ...entry, signedAssertionFileDiskPath: "/mine" }]), { AZURE_FEDERATED_TOKEN_FILE: "/var/run/token" }).entries[0]!;
    assert.ok(isEntryOf(given, "SignedAssertionFilePath"));
    assert.equal(given.description.signedAssertionFileDiskPath, "/mine");
  });

  test("isEntryOf tells source types apart", () => {
    const [path, secret] = normalizeOptions(optionsOf([{ sourceType: "Path", certificateDiskPath: "/a.pfx" }, { sourceType: "ClientSecret", clientSecret: "s" }]), {}).entries;
    assert.ok(path !== undefined && secret !== undefined);
    assert.equal(isEntryOf(path, "Path"), true);
    assert.equal(isEntryOf(path, "ClientSecret"), false);
    assert.equal(isEntryOf(secret, "ClientSecret"), true);
  });
});
