import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { run, tempDir } from "../helpers.js";
import { startRegistry } from "../registry/harness.js";

/**
 * skopeo (Debian's 1.9.3) pushes and pulls through docker-dedup. The image is an OCI layout
 * written by hand with uncompressed tar layers; `--preserve-digests` keeps them uncompressed on
 * the way up (without it skopeo gzips every layer, see harness.md). Needs the Debian packages
 * skopeo and tar.
 */

const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");


/** An OCI image layout with two uncompressed layers; every run makes new content (see below). */
async function makeLayout(dir: string): Promise<{ layout: string; manifestDigest: string; layers: Buffer[] }> {
  const layout = join(dir, "layout");
  const blobs = join(layout, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const putBlob = async (data: Buffer) => {
    const hex = sha(data);
    await writeFile(join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  // Fresh random content per run: skopeo's blob-info cache (shared by all runs on this machine)
  // remembers where a digest was seen and may skip an upload it thinks is already there.
  const layers: Buffer[] = [];
  for (const [i, files] of [
    [["etc/os-release", Buffer.from(`NAME=test-${Date.now()}\n`)], ["usr/lib/big.bin", createHash("sha512").update(String(Math.random())).digest()]],
    [["app/data.bin", Buffer.concat(Array.from({ length: 2048 }, (_, k) => createHash("sha256").update(`${Math.random()}-${k}`).digest()))]],
  ].entries()) {
    const root = join(dir, `rootfs-${i}`);
    for (const [path, data] of files as [string, Buffer][]) {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), data);
    }
    const tarPath = join(dir, `layer-${i}.tar`);
    await run("tar", ["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-C", root, "-cf", tarPath, "."]);
    layers.push(await readFile(tarPath));
  }
  const layerDescriptors = [];
  for (const layer of layers) layerDescriptors.push({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...(await putBlob(layer)) });
  const config = await putBlob(
    Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", config: { Cmd: ["/bin/sh"] }, rootfs: { type: "layers", diff_ids: layers.map((l) => `sha256:${sha(l)}`) } })),
  );
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config }, layers: layerDescriptors }));
  const manifestDescriptor = await putBlob(manifest);
  await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layout, "index.json"),
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifestDescriptor, annotations: { "org.opencontainers.image.ref.name": "v1" } }] }),
  );
  return { layout, manifestDigest: manifestDescriptor.digest, layers };
}

test("skopeo: gzip push, then uncompressed push with --preserve-digests, inspect, and pulls back byte-exact", { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const { url, logs } = await startRegistry(t);
  const host = new URL(url).host;
  const { layout, manifestDigest, layers } = await makeLayout(dir);

  // The default push gzips the layers: new digests, and the registry takes those too. It runs
  // first: once skopeo's blob-info cache knows the uncompressed layers are here, it mounts
  // them instead of compressing.
  await run("skopeo", ["copy", "--quiet", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${host}/e2e/gzipped:v1`]);
  const gz = JSON.parse(await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${host}/e2e/gzipped:v1`])) as { layers: { mediaType: string; digest: string }[] };
  assert.ok(gz.layers.every((l) => l.mediaType.endsWith("+gzip")));
  await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${host}/e2e/gzipped:v1`, `dir:${join(dir, "pulled-gz")}`]);


  await run("skopeo", ["copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${host}/e2e/image:v1`]);

  const raw = await run("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${host}/e2e/image:v1`]);
  assert.equal(`sha256:${sha(Buffer.from(raw))}`, manifestDigest, "the manifest is stored byte-exact");
  const inspected = JSON.parse(await run("skopeo", ["inspect", "--tls-verify=false", `docker://${host}/e2e/image:v1`])) as { Digest: string; Layers: string[] };
  assert.equal(inspected.Digest, manifestDigest);
  assert.deepEqual(inspected.Layers, layers.map((l) => `sha256:${sha(l)}`));

  // Pull into a dir: (skopeo checks every blob's digest on the way) and compare the layers.
  const pulled = join(dir, "pulled");
  await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${host}/e2e/image:v1`, `dir:${pulled}`]);
  const names = await readdir(pulled);
  for (const layer of layers) {
    assert.ok(names.includes(sha(layer)), "layer pulled under its digest");
    assert.ok((await readFile(join(pulled, sha(layer)))).equals(layer), "layer byte-exact");
  }
  // And into an OCI layout that keeps uncompressed layers.
  await run("skopeo", ["copy", "--quiet", "--src-tls-verify=false", "--dest-oci-accept-uncompressed-layers", `docker://${host}/e2e/image:v1`, `oci:${join(dir, "pulled-oci")}:v1`]);
  for (const layer of layers) assert.ok((await readFile(join(dir, "pulled-oci", "blobs", "sha256", sha(layer)))).equals(layer));

  const tags = (await (await fetch(`${url}/v2/e2e/image/tags/list`)).json()) as { tags: string[] };
  assert.deepEqual(tags.tags, ["v1"]);
  assert.deepEqual(logs, []);
});
