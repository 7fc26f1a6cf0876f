import assert from "node:assert/strict";
import { test } from "node:test";
import { Registry } from "prom-client";
import { randomBytes } from "../helpers.js";
import { buildMirrorConfig, parseUpstreamFlag } from "../../src/config/serve-config.js";
import { asBody, makeImage, OCI_MANIFEST, openUpload, pullBlob, pushManifest, sha256, startFake, startRegistry } from "../registry/harness.js";
import { reader, startObservedRegistry } from "./observed-registry.js";

/**
 * /metrics as serve wires it (observe/): after a push and a pull, every counter moved by exactly
 * what the client did. Each response's record is awaited by count (`recorded`), never by time.
 */

test("/metrics after a push and a pull: requests, bytes in and out, blobs stored moved by exactly what the client did", async (t) => {
  const r = await startObservedRegistry(t);
  const before = await r.scrape();
  await r.recorded(1);

  // Push: a config and a layer in one POST each, the manifest in one PUT.
  const layer = randomBytes(300_000, 5);
  const image = await makeImage(r.url, "team/app", { layers: [layer] });
  assert.equal((await pushManifest(r.url, "team/app", "v1", image.manifest, OCI_MANIFEST)).status, 201);
  const configSize = (JSON.parse(image.manifest) as { config: { size: number } }).config.size;
  const manifestSize = Buffer.byteLength(image.manifest);
  // Pull: the manifest by tag, then both blobs.
  const manifest = await fetch(`${r.url}/v2/team/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
  assert.equal(await manifest.text(), image.manifest);
  assert.equal((await pullBlob(r.url, "team/app", image.blobs[0]!)).length, configSize);
  assert.ok((await pullBlob(r.url, "team/app", image.blobs[1]!)).equals(layer));
  await r.recorded(1 + 3 + 3);
  await r.observe.refreshTotals();
  const after = await r.scrape();
  const moved = (name: string, labels: Record<string, string> = {}) => after(name, labels) - before(name, labels);

  const requests = "docker_dedup_http_requests_total";
  assert.equal(moved(requests, { route: "uploads", method: "POST", status: "201" }), 2);
  assert.equal(moved(requests, { route: "manifest", method: "PUT", status: "201" }), 1);
  assert.equal(moved(requests, { route: "manifest", method: "GET", status: "200" }), 1);
  assert.equal(moved(requests, { route: "blob", method: "GET", status: "200" }), 2);
  assert.equal(moved("docker_dedup_http_request_duration_seconds_count", { route: "blob", method: "GET" }), 2);
  assert.equal(moved("docker_dedup_http_request_body_bytes_total", { route: "uploads" }), configSize + layer.length);
  assert.equal(moved("docker_dedup_http_request_body_bytes_total", { route: "manifest" }), manifestSize);
  assert.equal(moved("docker_dedup_http_response_body_bytes_total", { route: "blob", method: "GET" }), configSize + layer.length);
  assert.equal(moved("docker_dedup_http_response_body_bytes_total", { route: "manifest", method: "GET" }), manifestSize);

  const pushed = configSize + layer.length + manifestSize;
  assert.equal(moved("docker_dedup_ingested_blobs_total"), 3);
  assert.equal(moved("docker_dedup_ingested_bytes_total"), pushed);
  assert.ok(moved("docker_dedup_new_chunks_total") >= 3);
  assert.ok(moved("docker_dedup_rebuilt_bytes_total") >= pushed, "every byte pulled was rebuilt");
  assert.equal(after("docker_dedup_store_blobs"), 3);
  assert.equal(after("docker_dedup_store_logical_bytes"), pushed);
  assert.equal(after("docker_dedup_store_chunked_bytes"), pushed);
  assert.ok(after("docker_dedup_store_unique_bytes") <= pushed && after("docker_dedup_store_stored_bytes") > 0);
  assert.ok(after("docker_dedup_store_totals_timestamp_seconds") > 0);
  assert.equal(after("docker_dedup_store_errors_total"), 0);
  // The layer was just pushed: its chunks were cached by the ingest and the pull found them there.
  assert.ok(moved("docker_dedup_chunk_cache_hits_total") > 0);
  assert.ok(after("process_cpu_user_seconds_total") > 0, "the process's standard metrics are there too");
  assert.deepEqual(r.logs, []);
});

test("an upload in several requests: each PATCH's streamed body counted in, the session counted live until it is done", async (t) => {
  const r = await startObservedRegistry(t);
  const blob = randomBytes(200_000, 9);
  const location = await openUpload(r.url, "team/parts");
  // A streamed body: chunked transfer, no Content-Length to read the size from.
  const halves = [blob.subarray(0, 120_000), blob.subarray(120_000)];
  const streamed = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const half of halves) controller.enqueue(new Uint8Array(half));
      controller.close();
    },
  });
  const patched = await fetch(`${r.url}${location}`, { method: "PATCH", body: streamed, duplex: "half", headers: { "Content-Type": "application/octet-stream" } } as RequestInit);
  assert.equal(patched.status, 202);
  await r.recorded(2);
  await r.observe.refreshTotals();
  const open = await r.scrape();
  assert.equal(open("docker_dedup_http_request_body_bytes_total", { route: "upload", method: "PATCH" }), blob.length);
  assert.equal(open("docker_dedup_upload_sessions"), 1);
  const finish = new URL(patched.headers.get("location")!, r.url);
  finish.searchParams.set("digest", sha256(blob));
  const put = await fetch(finish, { method: "PUT", body: asBody(new Uint8Array(0)) });
  assert.equal(put.status, 201, await put.text());
  await r.recorded(4);
  await r.observe.refreshTotals();
  const done = await r.scrape();
  assert.equal(done("docker_dedup_upload_sessions"), 0);
  assert.equal(done("docker_dedup_store_blobs"), 1);
});

test("every response carries a request id: the one a proxy sent if it is sane, else a new one", async (t) => {
  const r = await startObservedRegistry(t);
  const fresh = [await fetch(`${r.url}/v2/`), await fetch(`${r.url}/v2/`)].map((res) => res.headers.get("x-request-id"));
  assert.match(fresh[0] ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(fresh[0], fresh[1]);
  assert.equal((await fetch(`${r.url}/v2/`, { headers: { "X-Request-Id": "lb-4711.a" } })).headers.get("x-request-id"), "lb-4711.a");
  const odd = (await fetch(`${r.url}/v2/`, { headers: { "X-Request-Id": "two words" } })).headers.get("x-request-id");
  assert.match(odd ?? "", /^[0-9a-f-]{36}$/, "an id that would garble a log line is replaced");
  await r.recorded(4);
  assert.deepEqual(
    r.records.map((record) => record.id),
    [fresh[0], fresh[1], "lb-4711.a", odd],
  );
});

test("a scrape reads running totals: a private registry, nothing registered globally", async () => {
  const { register } = await import("prom-client");
  const registry = new Registry();
  const { pulledCounter, pulledGauges } = await import("../../src/observe/prometheus.js");
  let total = 5;
  pulledCounter(registry, "things_total", "things", () => total);
  pulledGauges(registry, "widths", "widths", ["side"], () => [[{ side: "left" }, 2], [{ side: "right" }, 3]]);
  const read = async () => reader(await registry.metrics());
  assert.equal((await read())("docker_dedup_things_total"), 5);
  total = 8;
  assert.equal((await read())("docker_dedup_things_total"), 8);
  assert.equal((await read())("docker_dedup_widths", { side: "right" }), 3);
  assert.equal((await register.metrics()).includes("docker_dedup_"), false, "prom-client's global registry stays empty");
});

test("mirror mode: reads counted as hits (from the store), misses (fetched upstream) and upstream errors", async (t) => {
  const upstream = await startRegistry(t);
  const layer = randomBytes(50_000, 21);
  const image = await makeImage(upstream.url, "team/app", { layers: [layer] });
  assert.equal((await pushManifest(upstream.url, "team/app", "v1", image.manifest, OCI_MANIFEST)).status, 201);
  const live = parseUpstreamFlag(upstream.url);
  // An upstream that holds its port and cuts every connection: a port merely found free could be
  // handed to the registry under test next, which would then answer as the "dead" upstream.
  const dead = parseUpstreamFlag(await startFake(t, (req) => req.socket.destroy()));
  // TTL 0: every tag read asks the upstream again (a HEAD: a hit when the digest is unchanged).
  const r = await startObservedRegistry(t, { registry: { mirror: buildMirrorConfig([live, dead], { defaultNamespace: live.namespace, manifestTtlSeconds: 0 }) } });
  const manifest = () => fetch(`${r.url}/v2/team/app/manifests/v1`, { headers: { Accept: OCI_MANIFEST } });
  assert.equal((await manifest()).status, 200);
  assert.equal((await manifest()).status, 200);
  assert.ok((await pullBlob(r.url, "team/app", image.blobs[1]!)).equals(layer));
  assert.ok((await pullBlob(r.url, "team/app", image.blobs[1]!)).equals(layer));
  // Through the unreachable upstream: its manifest fails, and the layer, stored already, cannot be confirmed there.
  const deadName = `${dead.namespace.replace(":", "-")}/team/app`;
  assert.equal((await fetch(`${r.url}/v2/${deadName}/manifests/v1`)).status, 503);
  assert.equal((await fetch(`${r.url}/v2/${deadName}/blobs/${image.blobs[1]}`)).status, 503);
  const metrics = await r.scrape();
  const outcome = (kind: string, result: string) => metrics("docker_dedup_mirror_requests_total", { kind, result });
  assert.deepEqual(
    { manifest: [outcome("manifest", "hit"), outcome("manifest", "miss"), outcome("manifest", "error")], blob: [outcome("blob", "hit"), outcome("blob", "miss"), outcome("blob", "error")] },
    { manifest: [1, 1, 1], blob: [1, 1, 1] },
  );
});

test("garbage collection runs and what they freed are counted", async (t) => {
  const r = await startObservedRegistry(t);
  const orphan = await r.blobs.ingest((async function* () {
    yield randomBytes(100_000, 33);
  })());
  assert.ok(orphan.newChunks > 0);
  // No root needs the blob: the first collection dooms it and its chunks, the second (no grace) deletes them.
  for (let i = 0; i < 2; i++) await r.blobs.collect({ roots: new Set(), graceMs: 0, dryRun: false, minLiveShare: 0.5 });
  const metrics = await r.scrape();
  assert.equal(metrics("docker_dedup_gc_runs_total"), 2);
  assert.ok(metrics("docker_dedup_gc_deleted_chunk_bytes_total") > 0);
});

