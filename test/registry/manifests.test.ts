import assert from "node:assert/strict";
import { test } from "node:test";
import { randomBytes } from "../helpers.js";
import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  OCI_INDEX,
  OCI_MANIFEST,
  expectError,
  makeImage,
  pushBlob,
  pushManifest,
  sha256,
  startRegistry,
} from "./harness.js";

test("OCI manifest: PUT by tag, then GET/HEAD by tag and by digest, byte-exact with its headers", async (t) => {
  const { url, logs } = await startRegistry(t);
  const image = await makeImage(url, "lib/alpine", { layers: [randomBytes(100_000, 31), randomBytes(5_000, 32)] });
  const put = await pushManifest(url, "lib/alpine", "3.19", image.manifest, OCI_MANIFEST);
  assert.equal(put.status, 201);
  assert.equal(put.headers.get("location"), `/v2/lib/alpine/manifests/${image.digest}`);
  assert.equal(put.headers.get("docker-content-digest"), image.digest);
  assert.equal(put.headers.get("oci-subject"), null);

  for (const reference of ["3.19", image.digest]) {
    const res = await fetch(`${url}/v2/lib/alpine/manifests/${reference}`, { headers: { Accept: OCI_MANIFEST } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), OCI_MANIFEST);
    assert.equal(res.headers.get("docker-content-digest"), image.digest);
    assert.equal(await res.text(), image.manifest, "byte-exact, whitespace included");
    const head = await fetch(`${url}/v2/lib/alpine/manifests/${reference}`, { method: "HEAD", headers: { Accept: OCI_MANIFEST } });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), String(Buffer.byteLength(image.manifest)));
    assert.equal(head.headers.get("docker-content-digest"), image.digest);
  }
  // Pushing the same manifest by digest is idempotent.
  assert.equal((await pushManifest(url, "lib/alpine", image.digest, image.manifest, OCI_MANIFEST)).status, 201);
  assert.deepEqual(logs, []);
});

test("Docker schema2 manifest round trip, and a manifest without mediaType (as umoci writes)", async (t) => {
  const { url } = await startRegistry(t);
  const docker = await makeImage(url, "docker/img", { mediaType: DOCKER_MANIFEST, layerMediaType: "application/vnd.docker.image.rootfs.diff.tar" });
  assert.equal((await pushManifest(url, "docker/img", "v2s2", docker.manifest, DOCKER_MANIFEST)).status, 201);
  let res = await fetch(`${url}/v2/docker/img/manifests/v2s2`, { headers: { Accept: `${DOCKER_MANIFEST}, ${OCI_MANIFEST}` } });
  assert.equal(res.headers.get("content-type"), DOCKER_MANIFEST);
  assert.equal(await res.text(), docker.manifest);

  const bare = await makeImage(url, "docker/img");
  const withoutType = JSON.stringify({ ...JSON.parse(bare.manifest), mediaType: undefined });
  assert.equal((await pushManifest(url, "docker/img", "umoci", withoutType, OCI_MANIFEST)).status, 201);
  res = await fetch(`${url}/v2/docker/img/manifests/umoci`);
  assert.equal(res.headers.get("content-type"), OCI_MANIFEST);
  assert.equal(await res.text(), withoutType);
});

test("OCI index and Docker manifest list: children must be in the repository", async (t) => {
  const { url } = await startRegistry(t);
  const amd = await makeImage(url, "multi");
  const arm = await makeImage(url, "multi");
  for (const image of [amd, arm]) assert.equal((await pushManifest(url, "multi", image.digest, image.manifest, OCI_MANIFEST)).status, 201);
  const entries = [
    { mediaType: OCI_MANIFEST, digest: amd.digest, size: Buffer.byteLength(amd.manifest), platform: { architecture: "amd64", os: "linux" } },
    { mediaType: OCI_MANIFEST, digest: arm.digest, size: Buffer.byteLength(arm.manifest), platform: { architecture: "arm64", os: "linux" } },
  ];
  const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: entries });
  assert.equal((await pushManifest(url, "multi", "latest", index, OCI_INDEX)).status, 201);
  let res = await fetch(`${url}/v2/multi/manifests/latest`, { headers: { Accept: OCI_INDEX } });
  assert.equal(res.headers.get("content-type"), OCI_INDEX);
  assert.equal(await res.text(), index);

  const list = JSON.stringify({ schemaVersion: 2, mediaType: DOCKER_LIST, manifests: entries });
  assert.equal((await pushManifest(url, "multi", "list", list, DOCKER_LIST)).status, 201);
  res = await fetch(`${url}/v2/multi/manifests/list`, { headers: { Accept: DOCKER_LIST } });
  assert.equal(res.headers.get("content-type"), DOCKER_LIST);

  // The same index in a repository that lacks the child manifests.
  const elsewhere = await pushManifest(url, "other", "latest", index, OCI_INDEX);
  await expectError(elsewhere, 400, "MANIFEST_BLOB_UNKNOWN");
});

