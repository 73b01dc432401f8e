import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CredentialList, INITIAL_COOLDOWN_MS, MAX_COOLDOWN_MS, type ListEntry } from "../../src/acquisition/credentialList.ts";
import type { EntryFailure, EntryOutcome } from "../../src/acquisition/entryOutcome.ts";
import { CLIENT_CREDENTIALS, type AcquiredToken, type TokenRequest } from "../../src/acquisition/types.ts";
import type { NormalizedEntry } from "../../src/configuration/normalized.ts";
import { AuthenticationError, CredentialUnavailableError, MAX_ENTRY_LINES } from "../../src/errors.ts";
import { credentialLogger } from "../../src/logging.ts";
import { TestClock } from "../helpers/index.ts";

/** A failure the scripted entries throw; its outcome is what `classify` reports. */
class ScriptedFailure extends Error {
  readonly outcome: EntryOutcome;
  constructor(outcome: EntryOutcome, reason: string) {
    super(reason);
    this.outcome = outcome;
  }
}

type Step = "ok" | EntryOutcome;

/** An entry that answers each call with the next step of its script (the last step repeats). */
function scripted(index: number, steps: Step[], options: { skip?: boolean } = {}) {
  const calls: { reload: boolean }[] = [];
  const entry: NormalizedEntry = {
    index,
    id: `clientCredentials[${index}] (ClientSecret)`,
    bound: false,
    skip: options.skip ?? false,
    description: { sourceType: "ClientSecret", clientSecret: "not-used" },
  };
  const listEntry: ListEntry = {
    entry,
    async acquire(request: TokenRequest, reload: boolean): Promise<AcquiredToken> {
      calls.push({ reload });
      const step = steps[Math.min(calls.length - 1, steps.length - 1)];
      if (step === "ok") {
        return { accessToken: `token-from-${index}`, expiresOnTimestamp: 0, refreshInSeconds: undefined, tokenEndpoint: `https://login.example/${request.tenantId}` };
      }
      throw new ScriptedFailure(step as EntryOutcome, `entry ${index} said ${step}`);
    },
    classify(error: unknown): EntryFailure {
      const e = error as ScriptedFailure;
      return { outcome: e.outcome, code: e.outcome === "unavailable" ? "BCC_SOURCE_UNAVAILABLE" : "BCC_ENTRA_ERROR", reason: e.message, statusCode: e.outcome === "unavailable" ? undefined : 401, aadsts: e.outcome === "rejected" ? 700027 : undefined, error };
    },
  };
  return { listEntry, calls };
}

function request(): TokenRequest {
  return {
    kind: CLIENT_CREDENTIALS,
    scopes: ["https://storage.azure.com/.default"],
    tenantId: "tenant",
    claims: undefined,
    enableCae: false,
    signal: new AbortController().signal,
    timeoutMs: undefined,
    correlationId: "corr",
  };
}

function list(entries: ListEntry[]) {
  const clock = new TestClock(1_700_000_000_000);
  return { list: new CredentialList(entries, clock.now, credentialLogger("test")), clock };
}

