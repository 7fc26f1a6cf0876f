import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { collectGarbage } from "../../src/cli/gc.js";
import type { UntaggedRetention } from "../../src/registry/retention.js";
import { eventually, runCli, tempDir } from "../helpers.js";
import { OCI_INDEX, OCI_MANIFEST, makeImage, pushManifest, serveCli, sha256, startRegistry, type TestRegistry } from "./harness.js";

/**
 * The retention of untagged manifests (src/registry/retention.ts), on real pushes. The registry's
 * clock is set before each push, so push times are what a test says, and every collection is run
 * at a chosen time: nothing waits (but serve's own schedule, last, which runs on the real clock).
 */

const T0 = Date.parse("2025-01-01T00:00:00Z");
const HOUR = 3_600_000;
const GRACE = 10 * 60_000;

async function clockedRegistry(t: { after(fn: () => unknown): void }): Promise<TestRegistry & { at(ms: number): void }> {
  let clock = T0;
  const registry = await startRegistry(t, { now: () => clock });
  return { ...registry, at: (ms) => void (clock = ms) };
}

function run(r: TestRegistry, untagged: UntaggedRetention, now: number, dryRun = false) {
  return collectGarbage(r.blobs, r.store, { graceMs: GRACE, dryRun, minLiveShare: 0.5, untagged, now });
}

const status = async (url: string, path: string) => (await fetch(`${url}/v2/${path}`, { method: "HEAD" })).status;

test("keep the last N: older untagged manifests go with the links of the layers only they named; tagged ones stay", async (t) => {
  const r = await clockedRegistry(t);
  const shared = Buffer.from("a layer every version has");
  const images = [];
  for (let i = 0; i < 4; i++) {
    r.at(T0 + i * HOUR);
    const image = await makeImage(r.url, "app", { layers: [shared, Buffer.from(`version ${i}'s own layer`)] });
    // Versions 0-2 were `latest` in turn (so 0 and 1 are untagged now); 3 was pushed by digest.
    assert.equal((await pushManifest(r.url, "app", i < 3 ? "latest" : image.digest, image.manifest, OCI_MANIFEST)).status, 201);
    images.push(image);
  }
  const [v0, v1, v2, v3] = images as [(typeof images)[0], (typeof images)[0], (typeof images)[0], (typeof images)[0]];

  const dry = await run(r, { keepLast: 1 }, T0 + 5 * HOUR, true);
  assert.deepEqual(dry.retention.manifests, [
    { repository: "app", digest: v1.digest, pushed: T0 + HOUR },
    { repository: "app", digest: v0.digest, pushed: T0 },
  ]);
  assert.equal(dry.links.blobLinks, 0, "a dry run keeps the manifests, which still name their layers");
  for (const image of images) assert.equal(await status(r.url, `app/manifests/${image.digest}`), 200, "a dry run changes nothing");

  const { retention, links, report } = await run(r, { keepLast: 1 }, T0 + 5 * HOUR);
  assert.deepEqual(retention.manifests.map((m) => m.digest), [v1.digest, v0.digest]);
  assert.equal(links.blobLinks, 4, "each one's config and own layer: named by no manifest left, and linked before the grace period");
  for (const image of [v0, v1]) {
    assert.equal(await status(r.url, `app/manifests/${image.digest}`), 404);
    for (const blob of image.blobs.slice(0, 1).concat(image.blobs.slice(2))) assert.equal(await status(r.url, `app/blobs/${blob}`), 404);
  }
  assert.equal(report.blobs.doomed, 6, "two manifests, two configs, two layers: their bytes lose their last root");
  for (const image of [v2, v3]) {
    assert.equal(await status(r.url, `app/manifests/${image.digest}`), 200);
    for (const blob of image.blobs) assert.equal(await status(r.url, `app/blobs/${blob}`), 200, "the shared layer, and what kept manifests name, stay");
  }
  assert.equal(await status(r.url, "app/manifests/latest"), 200);
  assert.deepEqual(r.logs, []);
});

