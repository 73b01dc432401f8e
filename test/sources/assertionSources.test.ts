import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type {
  AssertionRequestContext,
  BoundAssertion,
  CustomSignedAssertionCredentialDescription,
  CustomSignedAssertionProvider,
} from "../../src/configuration/types.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { AssertionFileSource } from "../../src/sources/assertionFileSource.ts";
import { isEntryOf } from "../../src/sources/index.ts";
import { CLIENT, TENANT } from "../configuration/helpers.ts";
import { ClientSecretSource } from "../../src/sources/clientSecretSource.ts";
import { CustomAssertionSource } from "../../src/sources/customAssertionSource.ts";
import {
  type AssertionResult,
  type CredentialSource,
  type SourceMaterial,
  SourceUnavailableError,
} from "../../src/sources/types.ts";
import { WINDOWS_STORE_UNAVAILABLE_REASON, WindowsStoreSource } from "../../src/sources/windowsStoreSource.ts";
import {
  CANARY_SECRET,
  type CertificateAuthority,
  createCertificateAuthority,
  entryOf,
  type IssuedCertificate,
  ManualClock,
  optionsWith,
  signedJwt,
  temporaryDirectory,
} from "./support/fixtures.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

const requestContext: AssertionRequestContext = {
  clientId: "22222222-2222-2222-2222-222222222222",
  tenantId: "11111111-1111-1111-1111-111111111111",
  tokenEndpoint: "https://login.microsoftonline.com/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token",
  bound: false,
};

async function assertionOf(material: SourceMaterial, context = requestContext): Promise<AssertionResult> {
  assert.equal(material.kind, "assertion");
  if (material.kind !== "assertion") throw new Error("unreachable");
  return material.getAssertion(context);
}

async function rejectsUnavailable(promise: Promise<unknown>, reason: RegExp): Promise<SourceUnavailableError> {
  const error: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(error instanceof SourceUnavailableError, `expected SourceUnavailableError, got ${String(error)}`);
  assert.match(error.reason, reason);
  return error;
}

