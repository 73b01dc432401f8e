import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { BoundClientCredential } from "../../../src/boundClientCredential.ts";
import { BoundCredentialConfigurationError } from "../../../src/errors.ts";
import { optionsFromConfiguration } from "../../../src/configuration/fromConfiguration.ts";
import { normalizeOptions } from "../../../src/configuration/validate.ts";
import { isEntryOf } from "../../../src/sources/index.ts";
import { describePkcs11Uri, engineKeyUri, parsePkcs11Uri, Pkcs11UriError } from "../../../src/sources/pkcs11/uri.ts";

const PIN = "canary-pin-93c1";

function refused(uri: string, problem: RegExp): void {
  assert.throws(
    () => parsePkcs11Uri(uri),
    (error: unknown) => error instanceof Pkcs11UriError && problem.test(error.message) && !error.message.includes(PIN),
  );
}

describe("RFC 7512 pkcs11: URIs", () => {
  test("path and query attributes, percent-decoded; id as bytes", () => {
    const uri = parsePkcs11Uri(
      "pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;serial=1a2b;model=SoftHSM%20v2;object=sign%3Bkey;id=%01%FF;type=private;slot-id=7?pin-value=" + PIN + "&module-path=/usr/lib/softhsm/libsofthsm2.so",
    );
    assert.equal(uri.token, "My Token");
    assert.equal(uri.manufacturer, "SoftHSM project");
    assert.equal(uri.serial, "1a2b");
    assert.equal(uri.model, "SoftHSM v2");
    assert.equal(uri.object, "sign;key");
    assert.deepEqual(uri.id, Buffer.from([0x01, 0xff]));
    assert.equal(uri.slotId, 7);
    assert.equal(uri.pinValue, PIN);
    assert.equal(uri.modulePath, "/usr/lib/softhsm/libsofthsm2.so");
  });

  test("UTF-8 values, library attributes, the scheme in any case, pin-value in the path as libp11 writes it", () => {
    const uri = parsePkcs11Uri("PKCS11:token=%C3%A9quipe;library-manufacturer=SoftHSM;library-version=2.6;object=k;pin-value=" + PIN);
    assert.equal(uri.token, "équipe");
    assert.deepEqual(uri.libraryVersion, { major: 2, minor: 6 });
    assert.equal(uri.pinValue, PIN);
  });

  test("pin-source as an absolute path or a file: URI", () => {
    assert.equal(parsePkcs11Uri("pkcs11:object=k?pin-source=/run/secrets/pin").pinSource, "/run/secrets/pin");
    assert.equal(parsePkcs11Uri("pkcs11:object=k?pin-source=file:///run/secrets/token%20pin").pinSource, "/run/secrets/token pin");
    refused("pkcs11:object=k?pin-source=relative/pin", /neither an absolute path nor a file: URI/);
    refused("pkcs11:object=k?pin-source=file://elsewhere/pin", /on another host/);
  });

  test("mistakes are refused with the attribute's name, never its value", () => {
    refused("pkcs12:object=k", /does not start with "pkcs11:"/);
    refused("pkcs11:object=k;colour=blue", /the attribute "colour", which RFC 7512 does not define/);
    refused("pkcs11:object=k;object=l", /gives "object" more than once/);
    refused("pkcs11:object=k;type=cert", /names an object of type "cert"/);
    refused("pkcs11:token=t", /names no key: it has neither "object" nor "id"/);
    refused(`pkcs11:object=k?pin-value=${PIN}&pin-source=/p`, /both "pin-value" and "pin-source"/);
    refused(`pkcs11:object=%zz;pin-value=${PIN}`, /malformed percent escape in the value of "object"/);
    refused("pkcs11:object=%FF%FE", /not UTF-8/);
    refused("pkcs11:object=k;slot-id=seven", /"slot-id" that is not a decimal number/);
    refused("pkcs11:object=k;;token=t", /empty or nameless attribute/);
    refused("pkcs11:object=k?token=t", /has "token" in its query/);
    refused("pkcs11:object=k;module-path=/m.so", /has "module-path" in its path/);
    refused("pkcs11:object=k?module-name=softhsm2", /module-name/);
    refused("pkcs11:id=", /empty "id"/);
  });

  test("the engine's URI percent-encodes every value and names the key by id; the description drops the PIN", () => {
    const engine = engineKeyUri({ token: "a;b", serial: "s 1", id: Buffer.from([0xa1, 0x02]), label: "ignored" }, "p;n");
    assert.equal(engine, "pkcs11:token=a%3Bb;serial=s%201;id=%A1%02;type=private;pin-value=p%3Bn");
    assert.deepEqual(parsePkcs11Uri(engine).id, Buffer.from([0xa1, 0x02]));
    assert.equal(describePkcs11Uri(parsePkcs11Uri(`pkcs11:token=t;object=k?pin-value=${PIN}`)), "pkcs11:token=t;object=k;type=private");
  });
});

