/**
 * Section 11: a certificate whose key stays in a PKCS#11 token (SoftHSM), against the same
 * certificate with its key in memory. The token key costs a session (the entry's process starting,
 * C_Initialize, C_Login, the object search) when a credential first loads it, a check of the key through
 * OpenSSL's pkcs11 engine and the engine's key in the handshake when bound, and a round trip to
 * the entry's process for every assertion it signs. Skipped, with the reason, when softhsm2 is not installed
 * and `CI` is not set.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { signClientAssertion } from "../../src/acquisition/clientAssertion.ts";
import { BoundClientCredential } from "../../src/boundClientCredential.ts";
import { normalizeOptions } from "../../src/configuration/validate.ts";
import { isEntryOf } from "../../src/sources/index.ts";
import { LoadedCertificate } from "../../src/sources/loadedCertificate.ts";
import { Pkcs11Source } from "../../src/sources/pkcs11Source.ts";
import type { CredentialDescription } from "../../src/configuration/types.ts";
import { createSoftHsm, softhsmSkipReason } from "../../test/helpers/softhsm.ts";
import { countsSince, freshScope, handshakes, type BenchEnvironment, type WireCounts } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatCount, formatMillis, type SectionResult } from "../report.ts";
import { median, percentile, timed } from "../stats.ts";

const FIRST_SCOPE = "https://vault.azure.net/.default";
const PIN = "bench-token-pin";

interface Sample {
  readonly ms: number;
  readonly wire: WireCounts;
}

type Row = "software-bound" | "token-bound" | "software-unbound" | "token-unbound" | "mi-software" | "mi-token";
const LABELS: Readonly<Record<Row, string>> = {
  "software-bound": "key in memory (PEM), bound",
  "token-bound": "key in SoftHSM, bound (engine in the handshake)",
  "software-unbound": "key in memory (PEM), unbound",
  "token-unbound": "key in SoftHSM, unbound (token signs the assertion)",
  "mi-software": "bound managed identity, binding key in memory",
  "mi-token": "bound managed identity, binding key generated in SoftHSM (bindingKeyPkcs11Uri)",
};

/** Runs section 11. */
export async function tokenKey(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const title = "certificate with its key in a PKCS#11 token (SoftHSM) vs in memory";
  const skip = await softhsmSkipReason();
  if (skip !== false) {
    return { id: 11, title, method: "not run", table: { header: ["skipped"], rows: [[skip]] }, targets: [], invariants: [], notes: [`skipped: ${skip}`] };
  }
  const hsm = await createSoftHsm();
  try {
    const config = env.config;
    await hsm.initToken("bench", PIN);
    await hsm.importObjects({ token: "bench", pin: PIN, idHex: "b1", label: "app", keyPem: config.privateKeyPem, certificatePem: config.certificatePem });
    const entryOf = (row: Row): CredentialDescription =>
      row.startsWith("mi-")
        ? {
            sourceType: "SignedAssertionFromManagedIdentity",
            managedIdentityClientId: config.managedIdentityClientId,
            useBoundCredential: true,
            ...(row === "mi-token" ? { bindingKeyPkcs11Uri: "pkcs11:token=bench;object=bench-binding", pkcs11ModulePath: hsm.module, pkcs11Pin: PIN } : {}),
          }
        : row.startsWith("token")
          ? { sourceType: "Pkcs11", pkcs11Uri: "pkcs11:token=bench;id=%b1;type=private", pkcs11ModulePath: hsm.module, pkcs11Pin: PIN, useBoundCredential: row === "token-bound" }
          : { sourceType: "Certificate", certificate: config.certificatePem, privateKey: config.privateKeyPem, useBoundCredential: row === "software-bound" };
    const create = (row: Row): BoundClientCredential =>
      new BoundClientCredential({
        tenantId: config.tenantId,
        clientId: config.clientId,
        authorityHost: config.authorityHost,
        mtlsAuthorityHost: config.mtlsAuthorityHost,
        imdsEndpoint: config.imdsEndpoint,
        tls: { ca: config.caCertificatePem },
        clientCredentials: [entryOf(row)],
      });
    const sample = async (work: () => Promise<unknown>): Promise<Sample> => {
      const before = await env.counts();
      const { ms } = await timed(work);
      return { ms, wire: countsSince(before, await env.counts()) };
    };
    const rows: Row[] = ["software-bound", "token-bound", "software-unbound", "token-unbound", "mi-software", "mi-token"];
    const first = new Map<Row, Sample[]>(rows.map((r) => [r, []]));
    const later = new Map<Row, Sample[]>(rows.map((r) => [r, []]));
    const rounds = Math.max(1, sizes.managedIdentityRounds);
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        const credential = create(row);
        try {
          first.get(row)!.push(await sample(() => credential.getToken(FIRST_SCOPE)));
          for (let k = 0; k < sizes.managedIdentityLaterScopes; k++) {
            later.get(row)!.push(await sample(() => credential.getToken(freshScope(`token-key-${row}-${round}-${k}`))));
          }
        } finally {
          await credential.close();
        }
      }
    }
    // The assertion signature alone: node:crypto with a KeyObject on the thread pool, against a round trip
    // to the process that holds the token's session (C_SignInit, C_Sign).
    const signatures = Math.max(10, sizes.managedIdentityLaterScopes * 5);
    const software = new LoadedCertificate([new X509Certificate(config.certificatePem)], createPrivateKey(config.privateKeyPem));
    const normalized = normalizeOptions({ tenantId: config.tenantId, clientId: config.clientId, clientCredentials: [entryOf("token-unbound")] }, {});
    const tokenEntry = normalized.entries[0]!;
    if (!isEntryOf(tokenEntry, "Pkcs11")) throw new Error("the Pkcs11 entry did not normalize as one");
    const source = new Pkcs11Source(tokenEntry, { now: Date.now, env: {} });
    const signing = { software: [] as number[], token: [] as number[] };
    try {
      const material = await source.load();
      if (material.kind !== "certificate") throw new Error("the Pkcs11 source gave no certificate");
      const audience = `${config.authorityHost}/${config.tenantId}/oauth2/v2.0/token`;
      for (let i = 0; i < signatures; i++) {
        for (const [name, certificate] of [["software", software], ["token", material.certificate]] as const) {
          const { ms } = await timed(() => signClientAssertion({ certificate, clientId: config.clientId, audience, includeX5c: false, now: Date.now() }));
          signing[name].push(ms);
        }
      }
    } finally {
      await source.close();
    }
    const ms = (list: readonly Sample[]): number[] => list.map((s) => s.ms);
    const tableRows = rows.flatMap((row) => [
      [`${LABELS[row]}: first token (cold)`, formatMillis(median(ms(first.get(row)!))), formatMillis(percentile(ms(first.get(row)!), 90)), formatCount(median(first.get(row)!.map((s) => handshakes(s.wire))))],
      [`${LABELS[row]}: new scope, warm`, formatMillis(median(ms(later.get(row)!))), formatMillis(percentile(ms(later.get(row)!), 90)), formatCount(median(later.get(row)!.map((s) => handshakes(s.wire))))],
    ]);
    tableRows.push(
      [`assertion signature alone, key in memory (node:crypto, thread pool), ${signatures}×`, formatMillis(median(signing.software)), formatMillis(percentile(signing.software, 90)), "—"],
      [`assertion signature alone, key in SoftHSM (round trip to the entry's process), ${signatures}×`, formatMillis(median(signing.token)), formatMillis(percentile(signing.token, 90)), "—"],
    );
    const tokenBoundLater = later.get("token-bound")!;
    const tokenBoundFirst = first.get("token-bound")!;
    return {
      id: 11,
      title,
      method: `${rounds} fresh credential(s) per row: the first token (for the token key: the entry's process, C_Initialize, C_Login, object search, engine check; for the managed identity's token key also C_GenerateKeyPair, started at construction, and the CSR signed by the token), then ${sizes.managedIdentityLaterScopes} new scopes each; median and p90 in ms, median TLS handshakes per token.`,
      table: { header: ["key", "median ms", "p90 ms", "TLS handshakes"], rows: tableRows },
      targets: [],
      notes: [
        "Most of a token key's cold cost is the start of the entry's own process (Node.js, pkcs11js, the module), where its C_Login checks the PIN; the engine's key load on the main thread (at the entry's load and once per connection pool) took tens of ms the first time in a process and 1–3 ms after, with SoftHSM.",
      ],
      invariants: [
        {
          invariant: "a bound token key's connection is reused: its first token makes one mTLS handshake, later scopes none",
          held: tokenBoundFirst.every((s) => handshakes(s.wire) === 1) && tokenBoundLater.every((s) => handshakes(s.wire) === 0 && s.wire.tokenRequests === 1),
          detail: `first tokens: ${tokenBoundFirst.map((s) => handshakes(s.wire)).join(", ")} handshakes; later: ${tokenBoundLater.reduce((n, s) => n + handshakes(s.wire), 0)} handshakes for ${tokenBoundLater.length} new scopes`,
        },
      ],
    };
  } finally {
    await hsm.remove();
  }
}