describe("assertion, secret and store sources", () => {
  let directory: { path: string; remove: () => Promise<void> };
  let ca: CertificateAuthority;
  let binding: IssuedCertificate;
  let expiredBinding: IssuedCertificate;

  before(async () => {
    directory = await temporaryDirectory();
    ca = await createCertificateAuthority();
    [binding, expiredBinding] = await Promise.all([
      ca.issueCertificate({ subject: "CN=binding" }),
      ca.issueCertificate({
        subject: "CN=old binding",
        notBefore: new Date(Date.now() - 2 * 86_400_000),
        notAfter: new Date(Date.now() - 86_400_000),
      }),
    ]);
  });
  after(async () => {
    await directory.remove();
  });

  describe("SignedAssertionFilePath", () => {
    function fileSource(
      path: string | undefined,
      clock: ManualClock,
      env: Record<string, string | undefined> = {},
    ): AssertionFileSource {
      const description = {
        sourceType: "SignedAssertionFilePath" as const,
        ...(path === undefined ? {} : { signedAssertionFileDiskPath: path }),
      };
      // Through validation, which applies the AZURE_FEDERATED_TOKEN_FILE default.
      const entry = normalizeOptions({ tenantId: TENANT, clientId: CLIENT, clientCredentials: [description] }, env).entries[0]!;
      if (!isEntryOf(entry, "SignedAssertionFilePath")) throw new Error("a SignedAssertionFilePath entry");
      return new AssertionFileSource(entry, clock.now);
    }

    test("reads the JWT, from the configured path or AZURE_FEDERATED_TOKEN_FILE", async () => {
      const clock = new ManualClock();
      const jwt = await signedJwt(Math.floor(clock.now() / 1000) + 3600);
      const path = join(directory.path, "token");
      await writeFile(path, jwt + "\n");
      for (const source of [fileSource(path, clock), fileSource(undefined, clock, { AZURE_FEDERATED_TOKEN_FILE: path })]) {
        const result = await assertionOf(await source.load());
        assert.equal(result.assertion, jwt);
        assert.equal(result.expiresOnTimestamp, (Math.floor(clock.now() / 1000) + 3600) * 1000);
        assert.equal(result.bindingCertificate, undefined);
      }
    });

    test("no path configured, missing file, empty file, not a JWT, already expired", async () => {
      const clock = new ManualClock();
      await rejectsUnavailable(fileSource(undefined, clock).load(), /set signedAssertionFileDiskPath, or AZURE_FEDERATED_TOKEN_FILE/);
      const missing = join(directory.path, "missing-token");
      const error = await rejectsUnavailable(fileSource(missing, clock).load(), /does not exist \(ENOENT\)/);
      assert.ok(error.reason.includes(missing));
      const empty = join(directory.path, "empty-token");
      await writeFile(empty, "\n");
      await rejectsUnavailable(fileSource(empty, clock).load(), /is empty/);
      const garbage = join(directory.path, "garbage-token");
      await writeFile(garbage, "not-a-jwt");
      await rejectsUnavailable(fileSource(garbage, clock).load(), /does not hold a JWT/);
      const old = join(directory.path, "old-token");
      await writeFile(old, await signedJwt(Math.floor(clock.now() / 1000) - 60));
      await rejectsUnavailable(fileSource(old, clock).load(), /expired at .*not refreshing it/);
    });

    test("reused until shortly before exp, then re-read", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1));
      const exp = Math.floor(clock.now() / 1000) + 3600;
      const first = await signedJwt(exp, "first");
      const path = join(directory.path, "rotating-token");
      await writeFile(path, first);
      const source = fileSource(path, clock);
      const material = await source.load();
      assert.equal((await assertionOf(material)).assertion, first);

      const second = await signedJwt(exp + 3600, "second");
      await writeFile(path, second);
      clock.advance(30 * MINUTE);
      assert.equal((await assertionOf(material)).assertion, first, "still well before exp: the cached one");
      clock.advance(26 * MINUTE);
      const renewed = await assertionOf(material);
      assert.equal(renewed.assertion, second, "within five minutes of exp: read again");
      assert.equal(renewed.expiresOnTimestamp, (exp + 3600) * 1000);
      // load() keeps the same material; the material renews itself.
      assert.equal(await source.load(), material);
    });

    test("a file that is not refreshed: served until exp, unavailable after", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1));
      const exp = Math.floor(clock.now() / 1000) + 3600;
      const jwt = await signedJwt(exp);
      const path = join(directory.path, "stale-token");
      await writeFile(path, jwt);
      const material = await fileSource(path, clock).load();
      clock.advance(58 * MINUTE);
      assert.equal((await assertionOf(material)).assertion, jwt);
      clock.set(exp * 1000 + 1);
      await rejectsUnavailable(assertionOf(material), /expired at/);
    });

    test("a file that disappears near exp: the still-valid assertion is served, then unavailable", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1));
      const exp = Math.floor(clock.now() / 1000) + HOUR / 1000;
      const jwt = await signedJwt(exp);
      const path = join(directory.path, "vanishing-token");
      await writeFile(path, jwt);
      const material = await fileSource(path, clock).load();
      await rm(path);
      clock.advance(57 * MINUTE);
      assert.equal((await assertionOf(material)).assertion, jwt);
      clock.set(exp * 1000);
      await rejectsUnavailable(assertionOf(material), /ENOENT/);
    });

    test("a JWT without exp is re-read every few minutes", async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1));
      const path = join(directory.path, "no-exp-token");
      const first = await signedJwt(undefined, "first");
      await writeFile(path, first);
      const material = await fileSource(path, clock).load();
      const result = await assertionOf(material);
      assert.equal(result.expiresOnTimestamp, undefined);
      const second = await signedJwt(undefined, "second");
      await writeFile(path, second);
      clock.advance(MINUTE);
      assert.equal((await assertionOf(material)).assertion, first);
      clock.advance(5 * MINUTE);
      assert.equal((await assertionOf(material)).assertion, second);
    });

    test("reload reads the file again", async () => {
      const clock = new ManualClock();
      const path = join(directory.path, "reload-token");
      const first = await signedJwt(Math.floor(clock.now() / 1000) + 3600, "first");
      await writeFile(path, first);
      const source = fileSource(path, clock);
      const material = await source.load();
      const second = await signedJwt(Math.floor(clock.now() / 1000) + 3600, "second");
      await writeFile(path, second);
      const reloaded = await source.reload();
      assert.notEqual(reloaded, material);
      assert.equal((await assertionOf(reloaded)).assertion, second);
    });
  });

  describe("CustomSignedAssertion", () => {
    function customSource(
      description: Omit<CustomSignedAssertionCredentialDescription, "sourceType">,
      options: { bound?: boolean; providers?: Record<string, CustomSignedAssertionProvider> } = {},
    ): CustomAssertionSource {
      const full = { sourceType: "CustomSignedAssertion" as const, ...description };
      return new CustomAssertionSource(
        entryOf(full, { bound: options.bound ?? false }),
        optionsWith({ customSignedAssertionProviders: options.providers ?? {} }),
        Date.now,
      );
    }

    test("an inline provider returning a string gets the request context", async () => {
      const jwt = await signedJwt(Math.floor(Date.now() / 1000) + 600);
      const seen: AssertionRequestContext[] = [];
      const source = customSource({
        getAssertion: (context) => {
          seen.push(context);
          return jwt;
        },
      });
      const result = await assertionOf(await source.load());
      assert.equal(result.assertion, jwt);
      assert.equal(result.bindingCertificate, undefined);
      assert.ok(result.expiresOnTimestamp !== undefined);
      assert.deepEqual(seen, [requestContext]);
    });

    test("a named provider, and a name that is not registered", async () => {
      const jwt = await signedJwt(Math.floor(Date.now() / 1000) + 600);
      const source = customSource(
        { customSignedAssertionProviderName: "oidc" },
        { providers: { oidc: async () => jwt } },
      );
      assert.equal((await assertionOf(await source.load())).assertion, jwt);
      await rejectsUnavailable(
        customSource({ customSignedAssertionProviderName: "nope" }, { providers: { oidc: () => jwt } }).load(),
        /no custom assertion provider named "nope" is registered/,
      );
      await rejectsUnavailable(
        customSource({ customSignedAssertionProviderName: "toString" }).load(),
        /no custom assertion provider named "toString"/,
      );
      await rejectsUnavailable(customSource({}).load(), /names no assertion provider/);
    });

    test("a bound entry gets the binding certificate the provider returns", async () => {
      const jwt = await signedJwt(Math.floor(Date.now() / 1000) + 600);
      const bound: BoundAssertion = {
        assertion: jwt,
        bindingCertificate: binding.certificatePem,
        bindingPrivateKey: binding.privateKeyPem,
      };
      const source = customSource({ getAssertion: () => bound }, { bound: true });
      const result = await assertionOf(await source.load(), { ...requestContext, bound: true });
      assert.equal(result.assertion, jwt);
      assert.equal(result.bindingCertificate?.thumbprintSha256, binding.thumbprintSha256);
    });

    test("a bound entry whose provider returns no binding certificate is unavailable", async () => {
      const jwt = await signedJwt(Math.floor(Date.now() / 1000) + 600);
      const plain = await customSource({ getAssertion: () => jwt }, { bound: true }).load();
      await rejectsUnavailable(assertionOf(plain), /the provider returned no binding certificate/);
      const partial = await customSource(
        { getAssertion: () => ({ assertion: jwt }) as unknown as BoundAssertion },
        { bound: true },
      ).load();
      await rejectsUnavailable(assertionOf(partial), /the provider returned no binding certificate/);
    });

    test("a bound entry with a broken or expired binding certificate is unavailable", async () => {
      const jwt = await signedJwt(Math.floor(Date.now() / 1000) + 600);
      const mismatched = await customSource(
        {
          getAssertion: () => ({
            assertion: jwt,
            bindingCertificate: binding.certificatePem,
            bindingPrivateKey: expiredBinding.privateKeyPem,
          }),
        },
        { bound: true },
      ).load();
      await rejectsUnavailable(assertionOf(mismatched), /binding certificate .* does not match/);
      const expired = await customSource(
        {
          getAssertion: () => ({
            assertion: jwt,
            bindingCertificate: expiredBinding.certificatePem,
            bindingPrivateKey: expiredBinding.privateKeyPem,
          }),
        },
        { bound: true },
      ).load();
      await rejectsUnavailable(assertionOf(expired), /has expired/);
    });

    test("an unbound entry ignores a binding certificate", async () => {
      const jwt = await signedJwt(Math.floor(Date.now() / 1000) + 600);
      const source = customSource({
        getAssertion: () => ({ assertion: jwt, bindingCertificate: "not even parsed", bindingPrivateKey: "x" }),
      });
      const result = await assertionOf(await source.load());
      assert.equal(result.assertion, jwt);
      assert.equal(result.bindingCertificate, undefined);
    });

    test("a provider that throws: unavailable with its message only; bad values are refused", async () => {
      const failing = await customSource({
        getAssertion: () => {
          throw Object.assign(new Error("the IdP said no"), { secretDetail: CANARY_SECRET });
        },
      }).load();
      const error = await rejectsUnavailable(assertionOf(failing), /^the custom assertion provider failed: the IdP said no$/);
      assert.equal(error.cause, undefined);
      assert.ok(!JSON.stringify(error).includes(CANARY_SECRET));
      const rejecting = await customSource({ getAssertion: () => Promise.reject(new Error("async no")) }).load();
      await rejectsUnavailable(assertionOf(rejecting), /failed: async no/);
      const notJwt = await customSource({ getAssertion: () => "just-a-string" }).load();
      await rejectsUnavailable(assertionOf(notJwt), /not a JWT/);
      const empty = await customSource({ getAssertion: () => "" }).load();
      await rejectsUnavailable(assertionOf(empty), /empty assertion/);
      const wrongType = await customSource({ getAssertion: () => 42 as unknown as string }).load();
      await rejectsUnavailable(assertionOf(wrongType), /neither a string nor/);
    });

    test("an aborted request rejects with the abort reason, not as unavailable", async () => {
      const controller = new AbortController();
      const material = await customSource({
        getAssertion: (context) =>
          new Promise<string>((_, reject) => {
            context.abortSignal?.addEventListener("abort", () => reject(new Error("provider saw abort")));
          }),
      }).load();
      const pending = assertionOf(material, { ...requestContext, abortSignal: controller.signal });
      controller.abort();
      await assert.rejects(pending, { name: "AbortError" });
    });
  });

  describe("ClientSecret", () => {
    test("yields the secret, wrapped", async () => {
      const description = { sourceType: "ClientSecret" as const, clientSecret: CANARY_SECRET };
      const material = await new ClientSecretSource(entryOf(description), Date.now).load();
      assert.equal(material.kind, "secret");
      if (material.kind !== "secret") return;
      assert.equal(material.secret.reveal(), CANARY_SECRET);
    });

    test("an empty secret is unavailable", async () => {
      const description = { sourceType: "ClientSecret" as const, clientSecret: " " };
      await rejectsUnavailable(
        new ClientSecretSource(entryOf(description), Date.now).load(),
        /client secret is empty/,
      );
    });
  });

  describe("Windows certificate stores", () => {
    test("all three store sources are unavailable, with the reason and the remedy", async () => {
      const entries = [
        { sourceType: "StoreWithThumbprint" as const, certificateStorePath: "CurrentUser/My", certificateThumbprint: "AB" },
        {
          sourceType: "StoreWithDistinguishedName" as const,
          certificateStorePath: "CurrentUser/My",
          certificateDistinguishedName: "CN=x",
        },
        { sourceType: "StoreWithSubjectName" as const, certificateStorePath: "LocalMachine/My", certificateSubjectName: "x" },
      ];
      for (const description of entries) {
        const source: CredentialSource = new WindowsStoreSource(entryOf(description));
        const error = await rejectsUnavailable(source.load(), /Windows certificate stores cannot be read from Node\.js/);
        assert.equal(error.reason, WINDOWS_STORE_UNAVAILABLE_REASON);
        assert.match(error.reason, /use sourceType Path, or use KeyVault/);
        await rejectsUnavailable(source.reload(), /Windows certificate stores/);
      }
    });
  });
});
