import "reflect-metadata";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { LoadedCertificate } from "../../src/sources/loadedCertificate.ts";
import {
  BindingCertificateCache,
  bindingCacheKey,
  isBindingFresh,
} from "../../src/sources/bindingCertificateCache.ts";

x509.cryptoProvider.set(crypto);

const HOUR = 3_600_000;
const T0 = Date.UTC(2030, 0, 1);

async function certificateValid(notBefore: number, notAfter: number): Promise<LoadedCertificate> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = {
    privateKey: await crypto.subtle.importKey(
      "pkcs8",
      new Uint8Array(privateKey.export({ type: "pkcs8", format: "der" })),
      algorithm,
      false,
      ["sign"],
    ),
    publicKey: await crypto.subtle.importKey(
      "spki",
      new Uint8Array(publicKey.export({ type: "spki", format: "der" })),
      algorithm,
      true,
      ["verify"],
    ),
  };
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=binding",
    notBefore: new Date(notBefore),
    notAfter: new Date(notAfter),
    signingAlgorithm: algorithm,
    keys,
  });
  return new LoadedCertificate([new X509Certificate(Buffer.from(certificate.rawData))], privateKey);
}

describe("binding certificate cache", () => {
  test("keys distinguish IMDS endpoint, identity selector and attestation", () => {
    const base = { imdsEndpoint: "http://169.254.169.254", identitySelector: "system", attested: false };
    const keys = new Set([
      bindingCacheKey(base),
      bindingCacheKey({ ...base, attested: true }),
      bindingCacheKey({ ...base, identitySelector: "client_id=abc" }),
      bindingCacheKey({ ...base, imdsEndpoint: "http://127.0.0.1:1234" }),
    ]);
    assert.equal(keys.size, 4);
  });

  test("fresh until half of the lifetime, and never with under 5 minutes left", async () => {
    const day = await certificateValid(T0, T0 + 24 * HOUR);
    assert.equal(isBindingFresh(day, T0), true);
    assert.equal(isBindingFresh(day, T0 + 12 * HOUR - 1000), true);
    assert.equal(isBindingFresh(day, T0 + 12 * HOUR), false);
    const short = await certificateValid(T0, T0 + 8 * 60_000);
    assert.equal(isBindingFresh(short, T0), true, "4 minutes to half-life, 8 to expiry");
    assert.equal(isBindingFresh(short, T0 + 3 * 60_000 + 1), false, "under 5 minutes left");
  });

  test("a clock ahead of the issuer's does not make a new certificate stale", async () => {
    const day = await certificateValid(T0, T0 + 24 * HOUR);
    const mintedAt = T0 + 13 * HOUR;
    assert.equal(isBindingFresh(day, mintedAt), false, "by the certificate alone it is past half-life");
    assert.equal(isBindingFresh(day, mintedAt, mintedAt), true);
    assert.equal(isBindingFresh(day, mintedAt + 5.5 * HOUR - 1000, mintedAt), true, "half of the 11 h left");
    assert.equal(isBindingFresh(day, mintedAt + 5.5 * HOUR, mintedAt), false);

    let now = mintedAt;
    const cache = new BindingCertificateCache<{ certificate: LoadedCertificate }>(() => now);
    let mints = 0;
    const value = { certificate: day };
    await cache.get("k", async () => {
      mints += 1;
      return value;
    });
    now += HOUR;
    assert.equal(await cache.get("k", async () => ({ certificate: day })), value);
    assert.equal(mints, 1);
  });

  test("serves the cached value, renews after half-life, shares one mint, forgets failures", async () => {
    let now = T0 + HOUR;
    const cache = new BindingCertificateCache<{ certificate: LoadedCertificate }>(() => now);
    const first = { certificate: await certificateValid(T0, T0 + 24 * HOUR) };
    const second = { certificate: await certificateValid(T0 + 12 * HOUR, T0 + 36 * HOUR) };
    let mints = 0;
    const queue = [first, second];
    const mint = async () => {
      mints += 1;
      await new Promise((resolve) => setImmediate(resolve));
      const next = queue.shift();
      if (next === undefined) throw new Error("no more certificates");
      return next;
    };

    const concurrent = await Promise.all([cache.get("k", mint), cache.get("k", mint), cache.get("k", mint)]);
    assert.equal(mints, 1);
    assert.ok(concurrent.every((value) => value === first));
    assert.equal(await cache.get("k", mint), first);
    assert.equal(mints, 1);

    now = T0 + 12 * HOUR;
    assert.equal(await cache.get("k", mint), second);
    assert.equal(mints, 2);

    cache.invalidate("k");
    await assert.rejects(cache.get("k", mint), /no more certificates/);
    assert.equal(cache.peek("k"), undefined);
    queue.push(first);
    now = T0 + HOUR;
    assert.equal(await cache.get("k", mint), first, "a failed mint is not remembered");
    assert.equal(mints, 4);
  });

  test("invalidate with the rejected value drops only that value; discarded values are reported once", async () => {
    const discarded: unknown[] = [];
    const cache = new BindingCertificateCache<{ certificate: LoadedCertificate }>(() => T0 + HOUR, (value) => discarded.push(value));
    const old = { certificate: await certificateValid(T0, T0 + 24 * HOUR) };
    const renewed = { certificate: await certificateValid(T0, T0 + 24 * HOUR) };
    await cache.get("k", async () => old);
    cache.invalidate("k", old);
    await cache.get("k", async () => renewed);
    cache.invalidate("k", old);
    assert.equal(cache.peek("k"), renewed, "a late invalidation of the old certificate keeps the re-mint");
    assert.deepEqual(discarded, [old]);
    const third = { certificate: await certificateValid(T0, T0 + 24 * HOUR) };
    cache.invalidate("k");
    await cache.get("k", async () => third);
    assert.deepEqual(discarded, [old, renewed]);
  });
});