describe("Pkcs11 entries in the options", () => {
  const base = { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientId: "00000000-0000-0000-0000-000000000001" };

  function configError(entry: Record<string, unknown>, env: Record<string, string> = {}): BoundCredentialConfigurationError {
    try {
      normalizeOptions({ ...base, clientCredentials: [entry] }, env);
    } catch (error) {
      assert.ok(error instanceof BoundCredentialConfigurationError);
      assert.ok(!error.message.includes(PIN));
      return error;
    }
    assert.fail("expected a configuration error");
  }

  test("the module defaults to PKCS11_MODULE_PATH; the entry id carries the URI without its PIN", () => {
    const options = normalizeOptions({ ...base, clientCredentials: [{ sourceType: "Pkcs11", pkcs11Uri: `pkcs11:token=t;object=k?pin-value=${PIN}`, useBoundCredential: true }] }, { PKCS11_MODULE_PATH: "/env/module.so" });
    const entry = options.entries[0]!;
    assert.ok(isEntryOf(entry, "Pkcs11"));
    assert.equal(entry.description.pkcs11ModulePath, "/env/module.so");
    assert.equal(entry.id, "clientCredentials[0] (Pkcs11 pkcs11:token=t;object=k;type=private, bound)");
    assert.equal(entry.description.pin?.reveal(), PIN);
  });

  test("a bad URI, a missing module, and contradictions are configuration errors naming the field", () => {
    assert.equal(configError({ sourceType: "Pkcs11", pkcs11Uri: "pkcs11:object=k;colour=blue", pkcs11ModulePath: "/m.so" }).path, "clientCredentials[0].pkcs11Uri");
    const missing = configError({ sourceType: "Pkcs11", pkcs11Uri: "pkcs11:object=k" });
    assert.equal(missing.code, "BCC_MISSING_FIELD");
    assert.equal(missing.path, "clientCredentials[0].pkcs11ModulePath");
    const pins = configError({ sourceType: "Pkcs11", pkcs11Uri: `pkcs11:object=k?pin-value=${PIN}`, pkcs11Pin: PIN, pkcs11ModulePath: "/m.so" });
    assert.equal(pins.code, "BCC_CONFLICTING_FIELDS");
    const modules = configError({ sourceType: "Pkcs11", pkcs11Uri: "pkcs11:object=k?module-path=/a.so", pkcs11ModulePath: "/b.so" });
    assert.equal(modules.code, "BCC_CONFLICTING_FIELDS");
  });

  test("fromConfiguration reads an Identity.Web-style Pkcs11 entry", () => {
    const section = {
      AzureAd: {
        Instance: "https://login.microsoftonline.com/",
        TenantId: base.tenantId,
        ClientId: base.clientId,
        ClientCredentials: [
          { SourceType: "Pkcs11", Pkcs11Uri: "pkcs11:token=t;object=k", Pkcs11ModulePath: "/m.so", Pkcs11Pin: PIN, CertificateDiskPath: "/certs/app.pem", UseBoundCredential: true },
        ],
      },
    };
    const options = optionsFromConfiguration(section);
    assert.deepEqual(options?.clientCredentials[0], {
      sourceType: "Pkcs11",
      pkcs11Uri: "pkcs11:token=t;object=k",
      pkcs11ModulePath: "/m.so",
      pkcs11Pin: PIN,
      certificateDiskPath: "/certs/app.pem",
      useBoundCredential: true,
    });
    const credential = BoundClientCredential.fromConfiguration(section);
    const text = JSON.stringify(credential) + String(credential);
    assert.ok(!text.includes(PIN));
    return credential.close();
  });
});

describe("loading", () => {
  test("the package's entry point does not load pkcs11js; a Pkcs11 entry's first load does", async () => {
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    const script = `
      const { registerHooks } = require("node:module");
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { if (specifier === "pkcs11js") seen.push(specifier); return next(specifier, context); } });
      (async () => {
        await import(${JSON.stringify(new URL("../../../src/index.ts", import.meta.url).href)});
        const atEntry = seen.length;
        const { loadBinding } = await import(${JSON.stringify(new URL("../../../src/sources/pkcs11/session.ts", import.meta.url).href)});
        await loadBinding().catch(() => undefined);
        process.stdout.write(JSON.stringify({ atEntry, afterLoad: seen.length }));
      })();`;
    const { stdout } = await promisify(execFile)(process.execPath, ["-e", script]);
    const counts = JSON.parse(stdout) as { atEntry: number; afterLoad: number };
    assert.equal(counts.atEntry, 0);
    assert.ok(counts.afterLoad >= 1);
  });
});

describe("without pkcs11js", () => {
  test("a Pkcs11 entry is unavailable with a reason naming what to install", async () => {
    const { execFile } = await import("node:child_process");
    const { promisify } = await import("node:util");
    // The process cannot resolve pkcs11js, as where the optional dependency was not installed.
    const script = `
      const { registerHooks } = require("node:module");
      registerHooks({ resolve(specifier, context, next) {
        if (specifier === "pkcs11js") throw Object.assign(new Error("Cannot find package 'pkcs11js'"), { code: "ERR_MODULE_NOT_FOUND" });
        return next(specifier, context);
      } });
      (async () => {
        const { BoundClientCredential } = await import(${JSON.stringify(new URL("../../../src/index.ts", import.meta.url).href)});
        const credential = new BoundClientCredential({
          tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientId: "app",
          clientCredentials: [{ sourceType: "Pkcs11", pkcs11Uri: "pkcs11:token=t;object=k", pkcs11ModulePath: "/m.so" }],
        });
        const error = await credential.getToken("https://storage.azure.com/.default").catch((e) => e);
        process.stdout.write(JSON.stringify({ name: error.name, outcome: error.entries[0].outcome, reason: error.entries[0].reason }));
        await credential.close();
      })();`;
    const { stdout } = await promisify(execFile)(process.execPath, ["-e", script]);
    const result = JSON.parse(stdout) as { name: string; outcome: string; reason: string };
    assert.equal(result.name, "CredentialUnavailableError");
    assert.equal(result.outcome, "unavailable");
    assert.match(result.reason, /pkcs11js is not installed: install the optional dependency pkcs11js \(npm install pkcs11js/);
  });
});