test("older than T, alone and with keep N; nothing pushed within the grace period goes; an emptied repository leaves the catalog", async (t) => {
  const r = await clockedRegistry(t);
  const pushAt = async (name: string, at: number, tag?: string) => {
    r.at(at);
    const image = await makeImage(r.url, name);
    assert.equal((await pushManifest(r.url, name, tag ?? image.digest, image.manifest, OCI_MANIFEST)).status, 201);
    return image.digest;
  };
  const tagged = await pushAt("age", T0, "stable");
  const a = await pushAt("age", T0);
  const b = await pushAt("age", T0 + HOUR);
  const c = await pushAt("age", T0 + 2 * HOUR);
  const lone = await pushAt("lone", T0);

  let { retention } = await run(r, { keepNewerThanMs: 4.5 * HOUR }, T0 + 5 * HOUR);
  assert.deepEqual(retention.manifests.map((m) => m.digest).sort(), [a, lone].sort(), "pushed before 00:30");
  const catalog = async () => ((await (await fetch(`${r.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories;
  assert.deepEqual(await catalog(), ["age"], "lone's only manifest and its blobs went, and so did lone");

  // Both rules: a manifest goes only past both (b is neither the newest nor younger than 3.5 h).
  ({ retention } = await run(r, { keepLast: 1, keepNewerThanMs: 3.5 * HOUR }, T0 + 5 * HOUR));
  assert.deepEqual(retention.manifests.map((m) => m.digest), [b]);

  // A manifest pushed within the grace period stays whatever the rules; so does a tagged one.
  const fresh = await pushAt("age", T0 + 10 * HOUR - 60_000);
  ({ retention } = await run(r, { keepLast: 0 }, T0 + 10 * HOUR));
  assert.deepEqual(retention.manifests.map((m) => m.digest), [c]);
  for (const digest of [tagged, fresh]) assert.equal(await status(r.url, `age/manifests/${digest}`), 200);

  // Off: no rule, nothing goes.
  ({ retention } = await run(r, {}, T0 + 100 * HOUR));
  assert.deepEqual(retention.manifests, []);
  assert.equal(await status(r.url, `age/manifests/${fresh}`), 200);
});

test("an index holds its children, a manifest its referrers; an untagged index goes with them, and so do its referrers' listing entries", async (t) => {
  const r = await clockedRegistry(t);
  const pushImage = async (extra?: Record<string, unknown>) => {
    const image = await makeImage(r.url, "multi", extra === undefined ? {} : { extra });
    assert.equal((await pushManifest(r.url, "multi", image.digest, image.manifest, OCI_MANIFEST)).status, 201);
    return { mediaType: OCI_MANIFEST, digest: image.digest, size: Buffer.byteLength(image.manifest) };
  };
  const pushIndex = async (children: { digest: string }[], tag?: string) => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: children });
    const res = await pushManifest(r.url, "multi", tag ?? sha256(body), body, OCI_INDEX);
    assert.equal(res.status, 201);
    return { mediaType: OCI_INDEX, digest: res.headers.get("docker-content-digest")!, size: Buffer.byteLength(body) };
  };
  const c1 = await pushImage();
  const c2 = await pushImage();
  const kept = await pushIndex([c1, c2], "v1");
  const signature = await pushImage({ subject: kept });
  const childSbom = await pushImage({ subject: c1 });
  const c3 = await pushImage();
  const old = await pushIndex([c3]);
  const oldSignature = await pushImage({ subject: old });
  const orphan = await pushImage({ subject: { mediaType: OCI_MANIFEST, digest: sha256("never pushed"), size: 1 } });

  const { retention } = await run(r, { keepLast: 0 }, T0 + 24 * HOUR);
  const removed = retention.manifests.map((m) => m.digest);
  assert.deepEqual([...removed].sort(), [old.digest, c3.digest, oldSignature.digest, orphan.digest].sort());
  assert.ok(removed.indexOf(old.digest) < removed.indexOf(c3.digest), "an index goes before its children");
  assert.ok(removed.indexOf(old.digest) < removed.indexOf(oldSignature.digest), "a subject before its referrers");
  for (const m of [kept, c1, c2, signature, childSbom]) assert.equal(await status(r.url, `multi/manifests/${m.digest}`), 200);
  for (const m of [old, c3, oldSignature, orphan]) assert.equal(await status(r.url, `multi/manifests/${m.digest}`), 404);

  const referrers = async (subject: string) => ((await (await fetch(`${r.url}/v2/multi/referrers/${subject}`)).json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest);
  assert.deepEqual(await referrers(kept.digest), [signature.digest]);
  assert.deepEqual(await referrers(c1.digest), [childSbom.digest]);
  assert.deepEqual(await referrers(old.digest), [], "the removed referrer left its subject's listing");
  assert.deepEqual(r.logs, []);
});

test("docker-dedup gc --keep-untagged: --dry-run lists what would go; a run removes it", async (t) => {
  const r = await startRegistry(t);
  const old = await makeImage(r.url, "cli", { layers: [Buffer.from("the old version's layer")] });
  assert.equal((await pushManifest(r.url, "cli", "latest", old.manifest, OCI_MANIFEST)).status, 201);
  const current = await makeImage(r.url, "cli");
  assert.equal((await pushManifest(r.url, "cli", "latest", current.manifest, OCI_MANIFEST)).status, 201);

  const dry = await runCli(["gc", "--store", r.store.location, "--dry-run", "--grace", "0", "--keep-untagged", "0"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`^untagged manifest cli@${old.digest} \\(pushed \\d{4}-`, "m"));
  assert.match(dry.stdout, /^untagged manifests: 1 removed \(dry run: nothing changed\)$/m);
  assert.equal(await status(r.url, `cli/manifests/${old.digest}`), 200);

  const bad = await runCli(["gc", "--store", r.store.location, "--keep-untagged", "-1"]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /bad --keep-untagged "-1": expected a whole number >= 0/);

  const real = await runCli(["gc", "--store", r.store.location, "--grace", "0", "--untagged-older-than", "0s"]);
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /^untagged manifests: 1 removed$/m);
  assert.match(real.stdout, /^blob links: 2 named by no manifest and older than the grace period, removed$/m);
  assert.equal(await status(r.url, `cli/manifests/${old.digest}`), 404);
  assert.equal(await status(r.url, "cli/manifests/latest"), 200);
});

test("serve's scheduled collections apply --gc-keep-untagged", async (t) => {
  const dir = await tempDir(t);
  const serve = await serveCli(t, ["--store", join(dir, "store"), "--gc-interval", "100ms", "--gc-grace", "1s", "--gc-keep-untagged", "0"]);
  const old = await makeImage(serve.url, "sched", { layers: [Buffer.from("scheduled: the old layer")] });
  assert.equal((await pushManifest(serve.url, "sched", "latest", old.manifest, OCI_MANIFEST)).status, 201);
  const current = await makeImage(serve.url, "sched", { layers: [Buffer.from("scheduled: the new layer")] });
  assert.equal((await pushManifest(serve.url, "sched", "latest", current.manifest, OCI_MANIFEST)).status, 201);
  // Past the grace period (1 s; the new manifest, untagged for a moment between its link and its tag, is safe by it).
  await eventually(async () => assert.equal(await status(serve.url, `sched/manifests/${old.digest}`), 404));
  // The report is logged once the whole collection is done, a moment after the manifest went.
  await eventually(async () => {
    assert.match(serve.stderr(), /gc: untagged manifests: 1 removed"/);
    assert.match(serve.stderr(), /gc: blob links: 2 named by no manifest/);
  });
  assert.equal(await status(serve.url, "sched/manifests/latest"), 200);
  assert.equal(await status(serve.url, `sched/blobs/${current.blobs[1]}`), 200);
});
