import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gzipFormKey } from "../../src/layers/gzip/form.js";
import { GZIP_PENDING_PREFIX } from "../../src/layers/gzip/convert.js";
import { openStore } from "../../src/store/open.js";
import { blobsOver } from "../blobs.js";
import { gzipWith } from "../deflate/gzipper.js";
import { realTar } from "../deflate/zlib-inputs.js";
import { eventually, fromPieces, tempDir } from "../helpers.js";
import { asBody, makeImage, OCI_MANIFEST, openUpload, patchChunk, pullBlob, pushBlob, pushManifest, serveCli, sha256, startRegistry } from "./harness.js";

/**
 * gzip layers pushed to the registry are stored as their content once the push is acknowledged,
 * and pull back byte-exact, whole and in ranges, however they were pushed.
 */

test("gzip layers pushed in one request, in one PATCH and in several come back byte-exact, stored as their content", async (t) => {
  const registry = await startRegistry(t);
  const tar = await realTar(await tempDir(t), 6 << 20);
  const docker = await gzipWith({ encoder: "stdlib", level: 6 }, tar);
  const skopeo = await gzipWith({ encoder: "pgzip", level: -1, block: 1 << 20 }, tar);
  const image = await makeImage(registry.url, "gz/app", { layers: [docker], layerMediaType: "application/vnd.oci.image.layer.v1.tar+gzip" });
  assert.equal((await pushManifest(registry.url, "gz/app", "v1", image.manifest, OCI_MANIFEST)).status, 201);
  // The same tar compressed by skopeo's pgzip, pushed in three PATCHes.
  const location = await openUpload(registry.url, "gz/app");
  const cuts = [0, 1_000_000, 3_000_001, skopeo.length];
  for (let i = 0; i + 1 < cuts.length; i++) assert.equal((await patchChunk(registry.url, location, skopeo.subarray(cuts[i], cuts[i + 1]), cuts[i])).status, 202);
  assert.equal((await fetch(`${registry.url}${location}?digest=${sha256(skopeo)}`, { method: "PUT" })).status, 201);
  // Level 9 in one PATCH, as docker and skopeo push: the part is stored under the blob's own digest.
  const single = await gzipWith({ encoder: "stdlib", level: 9 }, tar);
  const one = await openUpload(registry.url, "gz/app");
  assert.equal((await patchChunk(registry.url, one, single, 0)).status, 202);
  assert.equal((await fetch(`${registry.url}${one}?digest=${sha256(single)}`, { method: "PUT" })).status, 201);

  await registry.blobs.conversionsSettled();
  for (const gzip of [docker, skopeo, single]) {
    assert.ok((await registry.store.getMeta(gzipFormKey(sha256(gzip)))) !== undefined, "stored as its content");
    assert.equal(await registry.store.getRecipe(sha256(gzip)), undefined, "the compressed bytes' recipe is gone");
    assert.ok((await pullBlob(registry.url, "gz/app", sha256(gzip))).equals(gzip), "pulls back byte-exact");
    const head = await fetch(`${registry.url}/v2/gz/app/blobs/${sha256(gzip)}`, { method: "HEAD" });
    assert.equal(head.headers.get("content-length"), String(gzip.length));
    const range = await fetch(`${registry.url}/v2/gz/app/blobs/${sha256(gzip)}`, { headers: { Range: "bytes=1000-200999" } });
    assert.equal(range.status, 206);
    assert.ok(Buffer.from(await range.arrayBuffer()).equals(gzip.subarray(1000, 201_000)));
  }
  // The three compressions are stored as one content: the tar's.
  for (const gzip of [docker, skopeo, single]) {
    assert.equal(JSON.parse((await registry.store.getMeta(gzipFormKey(sha256(gzip))))!.toString()).content, sha256(tar));
  }
  assert.equal((await registry.blobs.summary()).gzip.asContent, 3);
  assert.deepEqual(registry.logs.filter((line) => !line.startsWith("gzip ")), []);
});

test("a serve started over a store with gzip layers still to convert converts them; the next start warms their encoder up", async (t) => {
  const dir = await tempDir(t);
  const location = join(dir, "store");
  const gzip = await gzipWith({ encoder: "stdlib", level: 6 }, await realTar(dir, 2 << 20));
  {
    // As a crash after the push's acknowledgment leaves it: the blob stored, its mark set.
    const store = await openStore(location, { create: true });
    const blobs = blobsOver(t, store);
    await blobs.ingest(fromPieces([gzip]), { convert: false });
    await store.putMeta(GZIP_PENDING_PREFIX + sha256(gzip), Buffer.alloc(0));
    await blobs.close();
    await store.close();
  }
  const serve = await serveCli(t, ["--store", location]);
  await eventually(async () => assert.match(serve.stderr(), /gzip sha256:[0-9a-f]{64}: stored as its content/), 60_000);
  assert.match(serve.stderr(), /converting 1 gzip layers left from before the last stop/);
  // The conversion keeps the layer in the store directory's gzip cache, where its pulls find it.
  const url = `${serve.url}/v2/gz/app/blobs/${sha256(gzip)}`;
  assert.equal((await fetch(url)).status, 404, "no repository links it yet");
  await pushBlob(serve.url, "gz/app", gzip); // already stored: the push only links it
  assert.ok(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(gzip));
  assert.deepEqual((await readdir(join(location, "gzip-cache"))).sort(), [sha256(gzip).slice(7), `${sha256(gzip).slice(7)}.sums`]);
  serve.child.kill("SIGTERM");
  await serve.exited;
  // The next start warms the layer's encoder up before a pull needs it.
  const again = await serveCli(t, ["--store", location, "--gzip-cache-mb", "0"]);
  await eventually(async () => assert.match(again.stderr(), /gzip encoders warmed up in [\d.]+ s: go-flate-1\.8\.\.1\.26 level 6\b/), 60_000);
  assert.ok(Buffer.from(await (await fetch(`${again.url}/v2/gz/app/blobs/${sha256(gzip)}`)).arrayBuffer()).equals(gzip), "re-created after it");
  again.child.kill("SIGTERM");
  await again.exited;
  const store = await openStore(location);
  t.after(() => store.close());
  assert.ok((await store.getMeta(gzipFormKey(sha256(gzip)))) !== undefined);
  assert.equal(await store.getMeta(GZIP_PENDING_PREFIX + sha256(gzip)), undefined);
  const blobs = blobsOver(t, store);
  const back = await blobs.readAll(sha256(gzip));
  assert.ok(back?.equals(gzip));
});
