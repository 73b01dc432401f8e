// Binding keys are made ahead, one spare at a time, and each is handed out once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { BindingKey } from "../../src/sources/bindingKey.ts";
import { BindingKeySupply } from "../../src/sources/managedIdentity/keySupply.ts";
import { deferred } from "../helpers/index.ts";

test("prepare() makes one key ahead; take() hands it out once, then makes the next on demand", async () => {
  let made = 0;
  const supply = new BindingKeySupply(async () => {
    made++;
    return BindingKey.generate();
  });
  supply.prepare();
  supply.prepare();
  assert.equal(made, 1, "one spare at a time");
  const first = await supply.take();
  assert.equal(made, 1, "the spare served");
  const second = await supply.take();
  assert.equal(made, 2, "no spare left: made on demand");
  assert.notDeepEqual(first.publicKeySpki, second.publicKeySpki);
});

test("a take() while the spare is on the way waits for it instead of making another", async () => {
  const gate = deferred<void>();
  let made = 0;
  const supply = new BindingKeySupply(async () => {
    made++;
    await gate.promise;
    return BindingKey.generate();
  });
  supply.prepare();
  const taken = supply.take();
  gate.resolve();
  await taken;
  assert.equal(made, 1);
});

test("a failed spare is no failure: take() makes a key itself", async () => {
  let calls = 0;
  const supply = new BindingKeySupply(async () => {
    calls++;
    if (calls === 1) throw new Error("no entropy today");
    return BindingKey.generate();
  });
  supply.prepare();
  const key = await supply.take();
  assert.ok(key instanceof BindingKey);
  assert.equal(calls, 2);
});

test("replenish() starts the next spare shortly after, and only one", async () => {
  let made = 0;
  const supply = new BindingKeySupply(async () => {
    made++;
    return BindingKey.generate();
  });
  supply.replenish();
  supply.replenish();
  assert.equal(made, 0, "not at once: the requests after a mint go first");
  // Started by a short timer: wait for it (bounded), however loaded the machine is.
  for (let waited = 0; made === 0 && waited < 10_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(made, 1);
  await supply.take();
  assert.equal(made, 1, "the replenished spare served");
});
