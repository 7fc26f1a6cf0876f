import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeGzipForm, encodeGzipForm, gzipFormKey } from "../../src/layers/gzip/form.js";
import { distinctChunks, type Recipe } from "../../src/store/recipe.js";
import type { Store } from "../../src/store/types.js";
import type { ReplicateEvent, SiteStatus } from "../../src/sites/wire/operator-calls.js";
import { gzipWith } from "../deflate/gzipper.js";
import { realTar } from "../deflate/zlib-inputs.js";
import { eventually, randomBytes, tempDir } from "../helpers.js";
import { makeImage, OCI_MANIFEST, pullBlob, pushManifest, sha256 } from "../registry/harness.js";
import { inProcessCluster, type InProcessCluster, type InProcessSite } from "./in-process-sites.js";
import { hasTag, SITE_WAIT_MS, slowLink } from "./site-harness.js";

/**
 * A gzip layer that a site converted (stored as its content, the uncompressed tar, plus a small
 * form that writes the gzip bytes again) travels between sites as what it is stored as: the
 * content's missing chunks and the form, never the compressed bytes.
 */

const GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

/** Pushes an image of these layers as name:tag. */
async function pushImage(site: InProcessSite, name: string, tag: string, layers: Buffer[], layerMediaType?: string): Promise<{ manifest: string; digest: string; blobs: string[] }> {
  const image = await makeImage(site.url, name, { layers, ...(layerMediaType === undefined ? {} : { layerMediaType }) });
  const res = await pushManifest(site.url, name, tag, image.manifest, OCI_MANIFEST);
  assert.equal(res.status, 201, await res.text());
  return image;
}

/** `docker-dedup replicate name:tag` at site `to`: its events, the last one checked to be `done`. */
async function replicate(cluster: InProcessCluster, to: string, name: string, tag: string): Promise<Extract<ReplicateEvent, { type: "done" }>> {
  const res = await cluster.peerCall(to, "replicate", { method: "POST", body: JSON.stringify({ repository: name, reference: tag }), headers: { "Content-Type": "application/json" } });
  assert.equal(res.status, 200);
  const events = (await res.text())
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as ReplicateEvent);
  const last = events.at(-1)!;
  assert.equal(last.type, "done", JSON.stringify(last));
  return last as Extract<ReplicateEvent, { type: "done" }>;
}

/** Plain bytes of the distinct chunks of `recipe` that `store` lacks. */
async function lackedBytes(store: Store, recipe: Recipe): Promise<number> {
  const unique = distinctChunks([recipe]);
  const held = await store.hasChunks(unique.ids);
  return unique.lengths.reduce((sum, length, u) => sum + (held[u] ? 0 : length), 0);
}

/** A site's log lines that say a fetch went wrong (a peer that is down, as the test made it, is not trouble). */
function troubles(site: InProcessSite): string[] {
  return site.logs.filter((line) => /failed|corrupt|do not match|not stored|accepts|does not write/.test(line) && !/ECONNREFUSED/.test(line));
}

async function recipeDigests(store: Store): Promise<Set<string>> {
  const digests = new Set<string>();
  for await (const recipe of store.scanRecipes()) digests.add(recipe.digest);
  return digests;
}

async function status(cluster: InProcessCluster, site: string, image: string): Promise<SiteStatus> {
  const res = await cluster.peerCall(site, `status?image=${encodeURIComponent(image)}`);
  assert.equal(res.status, 200);
  return (await res.json()) as SiteStatus;
}

/** A gzip layer of real tar data, pushed at `site` as name:tag and converted there. */
async function convertedGzipImage(t: { after(fn: () => unknown): void }, site: InProcessSite, name: string, tarBytes: number) {
  const tar = await realTar(await tempDir(t), tarBytes);
  const gzip = await gzipWith({ encoder: "stdlib", level: 6 }, tar);
  const image = await pushImage(site, name, "v1", [gzip], GZIP_LAYER);
  await site.blobs.conversionsSettled();
  const layer = sha256(gzip);
  const content = sha256(tar);
  assert.ok((await site.local.getMeta(gzipFormKey(layer))) !== undefined, `${site.name} stores the layer as its content`);
  assert.equal(await site.local.getRecipe(layer), undefined, "the compressed bytes' recipe is gone");
  const contentRecipe = await site.local.getRecipe(content);
  assert.ok(contentRecipe !== undefined);
  return { tar, gzip, image, layer, content, contentRecipe };
}

