/**
 * A bound managed identity whose binding keys are generated in a SoftHSM token: the key is made in
 * the token (sensitive, non-extractable), the emulator's IMDS v2 verifies the CSR the token signed
 * and issues the certificate for that key, and both mTLS legs present it in real handshakes through
 * OpenSSL's pkcs11 engine. Retired keys are destroyed, a wrong PIN is an unavailable entry, and the
 * attestation provider is told where the key lives.
 */
import assert from "node:assert/strict";
import { createPublicKey, type KeyObject, X509Certificate } from "node:crypto";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { inspect } from "node:util";
import { after, before, beforeEach, describe, test } from "node:test";
import { BoundClientCredential } from "../../../src/boundClientCredential.ts";
import { optionsFromConfiguration } from "../../../src/configuration/fromConfiguration.ts";
import type { AttestationContext, BoundClientCredentialOptions, CredentialDescription } from "../../../src/configuration/types.ts";
import { normalizeOptions } from "../../../src/configuration/validate.ts";
import { journalHash, startEmulator, type Emulator, type RegisteredApp, type RegisteredManagedIdentity } from "../../../src/emulator/index.ts";
import { BoundCredentialConfigurationError, CredentialUnavailableError } from "../../../src/errors.ts";
import { createBoundManagedIdentitySource } from "../../../src/sources/boundManagedIdentitySource.ts";
import { DEFAULT_BINDING_KEY_LABEL } from "../../../src/sources/managedIdentity/pkcs11BindingKeys.ts";
import { parsePkcs11Uri } from "../../../src/sources/pkcs11/uri.ts";
import { HttpClient } from "../../../src/transport/httpClient.ts";
import { createSoftHsm, type SoftHsm, softhsmSkipReason } from "../../helpers/softhsm.ts";

const STORAGE = "https://storage.azure.com/.default";
const PIN = "8812-binding-canary";
const WRONG_PIN = "0000-not-the-pin";
const TOKEN = "binding";
const LABEL = "mi-binding";

const skip = await softhsmSkipReason();
const run = promisify(execFile);
const CLI = new URL("../../../src/cli/main.ts", import.meta.url).pathname;

/** The RSA modulus of a public key, hex without leading zeros, as the token lists it. */
function modulusOf(key: KeyObject): string {
  return Buffer.from(key.export({ format: "jwk" }).n ?? "", "base64url").toString("hex").replace(/^0+/, "");
}

