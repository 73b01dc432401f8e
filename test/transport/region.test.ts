import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";
import { HttpClient } from "../../src/transport/httpClient.ts";
import { RegionCache, resolveRegion as resolveWithCache } from "../../src/transport/region.ts";
import { closedPort, deferred, json, recordingSleep, startHttpServer, type TestServer } from "./fixtures.ts";

let http: HttpClient;
let imds: TestServer;
let answer: (url: string, res: ServerResponse) => void | Promise<void>;
/** Each test starts with a region cache of its own, as a new process would. */
let cache = new RegionCache();
const resolveRegion = (...args: [Parameters<typeof resolveWithCache>[0], Parameters<typeof resolveWithCache>[1], Parameters<typeof resolveWithCache>[2]]) =>
  resolveWithCache(...args, cache);

before(async () => {
  http = new HttpClient();
  imds = await startHttpServer((req, res) => answer(req.url ?? "", res));
});
after(async () => {
  await http.close();
  await imds.close();
});
beforeEach(() => {
  cache = new RegionCache();
  imds.requests.length = 0;
  answer = (_url, res) => json(res, 200, { location: "WestEurope", name: "vm" });
});

describe("resolveRegion without the network", () => {
  const cases: { name: string; setting: string | undefined; env: Record<string, string>; expected: string | undefined }[] = [
    { name: "nothing configured", setting: undefined, env: {}, expected: undefined },
    { name: "an explicit name is lower-cased", setting: "WestUS2", env: {}, expected: "westus2" },
    { name: "an invalid name is ignored", setting: "west us", env: {}, expected: undefined },
    { name: "a name with a dot is ignored", setting: "westus.evil", env: {}, expected: undefined },
    { name: "MSAL_DISABLE_REGION wins over a name", setting: "westus2", env: { MSAL_DISABLE_REGION: "1" }, expected: undefined },
    { name: "MSAL_DISABLE_REGION with any value", setting: "TryAutoDetect", env: { MSAL_DISABLE_REGION: "false", REGION_NAME: "x" }, expected: undefined },
    { name: "an empty MSAL_DISABLE_REGION is unset", setting: "eastus", env: { MSAL_DISABLE_REGION: "" }, expected: "eastus" },
    { name: "MSAL_FORCE_REGION when no setting", setting: undefined, env: { MSAL_FORCE_REGION: "EastUS" }, expected: "eastus" },
    { name: "the setting wins over MSAL_FORCE_REGION", setting: "westus", env: { MSAL_FORCE_REGION: "eastus" }, expected: "westus" },
    { name: "TryAutoDetect reads REGION_NAME", setting: "TryAutoDetect", env: { REGION_NAME: "West US 2" }, expected: "westus2" },
    { name: "TryAutoDetect is case-insensitive", setting: "tryautodetect", env: { REGION_NAME: "centralus" }, expected: "centralus" },
    { name: "MSAL_FORCE_REGION=TryAutoDetect reads REGION_NAME", setting: undefined, env: { MSAL_FORCE_REGION: "TryAutoDetect", REGION_NAME: "NorthEurope" }, expected: "northeurope" },
  ];
  for (const { name, setting, env, expected } of cases) {
    test(name, async () => {
      const region = await resolveRegion(setting, env, { http, endpoint: imds.origin });
      assert.equal(region, expected);
      assert.equal(imds.requests.length, 0, "no call to the instance metadata service");
    });
  }
});

describe("resolveRegion from the instance metadata service", () => {
  test("TryAutoDetect without REGION_NAME asks IMDS once and caches the answer", async () => {
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint: imds.origin }), "westeurope");
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint: `${imds.origin}/` }), "westeurope");
    assert.equal(imds.requests.length, 1);
    const seen = imds.requests[0];
    assert.equal(seen?.url, "/metadata/instance/compute?api-version=2021-02-01");
    assert.equal(seen?.headers["metadata"], "true");
  });

  test("a REGION_NAME that is not a valid name falls back to IMDS", async () => {
    assert.equal(await resolveRegion("TryAutoDetect", { REGION_NAME: "west-us" }, { http, endpoint: imds.origin }), "westeurope");
  });

  test("a 400 for the api-version retries with the newest version IMDS lists", async () => {
    answer = (url, res) => {
      if (url === "/metadata/instance/compute?api-version=2021-02-01") json(res, 400, { error: "Bad request. api-version is invalid" });
      else if (url === "/metadata/instance/compute") json(res, 400, { error: "Bad request", "newest-versions": ["2023-07-01", "2021-12-13"] });
      else if (url === "/metadata/instance/compute?api-version=2023-07-01") json(res, 200, { location: "japaneast" });
      else json(res, 404, {});
    };
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint: imds.origin }), "japaneast");
    assert.equal(imds.requests.length, 3);
  });

  test("unreachable IMDS gives the global endpoint, and the failure is cached", async () => {
    const port = await closedPort();
    const endpoint = `http://127.0.0.1:${port}`;
    const sleep = recordingSleep();
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint, sleep: sleep.sleep }), undefined);
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint, sleep: sleep.sleep }), undefined);
    assert.deepEqual(sleep.delays, [], "a refused connection is not retried");
  });

  test("5xx answers are retried 3 times (1 s, 2 s, 4 s), then no region, cached", async () => {
    answer = (_url, res) => json(res, 503, { error: "busy" });
    const sleep = recordingSleep();
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint: imds.origin, sleep: sleep.sleep }), undefined);
    assert.equal(imds.requests.length, 4);
    assert.deepEqual(sleep.delays, [1000, 2000, 4000]);
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint: imds.origin, sleep: sleep.sleep }), undefined);
    assert.equal(imds.requests.length, 4);
  });

  const badBodies: [string, (res: ServerResponse) => void][] = [
    ["not JSON", (res) => res.end("<html>")],
    ["no location", (res) => json(res, 200, { name: "vm" })],
    ["a location that is not a region name", (res) => json(res, 200, { location: "west/../us" })],
    ["a numeric location", (res) => json(res, 200, { location: 42 })],
    ["404", (res) => json(res, 404, {})],
  ];
  for (const [name, reply] of badBodies) {
    test(`${name} gives no region`, async () => {
      answer = (_url, res) => reply(res);
      assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint: imds.origin, sleep: recordingSleep().sleep }), undefined);
    });
  }

  test("the caller's abort stops its wait but not the shared detection", async () => {
    const hold = deferred();
    answer = async (_url, res) => {
      await hold.promise;
      json(res, 200, { location: "uksouth" });
    };
    const controller = new AbortController();
    const waiting = resolveRegion("TryAutoDetect", {}, { http, endpoint: imds.origin, signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await assert.rejects(waiting, /caller gave up/);
    hold.resolve();
    assert.equal(await resolveRegion("TryAutoDetect", {}, { http, endpoint: imds.origin }), "uksouth");
    assert.equal(imds.requests.length, 1);
  });
});