test("a converted gzip layer replicates as its content's chunks and its form, pulls back byte-exact, and another site pulls it from there", async (t) => {
  const cluster = await inProcessCluster(t, ["a", "b", "c"]);
  const a = await cluster.start("a");
  const b = await cluster.start("b");
  const { gzip, image, layer, content, contentRecipe } = await convertedGzipImage(t, a, "gz/app", 6 << 20);
  const config = image.blobs[0]!;
  const manifest = image.digest;
  const small = Buffer.byteLength(image.manifest) + (await a.local.getRecipe(config))!.size;

  await eventually(async () => assert.ok(await hasTag(b.url, "gz/app", "v1"), "b lists the tag pushed at a"), SITE_WAIT_MS);
  const lacked = await lackedBytes(b.local, contentRecipe);
  assert.ok(lacked > 0 && lacked <= contentRecipe.size);
  const done = await replicate(cluster, "b", "gz/app", "v1");
  // What moved is the content's chunks (and the manifest and config), not the compressed bytes.
  assert.equal(done.lacked, lacked + small, JSON.stringify(done));
  assert.equal(done.fetched, lacked + small, JSON.stringify(done));

  // b stores the layer as a converted site does: its form and its content, no compressed bytes.
  const form = await b.local.getMeta(gzipFormKey(layer));
  assert.ok(form !== undefined, "b holds the layer's form");
  assert.equal(decodeGzipForm(layer, form).content, content);
  assert.deepEqual(await recipeDigests(b.local), new Set([manifest, config, content]));
  assert.deepEqual(await b.local.hasChunks(contentRecipe.ids), contentRecipe.ids.map(() => true));
  assert.equal((await b.blobs.summary()).gzip.asContent, 1);

  // Both sites count the layer whole: b holds it, and announced that it does.
  await eventually(async () => {
    const report = await status(cluster, "a", "gz/app:v1");
    const [one] = report.images;
    assert.ok(one !== undefined && one.error === undefined, JSON.stringify(report));
    assert.deepEqual(one.held.b, { bytes: one.bytes, blobs: 3, source: "live" });
  }, SITE_WAIT_MS);
  const atB = (await status(cluster, "b", "gz/app:v1")).images[0]!;
  assert.equal(atB.bytes, small + gzip.length);
  assert.deepEqual(atB.held.b, { bytes: atB.bytes, blobs: 3, source: "live" });
  assert.deepEqual(atB.held.a, { bytes: atB.bytes, blobs: 3, source: "live" });

  // With a gone, b serves the layer from what it holds, byte-exact, whole and in ranges.
  await a.stop();
  assert.ok((await pullBlob(b.url, "gz/app", layer)).equals(gzip));
  const head = await fetch(`${b.url}/v2/gz/app/blobs/${layer}`, { method: "HEAD" });
  assert.equal(head.headers.get("content-length"), String(gzip.length));
  const range = await fetch(`${b.url}/v2/gz/app/blobs/${layer}`, { headers: { Range: "bytes=100000-299999" } });
  assert.equal(range.status, 206);
  assert.ok(Buffer.from(await range.arrayBuffer()).equals(gzip.subarray(100_000, 300_000)));

  // A site that lacks the layer pulls it from b at once (streamed while the content arrives),
  // and holds it as b does afterwards. (It keeps re-created layers on disk, as serve does: the
  // pull fills that cache while the fetch goes on.)
  const c = await cluster.start("c", { gzipCache: true });
  await eventually(async () => assert.ok(await hasTag(c.url, "gz/app", "v1"), "c lists the tag"), SITE_WAIT_MS);
  assert.ok((await pullBlob(c.url, "gz/app", layer)).equals(gzip));
  await eventually(async () => assert.ok((await c.local.getMeta(gzipFormKey(layer))) !== undefined, "c holds the form"), SITE_WAIT_MS);
  assert.equal(await c.local.getRecipe(layer), undefined);
  assert.ok((await c.local.getRecipe(content)) !== undefined);
  assert.ok((await pullBlob(c.url, "gz/app", layer)).equals(gzip));
  for (const site of [b, c]) assert.deepEqual(troubles(site), [], site.name);
});

