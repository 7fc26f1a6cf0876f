import assert from "node:assert/strict";
import { test } from "node:test";
import { collectGarbage } from "../../src/cli/gc.js";
import { RegistryMetadata } from "../../src/registry/metadata.js";
import type { Store } from "../../src/store/types.js";
import { randomBytes } from "../helpers.js";
import { OCI_MANIFEST, makeImage, pullBlob, pushBlob, pushManifest, startRegistry, type TestRegistry } from "./harness.js";

/**
 * Garbage collection's registry roots (src/registry/gc-roots.ts), on real pushes over an embedded
 * store: a blob link no manifest names goes once older than the grace period, and its bytes
 * with it. The registry's clock is set before each push and every collection runs at a chosen
 * time, so nothing waits.
 */

const T0 = Date.parse("2025-01-01T00:00:00Z");
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const GRACE = 10 * MINUTE;

async function clockedRegistry(t: { after(fn: () => unknown): void }): Promise<TestRegistry & { at(ms: number): void }> {
  let clock = T0;
  const registry = await startRegistry(t, { now: () => clock });
  return { ...registry, at: (ms) => void (clock = ms) };
}

function gc(r: TestRegistry, now: number, dryRun = false) {
  return collectGarbage(r.blobs, r.store, { graceMs: GRACE, dryRun, minLiveShare: 0.5, untagged: {}, now });
}

const status = async (url: string, path: string) => (await fetch(`${url}/v2/${path}`, { method: "HEAD" })).status;
const catalog = async (url: string) => ((await (await fetch(`${url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;

async function liveChunks(store: Store): Promise<number> {
  let count = 0;
  for await (const batch of store.scanChunkEntries()) count += batch.filter((entry) => entry.doomedAt === undefined).length;
  return count;
}

test("a blob no manifest names goes once linked longer ago than the grace period, and so does a repository it leaves empty; a younger one stays", async (t) => {
  const r = await clockedRegistry(t);
  const old = await pushBlob(r.url, "loose", Buffer.from("pushed, never referenced"));
  await pushBlob(r.url, "lonely", Buffer.from("the only thing lonely ever had"));
  // A link written before links kept their time counts as linked at the epoch.
  const legacyBytes = Buffer.from("linked by an older version");
  const legacy = await pushBlob(r.url, "loose", legacyBytes);
  await new RegistryMetadata(r.store).linkBlob("loose", legacy, { size: legacyBytes.length });
  r.at(T0 + HOUR - MINUTE);
  const young = await pushBlob(r.url, "loose", Buffer.from("pushed a minute ago"));

  const dry = await gc(r, T0 + HOUR, true);
  assert.equal(dry.links.blobLinks, 3);
  assert.equal(await status(r.url, `loose/blobs/${old}`), 200, "a dry run changes nothing");

  const { links, report } = await gc(r, T0 + HOUR);
  assert.deepEqual(links, { blobLinks: 3, skipped: [] });
  assert.equal(report.blobs.doomed, 3);
  for (const digest of [old, legacy]) assert.equal(await status(r.url, `loose/blobs/${digest}`), 404);
  assert.equal(await status(r.url, `loose/blobs/${young}`), 200, "a push in flight keeps what it uploaded");
  assert.deepEqual(await catalog(r.url), ["loose"], "lonely was emptied and left the catalog");

  // Once older than the grace period, with still nothing naming it, it goes too.
  assert.equal((await gc(r, T0 + 2 * HOUR)).links.blobLinks, 1);
  assert.equal(await status(r.url, `loose/blobs/${young}`), 404);
  assert.deepEqual(await catalog(r.url), []);
  assert.deepEqual(r.logs, []);
});

test("an image whose manifest was deleted loses its layers' bytes, but for a layer another repository's manifest names", async (t) => {
  const r = await clockedRegistry(t);
  const shared = randomBytes(600_000, 1);
  const own = randomBytes(600_000, 2);
  const gone = await makeImage(r.url, "gone", { layers: [shared, own] });
  assert.equal((await pushManifest(r.url, "gone", "latest", gone.manifest, OCI_MANIFEST)).status, 201);
  const kept = await makeImage(r.url, "kept", { layers: [shared] });
  assert.equal((await pushManifest(r.url, "kept", "latest", kept.manifest, OCI_MANIFEST)).status, 201);
  const before = await liveChunks(r.store);

  r.at(T0 + HOUR);
  assert.equal((await fetch(`${r.url}/v2/gone/manifests/${gone.digest}`, { method: "DELETE" })).status, 202);
  // Doomed now, the doomed copies deleted a grace period later, their chunks one more after.
  const first = await gc(r, T0 + HOUR);
  assert.equal(first.links.blobLinks, 3, "config and both layers: nothing in gone names them any more");
  for (const blob of gone.blobs) assert.equal(await status(r.url, `gone/blobs/${blob}`), 404);
  assert.deepEqual(await catalog(r.url), ["kept"]);
  await gc(r, T0 + HOUR + 2 * GRACE);
  const last = await gc(r, T0 + HOUR + 4 * GRACE);
  assert.ok(last.report.chunks.deleted > 0);
  const after = await liveChunks(r.store);
  assert.ok(after < before, `live chunks ${before} -> ${after}`);
  assert.deepEqual(await pullBlob(r.url, "kept", kept.blobs[1]!), shared, "the layer kept's manifest names is whole");
  assert.equal(await status(r.url, `kept/manifests/latest`), 200);
  assert.deepEqual(r.logs, []);
});

test("a push in flight: layers linked long ago stay while a manifest names them; a collection between the layers and the manifest takes nothing", async (t) => {
  const r = await clockedRegistry(t);
  // Uploaded long before the manifest, which came before the collection.
  const slow = await makeImage(r.url, "slow", { layers: [randomBytes(300_000, 3)] });
  r.at(T0 + HOUR);
  assert.equal((await pushManifest(r.url, "slow", "latest", slow.manifest, OCI_MANIFEST)).status, 201);
  assert.equal((await gc(r, T0 + 2 * HOUR)).links.blobLinks, 0);
  for (const blob of slow.blobs) assert.equal(await status(r.url, `slow/blobs/${blob}`), 200);

  // A collection runs after the layers went up, within the grace period, before the manifest.
  r.at(T0 + 3 * HOUR);
  const layer = randomBytes(300_000, 4);
  const racing = await makeImage(r.url, "racing", { layers: [layer] });
  const during = await gc(r, T0 + 3 * HOUR + GRACE / 2);
  assert.equal(during.links.blobLinks, 0);
  assert.equal(during.report.blobs.doomed, 0);
  r.at(T0 + 3 * HOUR + GRACE / 2 + MINUTE);
  assert.equal((await pushManifest(r.url, "racing", "v1", racing.manifest, OCI_MANIFEST)).status, 201);
  // Long after, the manifest still names them.
  await gc(r, T0 + 10 * HOUR);
  await gc(r, T0 + 20 * HOUR);
  assert.equal(await status(r.url, "racing/manifests/v1"), 200);
  assert.deepEqual(await pullBlob(r.url, "racing", racing.blobs[1]!), layer);
  assert.deepEqual(await pullBlob(r.url, "slow", slow.blobs[1]!), randomBytes(300_000, 3));
  assert.deepEqual(r.logs, []);
});
