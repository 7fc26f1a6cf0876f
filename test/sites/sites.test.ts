import assert from "node:assert/strict";
import { test } from "node:test";
import { randomBytes } from "../helpers.js";
import { makeImage, OCI_MANIFEST, pushManifest, sha256 } from "../registry/harness.js";
import { eventually, getBytes, hasTag, siteCluster, stopSite } from "./site-harness.js";

/**
 * Sites as separate `docker-dedup serve` processes on loopback, each with its own store and
 * peer port, one shared secret. What is pushed at one site is pulled, byte-exact, at another.
 */

/** Layers that share a part, so that the second one's transfer is only what the first lacks. */
function layers(seed: number, size: number): Buffer[] {
  const shared = randomBytes(size / 2, seed);
  return [Buffer.concat([shared, randomBytes(size / 2, seed + 1)]), Buffer.concat([shared, randomBytes(size / 4, seed + 2)])];
}

async function pushImage(url: string, name: string, tag: string, layerData: Buffer[]) {
  const image = await makeImage(url, name, { layers: layerData });
  const res = await pushManifest(url, name, tag, image.manifest, OCI_MANIFEST);
  assert.equal(res.status, 201, await res.text());
  return image;
}

async function assertPulls(url: string, name: string, tag: string, image: { manifest: string; digest: string; blobs: string[] }, layerData: Buffer[]): Promise<void> {
  const manifest = await getBytes(url, `/v2/${name}/manifests/${tag}`, { Accept: OCI_MANIFEST });
  assert.equal(manifest.toString("utf8"), image.manifest);
  for (const [i, digest] of image.blobs.entries()) {
    const blob = await getBytes(url, `/v2/${name}/blobs/${digest}`);
    assert.equal(sha256(blob), digest);
    if (i > 0) assert.ok(blob.equals(layerData[i - 1]!));
  }
}

test("an image pushed at one site pulls byte-exact at another, which then holds it", async (t) => {
  const cluster = await siteCluster(t, ["a", "b"]);
  const a = await cluster.start("a");
  const b = await cluster.start("b");
  const data = layers(11, 4 << 20);
  const image = await pushImage(a.url, "team/app", "v1", data);

  await eventually("b lists the tag pushed at a", () => hasTag(b.url, "team/app", "v1"));
  await assertPulls(b.url, "team/app", "v1", image, data);

  // b holds every chunk and recipe now: it serves the image with a gone.
  await stopSite(a);
  await assertPulls(b.url, "team/app", "v1", image, data);
  assert.doesNotMatch(b.stderr(), /failed|corrupt/);
});

test("peer requests without the shared secret get 401", async (t) => {
  const cluster = await siteCluster(t, ["a"]);
  await cluster.start("a");
  const peerApi = `http://127.0.0.1:${cluster.specs.get("a")!.peerPort}/dd-peer/v1`;
  assert.equal((await fetch(`${peerApi}/info`)).status, 401);
  assert.equal((await fetch(`${peerApi}/log?after=0`, { headers: { Authorization: "Bearer not-the-secret-at-all" } })).status, 401);
  assert.equal((await fetch(`${peerApi}/chunks`, { method: "POST", body: new Uint8Array(32), headers: { Authorization: `Bearer ${cluster.secret}x` } })).status, 401);
  const info = await fetch(`${peerApi}/info`, { headers: { Authorization: `Bearer ${cluster.secret}` } });
  assert.equal(info.status, 200);
  assert.deepEqual(await info.json(), { site: "a", version: 1 });
});