test("a converted gzip layer whose tar a site holds nearly all of, uncompressed, costs that site only the chunks it lacks", async (t) => {
  const cluster = await inProcessCluster(t, ["a", "b"]);
  const aPort = Number(new URL(cluster.peerUrls.get("a")!).port);
  const link = await slowLink(t, aPort, 1 << 30); // counts the bytes from a to b, no real limit
  cluster.peerUrls.set("a", link.url);
  const a = await cluster.start("a");
  const b = await cluster.start("b");
  const { gzip, image, layer, content, contentRecipe } = await convertedGzipImage(t, a, "gz/app", 6 << 20);
  // b's own image: the same tar with its last 256 KiB changed, pushed uncompressed.
  const tar = await realTar(await tempDir(t), 6 << 20);
  const edited = Buffer.concat([tar.subarray(0, tar.length - (256 << 10)), randomBytes(256 << 10, 91)]);
  await pushImage(b, "tar/app", "v1", [edited]);

  await eventually(async () => assert.ok(await hasTag(b.url, "gz/app", "v1"), "b lists the tag pushed at a"), SITE_WAIT_MS);
  const lacked = await lackedBytes(b.local, contentRecipe);
  assert.ok(lacked > 0 && lacked < contentRecipe.size / 8, `b lacks ${lacked} of ${contentRecipe.size} bytes of the content`);
  const before = link.forwarded;
  const done = await replicate(cluster, "b", "gz/app", "v1");
  const small = Buffer.byteLength(image.manifest) + (await a.local.getRecipe(image.blobs[0]!))!.size;
  assert.equal(done.lacked, lacked + small, JSON.stringify(done));
  assert.equal(done.fetched, lacked + small, JSON.stringify(done));
  // On the wire: those chunks, the recipes, the form, and the change log's polls; nowhere near the layer.
  const moved = link.forwarded - before;
  assert.ok(moved < lacked + gzip.length / 8, `${moved} bytes from a for a ${gzip.length}-byte layer of which b lacked ${lacked} bytes`);
  assert.ok((await b.local.getMeta(gzipFormKey(layer))) !== undefined);
  assert.equal(await b.local.getRecipe(layer), undefined);
  assert.ok((await b.local.getRecipe(content)) !== undefined);
  assert.ok((await pullBlob(b.url, "gz/app", layer)).equals(gzip));

  // The same tar as skopeo compresses it (pgzip): another layer, the same content. b holds the
  // content already, so only the form moves; nothing of the layer's chunks does.
  const skopeo = await gzipWith({ encoder: "pgzip", level: -1, block: 1 << 20 }, tar);
  const third = await pushImage(a, "gz/again", "v1", [skopeo], GZIP_LAYER);
  await a.blobs.conversionsSettled();
  assert.equal(decodeGzipForm(sha256(skopeo), (await a.local.getMeta(gzipFormKey(sha256(skopeo))))!).members[0]!.encoder.family, "pgzip");
  await eventually(async () => assert.ok(await hasTag(b.url, "gz/again", "v1"), "b lists the tag"), SITE_WAIT_MS);
  const beforeAgain = link.forwarded;
  const again = await replicate(cluster, "b", "gz/again", "v1");
  const againSmall = Buffer.byteLength(third.manifest) + (await a.local.getRecipe(third.blobs[0]!))!.size;
  assert.equal(again.lacked, againSmall, JSON.stringify(again));
  assert.ok(link.forwarded - beforeAgain < skopeo.length / 8, `${link.forwarded - beforeAgain} bytes from a for a ${skopeo.length}-byte layer whose content b held`);
  assert.ok((await b.local.getMeta(gzipFormKey(sha256(skopeo)))) !== undefined);
  assert.ok((await pullBlob(b.url, "gz/again", sha256(skopeo))).equals(skopeo));
  // Pushed as gzip or not, the tar is one content at b.
  assert.equal((await b.blobs.summary()).gzip.asContent, 2);
  assert.deepEqual(troubles(b), []);
});

