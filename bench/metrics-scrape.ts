/**
 * What a Prometheus scrape of /metrics costs on a store of many chunks (issue 16: under 10 ms
 * with 100,000 chunks stored). serve's wiring (observe/observability.ts) over a store filled
 * straight through the Store API with `--chunks` chunks of 1 KiB, in blobs of 100 chunks, after
 * some pushes and pulls over HTTP (so that every request series exists). Then:
 *
 * - scrape: GET /metrics over HTTP, `--scrapes` times, and `register.metrics()` alone (the
 *   formatting, without HTTP): median, 99th percentile and worst, in ms;
 * - sample: one background sample of the store's totals (a walk of every recipe and chunk
 *   entry), which scrapes never wait for: how long it takes, and so how often it may run.
 *
 *   node dist/bench/metrics-scrape.js [--chunks 100000] [--scrapes 200] [--store LOCATION]
 *
 * LOCATION defaults to a fresh embedded store in a temporary directory; a redis:// URL is
 * filled under a fresh prefix.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BlobParts, BlobService } from "../src/layers/blob-service.js";
import { Observability } from "../src/observe/observability.js";
import { createRegistryServer } from "../src/registry/app.js";
import { chunkIdOf } from "../src/store/chunk-id.js";
import { encodeChunk } from "../src/store/codec.js";
import { openStore } from "../src/store/open.js";
import type { Store, StoredChunk } from "../src/store/types.js";

const CHUNK_BYTES = 1024;
const CHUNKS_PER_BLOB = 100;

const { values } = parseArgs({ options: { chunks: { type: "string", default: "100000" }, scrapes: { type: "string", default: "200" }, store: { type: "string" } } });
const chunkCount = Number(values.chunks);
const scrapes = Number(values.scrapes);
const dir = values.store === undefined ? mkdtempSync(join(tmpdir(), "dd-metrics-bench-")) : undefined;
const location = values.store === undefined ? join(dir!, "store") : values.store.includes("?") ? values.store : `${values.store}?prefix=bench${Date.now()}`;

/** The store filled with `count` distinct chunks, one recipe per CHUNKS_PER_BLOB of them. */
async function fill(store: Store, count: number): Promise<void> {
  for (let first = 0; first < count; first += CHUNKS_PER_BLOB) {
    const plain = Array.from({ length: Math.min(CHUNKS_PER_BLOB, count - first) }, () => randomBytes(CHUNK_BYTES));
    const chunks: StoredChunk[] = plain.map((bytes) => ({ id: chunkIdOf(bytes), data: encodeChunk(bytes, { codec: "none", level: 0 }) }));
    await store.putChunks(chunks);
    const size = plain.length * CHUNK_BYTES;
    await store.putRecipe({ digest: `sha256:${randomBytes(32).toString("hex")}`, size, ids: chunks.map((c) => c.id), lengths: new Uint32Array(plain.length).fill(CHUNK_BYTES) });
  }
  await store.sync();
}

/** Milliseconds `work` takes, `times` times: median, 99th percentile, worst. */
async function timed(times: number, work: () => Promise<unknown>): Promise<string> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await work();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  const at = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(2);
  return `median ${at(0.5)} ms, p99 ${at(0.99)} ms, worst ${ms[ms.length - 1]!.toFixed(2)} ms`;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const observe = new Observability({}, log);
const store = observe.watchStore(await openStore(location, { create: true }));
const filling = performance.now();
await fill(store, chunkCount);
log(`filled ${location} with ${chunkCount} chunks in ${((performance.now() - filling) / 1000).toFixed(1)} s`);

const parts = new BlobParts({ chunkCacheBytes: 64 << 20 });
const blobs = new BlobService(store, parts);
const registry = createRegistryServer({ store, blobs, log, ...observe.registryOptions() });
await new Promise<void>((resolve) => registry.server.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${(registry.server.address() as AddressInfo).port}`;
await observe.start({ parts, blobs, registry });

// Some traffic, so that the request series a busy registry has are there to format.
for (let i = 0; i < 20; i++) {
  const layer = randomBytes(64 << 10);
  const digest = `sha256:${createHash("sha256").update(layer).digest("hex")}`;
  const pushed = await fetch(`${url}/v2/bench/app${i % 5}/blobs/uploads/?digest=${digest}`, { method: "POST", body: layer });
  if (pushed.status !== 201) throw new Error(`push: ${pushed.status}`);
  await (await fetch(`${url}/v2/bench/app${i % 5}/blobs/${digest}`)).arrayBuffer();
  await (await fetch(`${url}/v2/bench/app${i % 5}/manifests/absent`)).arrayBuffer();
}

const sampling = performance.now();
await observe.refreshTotals();
const sampleMs = performance.now() - sampling;
const text = await (await fetch(`${url}/metrics`)).text();
const chunksSeen = /^docker_dedup_store_chunks (\d+)$/m.exec(text)?.[1];

const overHttp = await timed(scrapes, async () => (await fetch(`${url}/metrics`)).text());
const formatting = await timed(scrapes, () => observe.register.metrics());
console.log(`store: ${chunksSeen} chunks in the last sample (${location.startsWith("redis") ? "Redis" : "embedded"}); ${text.split("\n").filter((l) => l !== "" && !l.startsWith("#")).length} series`);
console.log(`scrape, GET /metrics over HTTP (${scrapes}x): ${overHttp}`);
console.log(`scrape, register.metrics() alone (${scrapes}x): ${formatting}`);
console.log(`background sample of the store's totals: ${sampleMs.toFixed(0)} ms (so taken at most every ${Math.max(30, Math.ceil((10 * sampleMs) / 1000))} s: never more than a tenth of the time)`);

registry.server.closeAllConnections();
await registry.close();
await observe.close();
await parts.close();
await store.close();
if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