test("manifest references are checked: missing blobs, sizes, and blobs of other repositories", async (t) => {
  const { url } = await startRegistry(t);
  const image = await makeImage(url, "owner/repo");
  // Another repository cannot reference blobs it never uploaded, even though the store has them.
  await expectError(await pushManifest(url, "thief/repo", "t", image.manifest, OCI_MANIFEST), 400, "MANIFEST_BLOB_UNKNOWN");
  const doc = JSON.parse(image.manifest);
  doc.layers.push({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256("never pushed"), size: 12 });
  const res = await pushManifest(url, "owner/repo", "missing", JSON.stringify(doc), OCI_MANIFEST);
  assert.equal(res.status, 400);
  const body = (await res.json()) as { errors: { code: string; detail: { digest: string } }[] };
  assert.equal(body.errors[0]!.code, "MANIFEST_BLOB_UNKNOWN");
  assert.equal(body.errors[0]!.detail.digest, sha256("never pushed"));

  const wrongSize = JSON.parse(image.manifest);
  wrongSize.layers[0].size += 1;
  await expectError(await pushManifest(url, "owner/repo", "size", JSON.stringify(wrongSize), OCI_MANIFEST), 400, "MANIFEST_INVALID");
  // A foreign layer (fetched from its urls) need not be pushed.
  const foreign = JSON.parse(image.manifest);
  foreign.layers.push({ mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: sha256("elsewhere"), size: 9, urls: ["https://example.invalid/layer"] });
  assert.equal((await pushManifest(url, "owner/repo", "foreign", JSON.stringify(foreign), OCI_MANIFEST)).status, 201);
});

test("malformed, mislabelled, unsupported and oversized manifests are refused", async (t) => {
  const { url } = await startRegistry(t);
  const image = await makeImage(url, "bad");
  const cases: [string, string, number, string][] = [
    ["not json", OCI_MANIFEST, 400, "MANIFEST_INVALID"],
    ["[1,2]", OCI_MANIFEST, 400, "MANIFEST_INVALID"],
    [JSON.stringify({ ...JSON.parse(image.manifest), schemaVersion: 1 }), OCI_MANIFEST, 400, "MANIFEST_INVALID"],
    [JSON.stringify({ ...JSON.parse(image.manifest), layers: "nope" }), OCI_MANIFEST, 400, "MANIFEST_INVALID"],
    [JSON.stringify({ ...JSON.parse(image.manifest), config: { digest: "sha256:short", size: 1, mediaType: "x" } }), OCI_MANIFEST, 400, "MANIFEST_INVALID"],
    [image.manifest, DOCKER_MANIFEST, 400, "MANIFEST_INVALID"], // Content-Type contradicts mediaType
    [JSON.stringify({ ...JSON.parse(image.manifest), mediaType: "application/vnd.docker.distribution.manifest.v1+prettyjws" }), "application/vnd.docker.distribution.manifest.v1+prettyjws", 400, "MANIFEST_INVALID"],
  ];
  for (const [body, type, status, code] of cases) await expectError(await pushManifest(url, "bad", "x", body, type), status, code);

  const huge = JSON.stringify({ ...JSON.parse(image.manifest), annotations: { pad: "x".repeat(4 << 20) } });
  await expectError(await pushManifest(url, "bad", "huge", huge, OCI_MANIFEST), 413, "MANIFEST_INVALID");
  // Nothing was tagged along the way.
  await expectError(await fetch(`${url}/v2/bad/manifests/x`), 404, "MANIFEST_UNKNOWN");
});

