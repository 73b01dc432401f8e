import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isValidRegionName, MtlsEndpointUnsupportedError, mtlsAuthorityHostFor, tokenEndpointFor } from "../../src/transport/endpoints.ts";

// wire-protocol.md §1.3: every row of the host table, without and with a region.
const ROWS: readonly [authority: string, global: string, regional: string][] = [
  ["https://login.microsoftonline.com", "https://mtlsauth.microsoft.com", "https://westus2.mtlsauth.microsoft.com"],
  ["https://login.windows.net", "https://mtlsauth.microsoft.com", "https://westus2.mtlsauth.microsoft.com"],
  ["https://login.microsoft.com", "https://mtlsauth.microsoft.com", "https://westus2.mtlsauth.microsoft.com"],
  ["https://sts.windows.net", "https://mtlsauth.microsoft.com", "https://westus2.mtlsauth.microsoft.com"],
  ["https://login.microsoftonline.us", "https://mtlsauth.microsoftonline.us", "https://westus2.mtlsauth.microsoftonline.us"],
  ["https://login.partner.microsoftonline.cn", "https://mtlsauth.partner.microsoftonline.cn", "https://westus2.mtlsauth.partner.microsoftonline.cn"],
  ["https://login.sovcloud-identity.fr", "https://mtlsauth.sovcloud-identity.fr", "https://westus2.mtlsauth.sovcloud-identity.fr"],
  ["https://login.sovcloud-identity.de", "https://mtlsauth.sovcloud-identity.de", "https://westus2.mtlsauth.sovcloud-identity.de"],
  ["https://login.sovcloud-identity.sg", "https://mtlsauth.sovcloud-identity.sg", "https://westus2.mtlsauth.sovcloud-identity.sg"],
  ["https://login.myLocalAAD.com", "https://mtlsauth.mylocalaad.com", "https://westus2.mtlsauth.mylocalaad.com"],
  ["https://login.contoso.test:8443", "https://mtlsauth.contoso.test:8443", "https://westus2.mtlsauth.contoso.test:8443"],
];

describe("mtlsAuthorityHostFor", () => {
  for (const [authority, global, regional] of ROWS) {
    test(`${authority} → ${global}`, () => {
      assert.equal(mtlsAuthorityHostFor(authority), global);
    });
    test(`${authority} with region WestUS2 → ${regional}`, () => {
      assert.equal(mtlsAuthorityHostFor(authority, "WestUS2"), regional);
    });
  }

  for (const [host, instead] of [
    ["https://login.usgovcloudapi.net", "https://login.microsoftonline.us"],
    ["https://login.chinacloudapi.cn", "https://login.partner.microsoftonline.cn"],
  ] as const) {
    test(`${host} has no mTLS endpoint and names ${instead}`, () => {
      assert.throws(
        () => mtlsAuthorityHostFor(host),
        (e: unknown) => e instanceof MtlsEndpointUnsupportedError && e.suggestedHost === instead && e.message.includes(instead),
      );
    });
  }

  test("a host that does not start with login. cannot be derived", () => {
    assert.throws(
      () => mtlsAuthorityHostFor("https://127.0.0.1:4443"),
      (e: unknown) => e instanceof MtlsEndpointUnsupportedError && e.suggestedHost === undefined && /mtlsAuthorityHost/.test(e.message),
    );
  });
});

describe("tokenEndpointFor", () => {
  test("appends the tenant and the v2 token path", () => {
    assert.equal(
      tokenEndpointFor("https://mtlsauth.microsoft.com/", "contoso.onmicrosoft.com"),
      "https://mtlsauth.microsoft.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
    );
  });
});

describe("isValidRegionName", () => {
  test("accepts letters and digits only", () => {
    assert.equal(isValidRegionName("westus2"), true);
    assert.equal(isValidRegionName("west us"), false);
    assert.equal(isValidRegionName("westus2.evil.com"), false);
    assert.equal(isValidRegionName(""), false);
  });
});