describe("CredentialList", () => {
  test("the first entry that works serves", async () => {
    const a = scripted(0, ["ok"]);
    const b = scripted(1, ["ok"]);
    const { list: l } = list([a.listEntry, b.listEntry]);
    const served = await l.acquire(request());
    assert.equal(served.entry.index, 0);
    assert.equal(b.calls.length, 0);
  });

  test("an unavailable entry falls through to the next and is benched", async () => {
    const a = scripted(0, ["unavailable", "ok"]);
    const b = scripted(1, ["ok"]);
    const { list: l, clock } = list([a.listEntry, b.listEntry]);
    assert.equal((await l.acquire(request())).entry.index, 1);
    assert.deepEqual(a.calls, [{ reload: false }]);
    // benched: the next call goes straight to entry 1
    assert.equal((await l.acquire(request())).entry.index, 1);
    assert.equal(a.calls.length, 1);
    // after the cool-down, entry 0 is tried first again and serves
    clock.advance(INITIAL_COOLDOWN_MS);
    assert.equal((await l.acquire(request())).entry.index, 0);
    assert.equal(l.benchedEntries().length, 0);
  });

  test("a rejected entry is reloaded once, then benched; the next entry serves", async () => {
    const a = scripted(0, ["rejected", "rejected"]);
    const b = scripted(1, ["ok"]);
    const { list: l } = list([a.listEntry, b.listEntry]);
    assert.equal((await l.acquire(request())).entry.index, 1);
    assert.deepEqual(a.calls, [{ reload: false }, { reload: true }]);
    assert.equal(l.benchedEntries()[0]?.id, a.listEntry.entry.id);
  });

  test("a rejected entry that works after its reload serves (rotation)", async () => {
    const a = scripted(0, ["rejected", "ok"]);
    const b = scripted(1, ["ok"]);
    const { list: l } = list([a.listEntry, b.listEntry]);
    assert.equal((await l.acquire(request())).entry.index, 0);
    assert.equal(b.calls.length, 0);
  });

  test("a request error stops the list with an AuthenticationError", async () => {
    const a = scripted(0, ["stop"]);
    const b = scripted(1, ["ok"]);
    const { list: l } = list([a.listEntry, b.listEntry]);
    const error = await l.acquire(request()).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof AuthenticationError);
    assert.equal(b.calls.length, 0);
    assert.match(error.message, /clientCredentials\[0\] \(ClientSecret\): stop: entry 0 said stop/);
    assert.match(error.message, /clientCredentials\[1\] \(ClientSecret\): not tried/);
  });

  test("all unavailable → CredentialUnavailableError listing every entry in order", async () => {
    const a = scripted(0, ["unavailable"]);
    const b = scripted(1, ["unavailable"]);
    const c = scripted(2, ["ok"], { skip: true });
    const { list: l } = list([a.listEntry, b.listEntry, c.listEntry]);
    const error = await l.acquire(request()).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof CredentialUnavailableError);
    assert.equal(error.name, "CredentialUnavailableError");
    const lines = error.message.split("\n");
    assert.match(lines[1] ?? "", /^ {2}clientCredentials\[0\].*unavailable: entry 0 said unavailable/);
    assert.match(lines[2] ?? "", /^ {2}clientCredentials\[1\].*unavailable: entry 1 said unavailable/);
    assert.match(lines[3] ?? "", /^ {2}clientCredentials\[2\].*skipped \(skip: true\)/);
    assert.equal(c.calls.length, 0);
  });

  test("unavailable and rejected together → AuthenticationError with the rejection's code", async () => {
    const a = scripted(0, ["unavailable"]);
    const b = scripted(1, ["rejected"]);
    const { list: l } = list([a.listEntry, b.listEntry]);
    const error = await l.acquire(request()).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.statusCode, 401);
    assert.deepEqual(error.errorResponse.errorCodes, [700027]);
    assert.match(error.message, /rejected by Entra ID: entry 1 said rejected/);
  });

  test("benched entries are still tried last when every other entry fails", async () => {
    const a = scripted(0, ["unavailable", "ok"]);
    const b = scripted(1, ["ok", "unavailable"]);
    const { list: l } = list([a.listEntry, b.listEntry]);
    assert.equal((await l.acquire(request())).entry.index, 1); // a benched
    assert.equal((await l.acquire(request())).entry.index, 0); // b fails, benched a is the last resort
    assert.deepEqual(
      [a.calls.length, b.calls.length],
      [2, 2],
    );
  });

  test("the cool-down doubles up to thirty minutes", async () => {
    const a = scripted(0, ["unavailable"]);
    const b = scripted(1, ["ok"]);
    const { list: l, clock } = list([a.listEntry, b.listEntry]);
    const cooldowns: number[] = [];
    for (let i = 0; i < 8; i++) {
      await l.acquire(request());
      const until = l.benchedEntries()[0]?.until ?? 0;
      cooldowns.push(until - clock.now());
      clock.advance(until - clock.now());
    }
    assert.deepEqual(cooldowns.slice(0, 3), [INITIAL_COOLDOWN_MS, 2 * INITIAL_COOLDOWN_MS, 4 * INITIAL_COOLDOWN_MS]);
    assert.equal(cooldowns.at(-1), MAX_COOLDOWN_MS);
  });

  test("an aborted request is rethrown as the abort reason", async () => {
    const controller = new AbortController();
    const entry = scripted(0, ["unavailable"]);
    const aborting: ListEntry = {
      ...entry.listEntry,
      acquire: async () => {
        controller.abort(new Error("caller aborted"));
        throw new ScriptedFailure("stop", "aborted");
      },
    };
    const { list: l } = list([aborting, scripted(1, ["ok"]).listEntry]);
    await assert.rejects(l.acquire({ ...request(), signal: controller.signal }), /caller aborted/);
  });

  test("the final error lists every entry with its outcome, code and AADSTS number", async () => {
    const a = scripted(0, ["unavailable"]);
    const b = scripted(1, ["rejected"]);
    const c = scripted(2, ["stop"]);
    const d = scripted(3, ["ok"]);
    const e = scripted(4, ["ok"], { skip: true });
    const { list: l } = list([a.listEntry, b.listEntry, c.listEntry, d.listEntry, e.listEntry]);
    const error = await l.acquire(request()).then(() => undefined, (x: unknown) => x);
    assert.ok(error instanceof AuthenticationError);
    assert.equal(error.code, "BCC_AUTHENTICATION_FAILED");
    assert.deepEqual(
      error.entries.map((r) => [r.index, r.outcome, r.code, r.aadsts, r.sourceType, r.bound]),
      [
        [0, "unavailable", "BCC_SOURCE_UNAVAILABLE", undefined, "ClientSecret", false],
        [1, "rejected", "BCC_ENTRA_ERROR", 700027, "ClientSecret", false],
        [2, "request-error", "BCC_ENTRA_ERROR", undefined, "ClientSecret", false],
        [3, "not-tried", undefined, undefined, "ClientSecret", false],
        [4, "skipped", undefined, undefined, "ClientSecret", false],
      ],
    );
    assert.equal(error.entries[0]?.reason, "entry 0 said unavailable");
    assert.equal(error.entries[3]?.reason, undefined);
  });

  test("an entry benched when the call began, tried last and failing again, is reported benched", async () => {
    const a = scripted(0, ["unavailable"]);
    const b = scripted(1, ["ok", "unavailable"]);
    const { list: l } = list([a.listEntry, b.listEntry]);
    await l.acquire(request());
    const error = await l.acquire(request()).then(() => undefined, (x: unknown) => x);
    assert.ok(error instanceof CredentialUnavailableError);
    assert.equal(error.code, "BCC_CREDENTIAL_UNAVAILABLE");
    assert.deepEqual(
      error.entries.map((r) => [r.index, r.outcome]),
      [
        [0, "benched"],
        [1, "unavailable"],
      ],
    );
  });

  test("a served token says which entries did not serve, in the order they were tried", async () => {
    const a = scripted(0, ["unavailable"]);
    const b = scripted(1, ["rejected"]);
    const c = scripted(2, ["ok"]);
    const { list: l } = list([a.listEntry, b.listEntry, c.listEntry]);
    const served = await l.acquire(request());
    assert.equal(served.entry.index, 2);
    assert.deepEqual(
      served.notServed.map((r) => [r.index, r.outcome]),
      [
        [0, "unavailable"],
        [1, "rejected"],
      ],
    );
    assert.deepEqual((await l.acquire(request())).notServed.map((r) => [r.index, r.outcome]), [], "benched entries are tried after the one that serves");
  });

  test("the message lists the first entries one per line and counts the rest; the structured list has them all", async () => {
    const count = MAX_ENTRY_LINES + 7;
    const entries = Array.from({ length: count }, (_, i) => scripted(i, ["unavailable"]).listEntry);
    const { list: l } = list(entries);
    const error = await l.acquire(request()).then(() => undefined, (x: unknown) => x);
    assert.ok(error instanceof CredentialUnavailableError);
    const lines = error.message.split("\n");
    assert.equal(lines.length, 1 + MAX_ENTRY_LINES + 1);
    assert.match(lines.at(-1) ?? "", /and 7 more entries/);
    assert.doesNotMatch(error.message, new RegExp(`clientCredentials\\[${MAX_ENTRY_LINES}\\]`));
    assert.equal(error.entries.length, count);
    assert.equal(error.entries.at(-1)?.index, count - 1);
  });
});
