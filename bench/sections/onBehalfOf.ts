/**
 * Section 10: On-Behalf-Of as a web API does it, one signed-in user after another. Ours: one app
 * credential for the process and `onBehalfOf(token)` per request. @azure/identity: an
 * `OnBehalfOfCredential` per request (it holds one user's token), with the same certificate file.
 */
import { OnBehalfOfCredential } from "@azure/identity";
import type { TokenCredential } from "@azure/core-auth";
import { BoundClientCredential, type CredentialDescription } from "../../src/index.ts";
import { countsSince, type BenchEnvironment } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatCount, formatMillis, formatRatio, type SectionResult } from "../report.ts";
import { median, percentile, timed } from "../stats.ts";

const SCOPE = "https://storage.azure.com/user_impersonation";

type Kind = "bound" | "unbound" | "azureIdentity";

const LABELS: Record<Kind, string> = {
  bound: "ours, bound certificate: app.onBehalfOf(token)",
  unbound: "ours, unbound certificate: app.onBehalfOf(token)",
  azureIdentity: "OnBehalfOfCredential (certificatePath) per request",
};

interface Tally {
  readonly first: number[];
  readonly repeat: number[];
  firstRequests: number;
  repeatRequests: number;
}

/** Runs section 10. */
export async function onBehalfOf(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const config = env.config;
  const app = (useBoundCredential: boolean): BoundClientCredential =>
    new BoundClientCredential({
      tenantId: config.tenantId,
      clientId: config.clientId,
      authorityHost: config.authorityHost,
      mtlsAuthorityHost: config.mtlsAuthorityHost,
      tls: { ca: config.caCertificatePem },
      clientCredentials: [
        { sourceType: "Certificate", certificate: config.certificatePem, privateKey: config.privateKeyPem, useBoundCredential } satisfies CredentialDescription,
      ],
    });
  const apps = { bound: app(true), unbound: app(false) };
  const perRequest = (kind: Kind, token: string): TokenCredential =>
    kind === "azureIdentity"
      ? new OnBehalfOfCredential({
          tenantId: config.tenantId,
          clientId: config.clientId,
          certificatePath: env.pemPath,
          userAssertionToken: token,
          authorityHost: config.authorityHost,
          // Not in OnBehalfOfCredential's option types, but passed on to its msal client as for the other credentials.
          ...({ disableInstanceDiscovery: true } as object),
        })
      : apps[kind].onBehalfOf(token);
  const kinds: Kind[] = ["bound", "unbound", "azureIdentity"];
  const tallies = new Map<Kind, Tally>(kinds.map((kind) => [kind, { first: [], repeat: [], firstRequests: 0, repeatRequests: 0 }]));
  const rounds = sizes.coldWarmup + sizes.onBehalfOfUsers;
  if (rounds * kinds.length > config.userTokens.length) throw new Error(`section 10 needs ${rounds * kinds.length} user tokens.`);
  let next = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const kind of round % 2 === 0 ? kinds : [...kinds].reverse()) {
        const token = config.userTokens[next++] as string;
        const before = await env.counts();
        const first = await timed(() => perRequest(kind, token).getToken(SCOPE));
        const middle = await env.counts();
        // The same user's next request: a new per-request credential, as a web API makes one per request.
        const repeat = await timed(() => perRequest(kind, token).getToken(SCOPE));
        const after = await env.counts();
        if (round < sizes.coldWarmup) continue;
        const tally = tallies.get(kind) as Tally;
        tally.first.push(first.ms);
        tally.repeat.push(repeat.ms);
        tally.firstRequests += countsSince(before, middle).tokenRequests;
        tally.repeatRequests += countsSince(middle, after).tokenRequests;
      }
    }
  } finally {
    await Promise.all([apps.bound.close(), apps.unbound.close()]);
  }
  const theirs = tallies.get("azureIdentity") as Tally;
  const rows = kinds.map((kind) => {
    const t = tallies.get(kind) as Tally;
    return [
      LABELS[kind],
      formatMillis(median(t.first)),
      formatMillis(percentile(t.first, 90)),
      formatRatio(median(theirs.first) / median(t.first)),
      formatMillis(median(t.repeat)),
      formatCount(t.firstRequests + t.repeatRequests),
    ];
  });
  const bound = tallies.get("bound") as Tally;
  return {
    id: 10,
    title: "On-Behalf-Of: a new user's first token, and the same user's next request",
    method: `${sizes.coldWarmup} warm-up and ${sizes.onBehalfOfUsers} measured users per credential, alternating; a new per-request credential for each request; median and p90 in ms. Speed ratio = OnBehalfOfCredential's median first token / this median.`,
    table: {
      header: ["credential", "first median ms", "first p90 ms", "speed ratio", "next request median ms", "token requests"],
      rows,
    },
    targets: [
      {
        target: "a new user's token over a warm mutual TLS connection no slower than OnBehalfOfCredential's",
        met: median(bound.first) <= median(theirs.first),
        measured: `${formatMillis(median(bound.first))} ms vs ${formatMillis(median(theirs.first))} ms (median)`,
      },
    ],
    invariants: [
      {
        invariant: "one token request per user; the same user's next request is served from the shared cache",
        held: bound.firstRequests === sizes.onBehalfOfUsers && bound.repeatRequests === 0,
        detail: `${bound.firstRequests} first and ${bound.repeatRequests} repeat token requests for ${sizes.onBehalfOfUsers} users`,
      },
    ],
  };
}
