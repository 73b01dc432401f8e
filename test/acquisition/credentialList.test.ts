import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AuthenticationError, CredentialUnavailableError } from "@azure/identity";
import { CredentialList, INITIAL_COOLDOWN_MS, MAX_COOLDOWN_MS, type ListEntry } from "../../src/acquisition/credentialList.ts";
import type { EntryFailure, EntryOutcome } from "../../src/acquisition/entryOutcome.ts";
import type { AcquiredToken, TokenRequest } from "../../src/acquisition/types.ts";
import type { NormalizedEntry } from "../../src/configuration/normalized.ts";
import { credentialLogger } from "../../src/logging.ts";

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
      return { outcome: e.outcome, reason: e.message, statusCode: e.outcome === "unavailable" ? undefined : 401, aadsts: e.outcome === "rejected" ? 700027 : undefined, error };
    },
  };
  return { listEntry, calls };
}

function request(): TokenRequest {
  return {
    kind: { grant: "client_credentials" },
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
  let now = 1_700_000_000_000;
  const clock = { now: () => now, advance: (ms: number) => void (now += ms) };
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
});
