/**
 * Section 4: one credential acquires many distinct scopes in a row: how many TLS handshakes and
 * token requests that takes, and how much heap each cached token costs.
 */
import { countsSince, freshScope, type BenchEnvironment, type ContenderKind, type WireCounts } from "../environment.ts";
import type { BenchSizes } from "../options.ts";
import { formatBytes, formatCount, formatMillis, type SectionResult } from "../report.ts";
import { median, now, quiesceSockets, settle, settledHeapBytes } from "../stats.ts";

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
  const all: Run[] = [];
  // Not interleaved: each heap reading must see one credential at work. Fresh credential each.
  let previousCollected = true;
  // Each kind's code runs once before any reading: state that earlier sections left to be freed
  // lazily is freed on the next use of the same code (a row after @azure/identity's 1,000 requests
  // of section 3 read 10 MB less after its loop than before it), which must not happen inside a row.
  await prewarm(env);
  // Ours alternate, several runs each, and the median run counts: a run that other state's release
  // lands in (it has happened once per benchmark, in whichever run came first) reads far off.
  const order: ContenderKind[] = [];
  for (let r = 0; r < sizes.distinctRoundsOurs; r++) order.push(...CONTENDERS.filter((kind) => kind !== "azureIdentity"));
  order.push("azureIdentity");
  for (const kind of order) {
    // Earlier credentials and their idle connections must be gone before the first reading.
    await quiesceSockets();
    previousCollected &&= await env.awaitCollected();
    all.push(await measure(env, kind, sizes.distinctWarmup, sizes.distinctScopes));
  }
  previousCollected &&= await env.awaitCollected();
  const runs: Run[] = CONTENDERS.map((kind) => {
    const mine = all.filter((r) => r.kind === kind);
    const first = mine[0] as Run;
    return { ...first, heapPerTokenBytes: median(mine.map((r) => r.heapPerTokenBytes)), msPerAcquisition: median(mine.map((r) => r.msPerAcquisition)) };
  });
  const rows = runs.map((r) => {
    const readings = all.filter((x) => x.kind === r.kind).map((x) => x.heapPerTokenBytes);
    return [
      r.label,
      formatCount(r.wire.tokenRequests),
      formatCount(r.wire.loginHandshakes + r.wire.mtlsHandshakes),
      readings.length > 1 ? `${formatBytes(r.heapPerTokenBytes)} (runs: ${readings.map(formatBytes).join(", ")})` : formatBytes(r.heapPerTokenBytes),
      formatMillis(r.msPerAcquisition),
    ];
  });
  const ours = runs.filter((r) => r.kind !== "azureIdentity");
  const bound = runs.find((r) => r.kind === "bound") as Run;
  const expectedRequests = sizes.distinctWarmup + sizes.distinctScopes;
  const worstHeap = Math.max(...ours.map((r) => r.heapPerTokenBytes));
  // A reading at or below zero is a disturbed one, not a free token.
  const heapReadable = ours.every((r) => r.heapPerTokenBytes > 0);
  return {
    id: 4,
    title: `${formatCount(sizes.distinctScopes)} distinct scopes, one after another`,
    method: `A fresh credential per run (${sizes.distinctRoundsOurs} alternating run(s) of each of ours, their medians shown; one of ClientCertificateCredential): ${formatCount(sizes.distinctWarmup)} warm-up scopes, then ${formatCount(
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
        met: heapReadable && worstHeap < HEAP_TARGET_BYTES,
        measured: `${ours.map((r) => `${r.kind} ${formatBytes(r.heapPerTokenBytes)}`).join(", ")}${sizes.distinctRoundsOurs > 1 ? ` (medians of ${sizes.distinctRoundsOurs} runs)` : ""}${heapReadable ? "" : "; a reading at or below zero was disturbed"}`,
      },
    ],
    invariants: [
      ...ours.map((r) => {
        const mine = all.filter((x) => x.kind === r.kind);
        return {
          invariant: `${r.kind}: one token request per new scope, and every token still cached afterwards`,
          held: mine.every((x) => x.wire.tokenRequests === expectedRequests && x.requestsOnRevisit === 0),
          detail: mine.map((x) => `${x.wire.tokenRequests} requests (expected ${expectedRequests}), ${x.requestsOnRevisit} request(s) on revisiting the first and last scope`).join("; "),
        };
      }),
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