test("a form that does not write its layer is refused: the replication fails with the reason, nothing is stored, and the site goes on", async (t) => {
  const cluster = await inProcessCluster(t, ["a", "b"]);
  const a = await cluster.start("a");
  const b = await cluster.start("b");
  const { layer, content } = await convertedGzipImage(t, a, "gz/bad", 2 << 20);
  // The peer API: the layer's recipe is not found, as before forms; its form is.
  assert.equal((await cluster.peerCall("a", `recipes/${layer}`)).status, 404);
  const served = await cluster.peerCall("a", `forms/${layer}`);
  assert.equal(served.status, 200);
  assert.equal(decodeGzipForm(layer, Buffer.from(await served.arrayBuffer())).content, content);
  assert.equal((await cluster.peerCall("a", `forms/${content}`)).status, 404);
  assert.equal((await cluster.peerCall("a", "forms/sha256:nothex")).status, 400);
  // a's form is damaged: another level of the same encoder (one the layer's header allows).
  const form = decodeGzipForm(layer, (await a.local.getMeta(gzipFormKey(layer)))!);
  const level = form.members[0]!.encoder.level;
  form.members[0]!.encoder = { ...form.members[0]!.encoder, level: level === 6 ? 5 : 6 } as typeof form.members[0]["encoder"];
  delete form.members[0]!.checkpoints;
  await a.local.putMeta(gzipFormKey(layer), encodeGzipForm(form));

  await eventually(async () => assert.ok(await hasTag(b.url, "gz/bad", "v1"), "b lists the tag"), SITE_WAIT_MS);
  const res = await cluster.peerCall("b", "replicate", { method: "POST", body: JSON.stringify({ repository: "gz/bad", reference: "v1" }), headers: { "Content-Type": "application/json" } });
  const last = JSON.parse((await res.text()).trim().split("\n").at(-1)!) as ReplicateEvent;
  assert.equal(last.type, "error");
  assert.match((last as { message: string }).message, new RegExp(`^peer a's form of gzip layer ${layer} does not write it: re-created from its content ${content}, it has digest sha256:[0-9a-f]{64}$`));
  assert.equal(await b.local.getMeta(gzipFormKey(layer)), undefined, "b stores no form that failed");
  // The content itself was right: b keeps it (its digest verified).
  assert.ok((await b.local.getRecipe(content)) !== undefined);
  // A pull fails rather than serve bytes that are not the layer.
  await assert.rejects(pullBlob(b.url, "gz/bad", layer));
  // The site still answers.
  assert.equal((await status(cluster, "b", "gz/bad:v1")).site, "b");

  // A form no converter here would have proven (Go's level 1, which the header's XFL rules out) is
  // refused as it arrives, before anything re-creates it. (One the library cannot run at all, a pgzip
  // block size of -1, a's own store already refuses to read: peer-form.test.ts.)
  form.members[0]!.encoder = { family: "go", level: 1 };
  await a.local.putMeta(gzipFormKey(layer), encodeGzipForm(form));
  // The failed fetch of the first form may still be settling (its own re-creation runs beside the
  // replication's); a replication meanwhile joins it and reports its failure. Once it is over:
  await eventually(async () => {
    const again = await cluster.peerCall("b", "replicate", { method: "POST", body: JSON.stringify({ repository: "gz/bad", reference: "v1" }), headers: { "Content-Type": "application/json" } });
    const refused = JSON.parse((await again.text()).trim().split("\n").at(-1)!) as ReplicateEvent;
    assert.equal(refused.type, "error");
    assert.match((refused as { message: string }).message, new RegExp(`no peer offered ${layer} in a form this site accepts: peer a sent a gzip form of ${layer} that names encoder .*, not one its header allows`));
  }, SITE_WAIT_MS);
  assert.equal(await b.local.getMeta(gzipFormKey(layer)), undefined);
  assert.equal((await fetch(`${b.url}/v2/gz/bad/blobs/${layer}`, { method: "HEAD" })).status, 404);
  assert.equal((await status(cluster, "b", "gz/bad:v1")).site, "b");
});
