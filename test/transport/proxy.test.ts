import assert from "node:assert/strict";
import { inspect } from "node:util";
import { describe, test } from "node:test";
import {
  bypassesProxy,
  isLoopbackHost,
  matchesNoProxy,
  noProxyFromEnvironment,
  ProxyConfigurationError,
  proxyFromEnvironment,
  resolveProxy,
} from "../../src/transport/proxy.ts";

describe("proxy settings as the Azure SDK reads them", () => {
  test("HTTPS_PROXY, then ALL_PROXY, then HTTP_PROXY; upper case before lower case; empty is unset", () => {
    assert.deepEqual(proxyFromEnvironment({ HTTP_PROXY: "http://h:1", HTTPS_PROXY: "http://s:2", ALL_PROXY: "http://a:3" }), { variable: "HTTPS_PROXY", value: "http://s:2" });
    assert.deepEqual(proxyFromEnvironment({ HTTP_PROXY: "http://h:1", all_proxy: "http://a:3" }), { variable: "all_proxy", value: "http://a:3" });
    assert.deepEqual(proxyFromEnvironment({ http_proxy: "http://h:1" }), { variable: "http_proxy", value: "http://h:1" });
    assert.deepEqual(proxyFromEnvironment({ HTTPS_PROXY: "", https_proxy: "http://l:4" }), { variable: "https_proxy", value: "http://l:4" });
    assert.deepEqual(proxyFromEnvironment({ HTTPS_PROXY: "http://u:5", https_proxy: "http://l:4" }), { variable: "HTTPS_PROXY", value: "http://u:5" });
    assert.equal(proxyFromEnvironment({}), undefined);
  });

  test("NO_PROXY: exact hosts and .domain suffixes, trimmed, case-insensitive; no_proxy too", () => {
    const list = noProxyFromEnvironment({ no_proxy: " Example.com, .Corp.Test ,," });
    assert.deepEqual(list, ["example.com", ".corp.test"]);
    assert.equal(matchesNoProxy("example.com", list), true);
    assert.equal(matchesNoProxy("www.example.com", list), false, "a plain entry matches that host only");
    assert.equal(matchesNoProxy("corp.test", list), true, ".corp.test matches the domain itself");
    assert.equal(matchesNoProxy("login.corp.test", list), true);
    assert.equal(matchesNoProxy("evilcorp.test", list), false);
  });

  test("loopback, the IMDS address and the configured IMDS host always bypass; others use the proxy", () => {
    const proxy = resolveProxy({ env: { HTTPS_PROXY: "http://proxy:3128", NO_PROXY: ".internal" }, alwaysDirect: ["imds.example"] });
    assert.ok(proxy !== undefined);
    for (const url of ["https://localhost:1/", "https://127.0.0.5/", "https://[::1]:9/", "http://169.254.169.254/metadata", "http://imds.example:80/", "https://a.internal/"]) {
      assert.equal(bypassesProxy(new URL(url), proxy), true, url);
    }
    assert.equal(bypassesProxy(new URL("https://mtlsauth.microsoft.com/t/oauth2/v2.0/token"), proxy), false);
    assert.equal(isLoopbackHost("app.localhost"), true);
    assert.equal(isLoopbackHost("10.0.0.1"), false);
  });

  test("proxyOptions win over the environment, and NO_PROXY still applies to them", () => {
    const proxy = resolveProxy({ proxyOptions: { host: "proxy.example", port: 8080 }, env: { HTTPS_PROXY: "http://other:1", NO_PROXY: "skip.example" } });
    assert.equal(proxy?.url.href, "http://proxy.example:8080/");
    assert.equal(proxy?.origin, "proxyOptions");
    assert.equal(bypassesProxy(new URL("https://skip.example/"), proxy!), true);
  });

  test("credentials become a Basic Proxy-Authorization that is never shown", () => {
    const proxy = resolveProxy({ env: { HTTPS_PROXY: "http://al%40ice:p%3Ass@proxy:3128" } });
    assert.equal(proxy?.authorization, `Basic ${Buffer.from("al@ice:p:ss").toString("base64")}`);
    assert.equal(String(proxy), "http://al%40ice:***@proxy:3128");
    for (const shown of [JSON.stringify(proxy), inspect(proxy), String(proxy)]) {
      assert.doesNotMatch(shown, /p%3Ass|p:ss|Basic/);
    }
  });

  test("unusable settings are refused, naming the setting", () => {
    assert.throws(() => resolveProxy({ env: { HTTPS_PROXY: "socks5://proxy:1080" } }), (e: unknown) => e instanceof ProxyConfigurationError && e.setting === "HTTPS_PROXY");
    assert.throws(() => resolveProxy({ env: {}, proxyOptions: { host: "http://proxy", port: 70000 } }), /proxyOptions\.port/);
    assert.throws(() => resolveProxy({ env: {}, proxyOptions: { host: "http://u:p@proxy", port: 1 } }), /proxyOptions\.username/);
    assert.throws(() => resolveProxy({ env: { HTTP_PROXY: "http://" } }), /HTTP_PROXY/);
  });
});