test("PUT by digest must match the body; invalid tags and digests are refused", async (t) => {
  const { url } = await startRegistry(t);
  const image = await makeImage(url, "refs");
  await expectError(await pushManifest(url, "refs", sha256("other"), image.manifest, OCI_MANIFEST), 400, "DIGEST_INVALID");
  await expectError(await pushManifest(url, "refs", ".hidden", image.manifest, OCI_MANIFEST), 400, "MANIFEST_INVALID");
  await expectError(await pushManifest(url, "refs", "x".repeat(129), image.manifest, OCI_MANIFEST), 400, "MANIFEST_INVALID");
  await expectError(await fetch(`${url}/v2/refs/manifests/sha256:totallywrong`), 400, "DIGEST_INVALID");
  await expectError(await fetch(`${url}/v2/refs/manifests/.INVALID_MANIFEST_NAME`), 404, "MANIFEST_UNKNOWN");
  await expectError(await fetch(`${url}/v2/refs/manifests/nosuchtag`), 404, "MANIFEST_UNKNOWN");
  assert.equal((await fetch(`${url}/v2/refs/manifests/nosuchtag`, { method: "HEAD" })).status, 404);
});

test("Accept negotiation: the stored type is served unless the client lists only other manifest types", async (t) => {
  const { url } = await startRegistry(t);
  const image = await makeImage(url, "accept");
  await pushManifest(url, "accept", "oci", image.manifest, OCI_MANIFEST);
  const get = (accept?: string) => fetch(`${url}/v2/accept/manifests/oci`, accept === undefined ? {} : { headers: { Accept: accept } });
  for (const ok of [undefined, "*/*", `${DOCKER_MANIFEST}, ${OCI_MANIFEST};q=0.9`, "application/json"]) {
    const res = await get(ok);
    assert.equal(res.status, 200, `Accept: ${ok}`);
    assert.equal(res.headers.get("content-type"), OCI_MANIFEST);
    await res.arrayBuffer();
  }
  await expectError(await get(`${DOCKER_MANIFEST}, ${DOCKER_LIST}`), 404, "MANIFEST_UNKNOWN");
});

test("manifests are per repository: a digest pushed elsewhere is unknown here", async (t) => {
  const { url } = await startRegistry(t);
  const image = await makeImage(url, "mine");
  await pushManifest(url, "mine", "v1", image.manifest, OCI_MANIFEST);
  await expectError(await fetch(`${url}/v2/yours/manifests/${image.digest}`), 404, "MANIFEST_UNKNOWN");
  // Nor is a manifest served as a blob.
  await expectError(await fetch(`${url}/v2/mine/blobs/${image.digest}`), 404, "BLOB_UNKNOWN");
});

test("DELETE by tag removes the tag; DELETE by digest removes the manifest and all its tags", async (t) => {
  const { url } = await startRegistry(t);
  const image = await makeImage(url, "del");
  for (const tag of ["a", "b", "c"]) await pushManifest(url, "del", tag, image.manifest, OCI_MANIFEST);
  assert.equal((await fetch(`${url}/v2/del/manifests/a`, { method: "DELETE" })).status, 202);
  await expectError(await fetch(`${url}/v2/del/manifests/a`), 404, "MANIFEST_UNKNOWN");
  await expectError(await fetch(`${url}/v2/del/manifests/a`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
  assert.equal((await fetch(`${url}/v2/del/manifests/b`)).status, 200);

  assert.equal((await fetch(`${url}/v2/del/manifests/${image.digest}`, { method: "DELETE" })).status, 202);
  for (const reference of ["b", "c", image.digest]) await expectError(await fetch(`${url}/v2/del/manifests/${reference}`), 404, "MANIFEST_UNKNOWN");
  await expectError(await fetch(`${url}/v2/del/manifests/${image.digest}`, { method: "DELETE" }), 404, "MANIFEST_UNKNOWN");
  const tags = (await (await fetch(`${url}/v2/del/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, []);
  // Its blobs stay linked: deleting a manifest does not delete layers other manifests may use.
  assert.equal((await fetch(`${url}/v2/del/blobs/${image.blobs[0]}`, { method: "HEAD" })).status, 200);
});

test("a re-tag moves the tag to the new manifest", async (t) => {
  const { url } = await startRegistry(t);
  const one = await makeImage(url, "retag");
  const two = await makeImage(url, "retag", { layers: [await randomLayer(url)] });
  await pushManifest(url, "retag", "latest", one.manifest, OCI_MANIFEST);
  await pushManifest(url, "retag", "latest", two.manifest, OCI_MANIFEST);
  const res = await fetch(`${url}/v2/retag/manifests/latest`, { method: "HEAD" });
  assert.equal(res.headers.get("docker-content-digest"), two.digest);
  assert.equal((await fetch(`${url}/v2/retag/manifests/${one.digest}`, { method: "HEAD" })).status, 200, "the old manifest stays by digest");

  async function randomLayer(base: string): Promise<Buffer> {
    const layer = randomBytes(1234, 33);
    await pushBlob(base, "retag", layer);
    return layer;
  }
});
