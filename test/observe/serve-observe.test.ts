import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { eventually, tempDir } from "../helpers.js";
import { serveCli } from "../registry/harness.js";
import { reader } from "./observed-registry.js";

/** `docker-dedup serve` answers the operator's endpoints: on the registry's port, or with --metrics-listen on a listener of their own. */

test("serve: /metrics, /healthz and /readyz on the registry's port by default", async (t) => {
  const serve = await serveCli(t, ["--store", join(await tempDir(t), "store")], { until: /metrics at \/metrics on the registry's address/ });
  assert.equal((await fetch(`${serve.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${serve.url}/readyz`)).status, 200);
  // A request's record comes as its response closes, the first sample of the store's totals in the background: both are waited for, not timed.
  await eventually(async () => {
    const metrics = reader(await (await fetch(`${serve.url}/metrics`)).text());
    assert.equal(metrics("docker_dedup_http_requests_total", { route: "readyz", status: "200" }), 1);
    assert.ok(metrics("docker_dedup_store_totals_timestamp_seconds") > 0, "the store's totals were sampled at start");
  });
});

test("serve --metrics-listen: metrics and probes on their own listener, no /metrics on the registry's port", async (t) => {
  const serve = await serveCli(t, ["--store", join(await tempDir(t), "store"), "--metrics-listen", "127.0.0.1:0"], { until: /metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/ });
  const ops = /metrics at (http:\/\/127\.0\.0\.1:\d+)\/metrics/.exec(serve.stderr())![1]!;
  const scraped = await fetch(`${ops}/metrics`);
  assert.equal(scraped.status, 200);
  assert.match(await scraped.text(), /^# TYPE docker_dedup_http_requests_total counter$/m);
  assert.equal((await fetch(`${ops}/readyz`)).status, 200);
  assert.equal((await fetch(`${ops}/v2/`)).status, 404, "the registry API is not on the metrics listener");
  assert.equal((await fetch(`${serve.url}/metrics`)).status, 404, "nor are metrics on the registry's port");
  assert.equal((await fetch(`${serve.url}/healthz`)).status, 200, "probes still answer there");
});