describe("binding keys in a PKCS#11 token", { skip }, () => {
  let emu: Emulator;
  let hsm: SoftHsm;
  let identity: RegisteredManagedIdentity;
  let app: RegisteredApp;
  let http: HttpClient;
  const credentials: BoundClientCredential[] = [];

  before(async () => {
    hsm = await createSoftHsm();
    await hsm.initToken(TOKEN, PIN);
    emu = await startEmulator({ imds: { bindingCertificateLifetimeSeconds: 86_400 } });
    identity = emu.registerManagedIdentity({ kind: "system" });
    app = emu.registerApp({ federatedCredentials: [emu.federatedCredentialFor(identity)] });
    http = new HttpClient({ ca: [emu.caCertificatePem] });
  });

  after(async () => {
    await Promise.all(credentials.map((c) => c.close()));
    await http?.close();
    await emu?.close();
    await hsm?.remove();
  });

  const entry = (extra: Record<string, unknown> = {}): CredentialDescription =>
    ({
      sourceType: "SignedAssertionFromManagedIdentity",
      useBoundCredential: true,
      bindingKeyPkcs11Uri: `pkcs11:token=${TOKEN};object=${LABEL}`,
      pkcs11ModulePath: hsm.module,
      pkcs11Pin: PIN,
      ...extra,
    }) as CredentialDescription;

  function options(clientCredentials: CredentialDescription[], extra: Partial<BoundClientCredentialOptions> = {}): BoundClientCredentialOptions {
    return {
      tenantId: emu.tenantId,
      clientId: app.clientId,
      authorityHost: emu.authorityHost,
      mtlsAuthorityHost: emu.mtlsAuthorityHost,
      imdsEndpoint: emu.imdsEndpoint,
      tls: { ca: emu.caCertificatePem },
      clientCredentials,
      ...extra,
    };
  }

  function credential(clientCredentials: CredentialDescription[], extra: Partial<BoundClientCredentialOptions> = {}): BoundClientCredential {
    const created = new BoundClientCredential(options(clientCredentials, extra));
    credentials.push(created);
    return created;
  }

  const keysOnToken = (label = LABEL) => hsm.listKeys({ token: TOKEN, pin: PIN, label });

  beforeEach(async () => {
    // Each test starts from a token without binding keys: one that fails must not leave keys to the next.
    assert.deepEqual([...(await keysOnToken()), ...(await keysOnToken(DEFAULT_BINDING_KEY_LABEL))].length, 0, "no binding key left on the token by an earlier test");
  });

  test("the key is generated in the token, signs the CSR there, and both mTLS legs present its certificate", async () => {
    emu.journal.clear();
    const contexts: AttestationContext[] = [];
    const c = credential([entry()], {
      // The attestation provider sees the public key the CSR carries, and where the private key lives.
      attestationProvider: async (context) => {
        contexts.push(context);
        return "attestation-jwt-from-the-platform";
      },
    });
    const token = await c.getToken(STORAGE);
    assert.ok(token !== null);
    assert.equal(token.tokenType, "Bearer");
    const claims = await emu.verifyAccessToken(token.token);
    assert.equal(claims["appid"], app.clientId);

    const issued = emu.journal.ofRoute("imds.issueCredential");
    assert.equal(issued.length, 1);
    assert.equal(issued[0]?.status, 200, "IMDS verified the CSR's signature, made by the token");
    assert.equal(issued[0]?.form["attestation_token"], journalHash("attestation-jwt-from-the-platform"));
    const legs = emu.journal.ofRoute("mtls.token");
    assert.equal(legs.length, 2, "leg 1 (mtls_pop) and leg 2 (jwt-pop), both over mTLS");
    assert.equal(legs[0]?.tokenType, "mtls_pop");
    assert.equal(legs[1]?.tokenType, "Bearer");
    assert.ok(legs[0]?.clientCertificateThumbprintSha256 !== undefined);
    assert.equal(legs[1]?.clientCertificateThumbprintSha256, legs[0]?.clientCertificateThumbprintSha256, "leg 2 presents the same binding certificate");

    assert.equal(contexts.length, 1);
    const context = contexts[0]!;
    assert.equal(context.keyStorage, "pkcs11");
    assert.match(context.pkcs11Uri ?? "", new RegExp(`^pkcs11:token=${TOKEN};serial=[^;]+;id=[^;]+;type=private$`));
    const modulus = modulusOf(createPublicKey(context.publicKeyPem));
    const keys = await keysOnToken();
    const key = keys.find((k) => k.modulusHex.replace(/^0+/, "") === modulus);
    assert.ok(key !== undefined, `the attested key is on the token (${keys.length} keys there)`);
    assert.equal(key.sensitive, true);
    assert.equal(key.extractable, false);
    assert.equal(key.tokenObject, true);
    assert.equal(parsePkcs11Uri(context.pkcs11Uri ?? "").id?.toString("hex"), key.idHex, "the URI names that key");
    assert.equal(key.idHex.length, 32, "a random 16-byte CKA_ID");
    const facts = await hsm.inspectKey({ token: TOKEN, pin: PIN, idHex: key.idHex });
    assert.equal(facts.neverExtractable, true, "generated in the token, never extractable");
    assert.match(facts.privateExponent, /CKR_ATTRIBUTE_SENSITIVE/);

    // Cached: no new mint, no new key.
    const again = await c.getToken(STORAGE);
    assert.equal(again?.token, token.token);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 1);

    for (const text of [JSON.stringify(c), inspect(c, { depth: 8 }), String(c), inspect(contexts, { depth: 8 })]) {
      assert.ok(!text.includes(PIN), "no PIN in the credential's views or the attestation context");
    }
    await c.close();
    assert.deepEqual(await keysOnToken(), [], "closing the credential destroys the keys it made (the current one and the one made ahead)");

    // A closed credential can still be used: it mints with a new key, and closing again removes it.
    const afterClose = await c.getToken("https://vault.azure.net/.default");
    assert.ok(afterClose !== null);
    assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 2, "a new binding certificate for the new key");
    assert.ok((await keysOnToken()).length >= 1);
    await c.close();
    assert.deepEqual(await keysOnToken(), []);
  });

  test("a re-mint makes a new key in the token and destroys the retired one after its grace period", async () => {
    const normalized = normalizeOptions(options([entry()]), {});
    const source = createBoundManagedIdentitySource(normalized.entries[0]!, {
      options: normalized,
      now: Date.now,
      env: process.env,
      http,
      tuning: { retiredKeyGraceMs: 50 },
    });
    try {
      const assertion = async () => {
        const material = await source.load();
        assert.equal(material.kind, "assertion");
        if (material.kind !== "assertion") throw new Error("unreachable");
        return material.getAssertion({ clientId: app.clientId, tenantId: emu.tenantId, tokenEndpoint: emu.mtlsTokenEndpoint(), bound: true });
      };
      const first = await assertion();
      source.invalidateBinding();
      const second = await assertion();
      assert.ok(first.bindingCertificate !== undefined && second.bindingCertificate !== undefined);
      assert.notEqual(first.bindingCertificate.thumbprintSha256, second.bindingCertificate.thumbprintSha256);
      const spki = (c: X509Certificate) => c.publicKey.export({ type: "spki", format: "der" }).toString("hex");
      assert.notEqual(spki(first.bindingCertificate.leaf), spki(second.bindingCertificate.leaf), "a new key, not a new certificate for the old one");
      assert.equal(emu.journal.last("mtls.token")?.clientCertificateThumbprintSha256, second.bindingCertificate.thumbprintSha256, "leg 1 presented the new certificate");
      const onToken = async () => new Set((await keysOnToken()).map((k) => k.modulusHex.replace(/^0+/, "")));
      // Wait out the grace period (and the spare key made 20 ms after the mint).
      let keys = await onToken();
      for (let i = 0; i < 50 && keys.has(modulusOf(first.bindingCertificate.leaf.publicKey)); i++) {
        await sleep(100);
        keys = await onToken();
      }
      assert.ok(!keys.has(modulusOf(first.bindingCertificate.leaf.publicKey)), "the retired key is destroyed");
      assert.ok(keys.has(modulusOf(second.bindingCertificate.leaf.publicKey)), "the current key stays, on the token");
      assert.ok(keys.size <= 2, `the current key and at most one made ahead (${keys.size})`);
    } finally {
      await source.close?.();
    }
    assert.deepEqual(await keysOnToken(), []);
  });

  test("without object=, the keys get the default label", async () => {
    const c = credential([entry({ bindingKeyPkcs11Uri: `pkcs11:token=${TOKEN}` })]);
    assert.ok((await c.getToken(STORAGE)) !== null);
    assert.ok((await keysOnToken(DEFAULT_BINDING_KEY_LABEL)).length >= 1);
    await c.close();
    assert.deepEqual(await keysOnToken(DEFAULT_BINDING_KEY_LABEL), []);
  });

  test("a wrong PIN makes the entry unavailable, names the PIN, and shows it nowhere", async () => {
    const c = credential([entry({ pkcs11Pin: WRONG_PIN })]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const error: unknown = await c.getToken(STORAGE).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof CredentialUnavailableError, `expected CredentialUnavailableError, got ${String(error)}`);
      assert.match(error.entries[0]?.reason ?? "", /PIN is wrong/);
      for (const text of [error.message, inspect(error, { depth: 8 }), JSON.stringify(error)]) {
        assert.ok(!text.includes(WRONG_PIN) && !text.includes(PIN), "no PIN in errors");
      }
    }
    assert.deepEqual(await keysOnToken(), [], "no key was generated");
  });

  test("fromConfiguration reads BindingKeyPkcs11Uri from an Identity.Web section, and the token works from it", async () => {
    const section = {
      AzureAd: {
        Instance: `${emu.authorityHost}/`,
        MtlsAuthorityHost: emu.mtlsAuthorityHost,
        TenantId: emu.tenantId,
        ClientId: app.clientId,
        ClientCredentials: [
          {
            SourceType: "SignedAssertionFromManagedIdentity",
            UseBoundCredential: true,
            BindingKeyPkcs11Uri: `pkcs11:token=${TOKEN};object=${LABEL}`,
            Pkcs11ModulePath: hsm.module,
            Pkcs11Pin: PIN,
          },
        ],
      },
    };
    assert.deepEqual(optionsFromConfiguration(section)?.clientCredentials[0], {
      sourceType: "SignedAssertionFromManagedIdentity",
      useBoundCredential: true,
      bindingKeyPkcs11Uri: `pkcs11:token=${TOKEN};object=${LABEL}`,
      pkcs11ModulePath: hsm.module,
      pkcs11Pin: PIN,
    });
    const c = BoundClientCredential.fromConfiguration(section, {
      imdsEndpoint: emu.imdsEndpoint,
      tls: { ca: emu.caCertificatePem },
    });
    credentials.push(c);
    assert.ok((await c.getToken(STORAGE)) !== null);
    assert.ok(!JSON.stringify(c).includes(PIN));
    await c.close();
  });

  test("keys left by a process that ended without close() are destroyed when the next process opens the token", async () => {
    // A process of its own gets a token and exits at once: its current key and the one made ahead stay behind.
    const program = `
      const { BoundClientCredential } = await import(${JSON.stringify(new URL("../../../src/boundClientCredential.ts", import.meta.url).href)});
      const credential = new BoundClientCredential(JSON.parse(process.env.BCC_OPTIONS));
      await credential.getToken(${JSON.stringify(STORAGE)});
      await new Promise((resolve) => setTimeout(resolve, 500));
      process.exit(0);
    `;
    await run(process.execPath, ["--input-type=module", "-e", program], { env: { ...process.env, BCC_OPTIONS: JSON.stringify(options([entry()])) } });
    const left = await keysOnToken();
    assert.ok(left.length >= 1, `the ended process left its keys (${left.length})`);
    const c = credential([entry()]);
    assert.ok((await c.getToken(STORAGE)) !== null);
    const now = new Set((await keysOnToken()).map((k) => k.idHex));
    for (const key of left) assert.ok(!now.has(key.idHex), "a key of the ended process is gone");
    assert.ok(now.size >= 1 && now.size <= 2, `only this process's keys remain (${now.size})`);
    await c.close();
    assert.deepEqual(await keysOnToken(), []);
  });

  test("bound-credential doctor generates a key in the token for its issuecredential probe, and destroys it", async () => {
    const directory = await mkdtemp(join(tmpdir(), "bcc-binding-doctor-"));
    try {
      await writeFile(join(directory, "ca.pem"), emu.caCertificatePem);
      await writeFile(
        join(directory, "appsettings.json"),
        JSON.stringify({
          AzureAd: {
            Instance: `${emu.authorityHost}/`,
            MtlsAuthorityHost: emu.mtlsAuthorityHost,
            TenantId: emu.tenantId,
            ClientId: app.clientId,
            ClientCredentials: [{ SourceType: "SignedAssertionFromManagedIdentity", UseBoundCredential: true, BindingKeyPkcs11Uri: `pkcs11:token=${TOKEN};object=${LABEL}`, Pkcs11ModulePath: hsm.module, Pkcs11Pin: PIN }],
          },
        }),
      );
      emu.journal.clear();
      const { stdout } = await run(process.execPath, [CLI, "doctor", "--config", "appsettings.json", "--ca-file", "ca.pem", "--imds-endpoint", emu.imdsEndpoint], {
        cwd: directory,
        env: Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AZURE_"))),
      });
      assert.match(stdout, /✓ can bind +yes: IMDS issued a binding certificate .*\(no token was requested\)/);
      assert.match(stdout, /binding keys in pkcs11:token=binding;object=mi-binding;type=private/);
      assert.ok(!stdout.includes(PIN), "no PIN in the report");
      assert.equal(emu.journal.ofRoute("imds.issueCredential").length, 1);
      assert.equal(emu.journal.ofRoute("mtls.token").length, 0, "doctor requested no token");
      assert.deepEqual(await keysOnToken(), [], "the probe's key (and the one made ahead) are destroyed when doctor ends");
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe("bindingKeyPkcs11Uri in the options", () => {
  const base = { tenantId: "72f988bf-86f1-41af-91ab-2d7cd011db47", clientId: "00000000-0000-0000-0000-000000000001" };
  const mi = { sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true, pkcs11ModulePath: "/m.so" };

  function configError(entry: Record<string, unknown>): BoundCredentialConfigurationError {
    try {
      normalizeOptions({ ...base, clientCredentials: [entry] }, {});
    } catch (error) {
      assert.ok(error instanceof BoundCredentialConfigurationError, String(error));
      assert.ok(!error.message.includes(PIN));
      return error;
    }
    assert.fail("expected a configuration error");
  }

  test("the entry id names the token without the PIN; the module defaults to PKCS11_MODULE_PATH", () => {
    const options = normalizeOptions(
      { ...base, clientCredentials: [{ sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true, bindingKeyPkcs11Uri: `pkcs11:token=hsm?pin-value=${PIN}` }] },
      { PKCS11_MODULE_PATH: "/env/module.so" },
    );
    const e = options.entries[0]!;
    assert.equal(e.id, "clientCredentials[0] (SignedAssertionFromManagedIdentity system-assigned, binding keys in pkcs11:token=hsm;type=private, bound)");
    assert.ok(e.description.sourceType === "SignedAssertionFromManagedIdentity");
    assert.equal(e.description.pkcs11ModulePath, "/env/module.so");
  });

  test("an unbound entry, an id, no token, or a module or PIN without the URI are configuration errors naming the field", () => {
    const unbound = configError({ ...mi, useBoundCredential: false, bindingKeyPkcs11Uri: "pkcs11:token=hsm" });
    assert.equal(unbound.code, "BCC_CONFLICTING_FIELDS");
    assert.equal(unbound.path, "clientCredentials[0].bindingKeyPkcs11Uri");
    assert.match(unbound.message, /useBoundCredential/);
    const id = configError({ ...mi, bindingKeyPkcs11Uri: "pkcs11:token=hsm;id=%01" });
    assert.equal(id.code, "BCC_INVALID_VALUE");
    assert.match(id.message, /id of its own/);
    const noToken = configError({ ...mi, bindingKeyPkcs11Uri: "pkcs11:object=k" });
    assert.equal(noToken.code, "BCC_INVALID_VALUE");
    assert.match(noToken.message, /which token/);
    const pinAlone = configError({ sourceType: "SignedAssertionFromManagedIdentity", useBoundCredential: true, pkcs11Pin: PIN });
    assert.equal(pinAlone.code, "BCC_CONFLICTING_FIELDS");
    assert.equal(pinAlone.path, "clientCredentials[0].pkcs11Pin");
    const badUri = configError({ ...mi, bindingKeyPkcs11Uri: "pkcs11:token=hsm;colour=blue" });
    assert.equal(badUri.path, "clientCredentials[0].bindingKeyPkcs11Uri");
  });
});
