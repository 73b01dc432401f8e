/**
 * Section 4: one credential acquires many distinct scopes in a row: how many TLS handshakes and
 * token requests that takes, and how much heap each cached token costs.
 */
import { countsSince, freshScope, type BenchEnvironment, type ContenderKind, type WireCounts } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatBytes, formatCount, formatMillis, type SectionResult } from "../report.ts";
import { now, quiesceSockets, settle, settledHeapBytes } from "../stats.ts";

const CONTENDERS: readonly ContenderKind[] = ["bound", "unbound", "azureIdentity"];
const HEAP_TARGET_BYTES = 2048;
const SETTLE_MS = 100;

interface Run {
  readonly kind: ContenderKind;
  readonly label: string;
  /** Over the credential's whole life: its warm-up scopes plus the measured ones. */
  readonly wire: WireCounts;
  readonly heapPerTokenBytes: number;
  readonly msPerAcquisition: number;
  /** Token requests made when asking again for the first and last scope (0: both still cached). */
  readonly requestsOnRevisit: number;
}

/** Settles timers, then reads the heap after full collections. */
async function heapReading(): Promise<number> {
  await settle(SETTLE_MS);
  return settledHeapBytes();
}

async function measure(env: BenchEnvironment, kind: ContenderKind, warmup: number, scopes: number): Promise<Run> {
  const contender = env.create(kind);
  try {
    const start = await env.counts();
    for (let i = 0; i < warmup; i++) await contender.credential.getToken(freshScope(`distinct-${kind}-warmup-${i}`));
    const warm = countsSince(start, await env.counts());
    // The emulator runs in a process of its own; its journal is emptied only to keep that process small.
    await env.clearJournal();
    const heapBefore = await heapReading();
    const loopStart = await env.counts();
    const started = now();
    for (let i = 0; i < scopes; i++) await contender.credential.getToken(freshScope(`distinct-${kind}-${i}`));
    const elapsed = now() - started;
    const loop = countsSince(loopStart, await env.counts());
    await env.clearJournal();
    const heapAfter = await heapReading();
    const revisitStart = await env.counts();
    await contender.credential.getToken(freshScope(`distinct-${kind}-0`));
    await contender.credential.getToken(freshScope(`distinct-${kind}-${scopes - 1}`));
    const requestsOnRevisit = countsSince(revisitStart, await env.counts()).tokenRequests;
    return {
      kind,
      label: contender.label,
      wire: {
        tokenRequests: warm.tokenRequests + loop.tokenRequests,
        loginHandshakes: warm.loginHandshakes + loop.loginHandshakes,
        mtlsHandshakes: warm.mtlsHandshakes + loop.mtlsHandshakes,
        imdsV2Calls: warm.imdsV2Calls + loop.imdsV2Calls,
      },
      heapPerTokenBytes: (heapAfter - heapBefore) / scopes,
      msPerAcquisition: elapsed / scopes,
      requestsOnRevisit,
    };
  } finally {
    await contender.close();
  }
}

/**
 * One short credential of each kind. A function of its own: a suspended async function keeps the
 * last value of a loop variable in its frame, which would keep the last credential reachable.
 */
async function prewarm(env: BenchEnvironment): Promise<void> {
  for (const kind of CONTENDERS) {
    const warming = env.create(kind);
    try {
      for (let i = 0; i < 5; i++) await warming.credential.getToken(freshScope(`distinct-${kind}-prewarm-${i}`));
    } finally {
      await warming.close();
    }
  }
}

/** Runs section 4. */
export async function distinctScopes(env: BenchEnvironment, sizes: BenchSizes): Promise<SectionResult> {
  const runs: Run[] = [];
  // Not interleaved: each heap reading must see one credential at work. Fresh credential each.
  let previousCollected = true;
  // Each kind's code runs once before any reading: state that earlier sections left to be freed
  // lazily is freed on the next use of the same code (a row after @azure/identity's 1,000 requests
  // of section 3 read 10 MB less after its loop than before it), which must not happen inside a row.
  await prewarm(env);
  for (const kind of CONTENDERS) {
    // Earlier credentials and their idle connections must be gone before the first reading.
    await quiesceSockets();
    previousCollected &&= await env.awaitCollected();
    runs.push(await measure(env, kind, sizes.distinctWarmup, sizes.distinctScopes));
  }
  previousCollected &&= await env.awaitCollected();
  const rows = runs.map((r) => [
    r.label,
    formatCount(r.wire.tokenRequests),
    formatCount(r.wire.loginHandshakes + r.wire.mtlsHandshakes),
    formatBytes(r.heapPerTokenBytes),
    formatMillis(r.msPerAcquisition),
  ]);
  const ours = runs.filter((r) => r.kind !== "azureIdentity");
  const bound = runs.find((r) => r.kind === "bound") as Run;
  const expectedRequests = sizes.distinctWarmup + sizes.distinctScopes;
  const worstHeap = Math.max(...ours.map((r) => r.heapPerTokenBytes));
  return {
    id: 4,
    title: `${formatCount(sizes.distinctScopes)} distinct scopes, one after another`,
    method: `A fresh credential per row: ${formatCount(sizes.distinctWarmup)} warm-up scopes, then ${formatCount(
      sizes.distinctScopes,
    )} measured new scopes. Requests and handshakes over the credential's life; heap = (heap after - heap before the ${formatCount(
      sizes.distinctScopes,
    )} scopes) / ${formatCount(sizes.distinctScopes)}, in V8's data spaces after full GCs, with the emulator's journal emptied and earlier credentials collected.`,
    table: { header: ["credential", "token requests", "TLS handshakes", "heap per cached token", "ms per acquisition"], rows },
    targets: [
      {
        target: "one TLS handshake per certificate across many requests",
        met: bound.wire.mtlsHandshakes === 1,
        measured: `bound certificate: ${bound.wire.mtlsHandshakes} mTLS handshake(s) for ${formatCount(bound.wire.tokenRequests)} token requests`,
      },
      {
        target: "under 2 KB of heap per cached token",
        met: worstHeap < HEAP_TARGET_BYTES,
        measured: ours.map((r) => `${r.kind} ${formatBytes(r.heapPerTokenBytes)}`).join(", "),
      },
    ],
    invariants: [
      ...ours.map((r) => ({
        invariant: `${r.kind}: one token request per new scope, and every token still cached afterwards`,
        held: r.wire.tokenRequests === expectedRequests && r.requestsOnRevisit === 0,
        detail: `${r.wire.tokenRequests} requests (expected ${expectedRequests}), ${r.requestsOnRevisit} request(s) on revisiting the first and last scope`,
      })),
      {
        invariant: "a closed credential is garbage once its sockets are gone (no leak)",
        held: previousCollected,
        detail: previousCollected ? "every credential created so far was collected" : "a credential was still reachable 10 s after close()",
      },
      {
        invariant: "bound: one TLS handshake with its certificate for all its token requests",
        held: bound.wire.mtlsHandshakes === 1,
        detail: `${bound.wire.mtlsHandshakes} mTLS handshake(s) for ${bound.wire.tokenRequests} token requests`,
      },
    ],
  };
}
