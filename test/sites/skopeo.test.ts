import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { eventually, randomBytes, run, tempDir } from "../helpers.js";
import { makeImage, OCI_MANIFEST, pushManifest } from "../registry/harness.js";
import { SITE_WAIT_MS, hasTag, siteCluster } from "./site-harness.js";

/** A real client (skopeo, Debian's package) pulls at one site an image pushed at another. */
test("skopeo pulls at site b an image pushed at site a, every blob digest checked", { timeout: 180_000 }, async (t) => {
  const dir = await tempDir(t);
  const cluster = await siteCluster(t, ["a", "b"]);
  const a = await cluster.start("a");
  const b = await cluster.start("b");
  const layers = [randomBytes(3 << 20, 61), randomBytes(1 << 20, 62)];
  const image = await makeImage(a.url, "e2e/sites", { layers });
  assert.equal((await pushManifest(a.url, "e2e/sites", "v1", image.manifest, OCI_MANIFEST)).status, 201);
  await eventually(async () => assert.ok(await hasTag(b.url, "e2e/sites", "v1"), "b lists the tag"), SITE_WAIT_MS);

  const pulled = join(dir, "pulled");
  await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${new URL(b.url).host}/e2e/sites:v1`, `dir:${pulled}`]);
  assert.equal(await readFile(join(pulled, "manifest.json"), "utf8"), image.manifest);
  for (const [i, layer] of layers.entries()) {
    assert.ok((await readFile(join(pulled, image.blobs[i + 1]!.slice("sha256:".length)))).equals(layer), `layer ${i} byte-exact`);
  }
});
