import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import assert from "node:assert/strict";
import { tempDir } from "../helpers.js";
import { asBody, OCI_LAYER, OCI_MANIFEST, sha256 } from "../registry/harness.js";

/**
 * Debian's `docker-registry` (CNCF distribution 2.8.2), started on a free loopback port with
 * filesystem storage and deletes enabled, as ../shared/research/harness.md describes. Needs the
 * Debian package docker-registry.
 */
export async function startReferenceRegistry(t: { after(fn: () => unknown): void }): Promise<{ url: string; process: ChildProcess; dataDir: string }> {
  const dir = await tempDir(t);
  const port = await freePort();
  const config = join(dir, "config.yml");
  await writeFile(
    config,
    referenceRegistryConfig(join(dir, "data"), port),
  );
  const child = spawn("docker-registry", ["serve", config], { stdio: ["ignore", "ignore", "pipe"] });
  const started = new Promise<void>((resolve, reject) => {
    child.once("spawn", () => resolve());
    child.once("error", (error: NodeJS.ErrnoException) =>
      reject(error.code === "ENOENT" ? new Error("docker-registry is not installed: apt-get install docker-registry") : error),
    );
  });
  await started;
  let log = "";
  child.stderr!.on("data", (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  t.after(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${log}`);
    try {
      if ((await fetch(`${url}/v2/`)).status === 200) return { url, process: child, dataDir: join(dir, "data") };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not start: ${log}`);
}

/** A port nothing listens on right now (the kernel's pick, released again). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** docker-registry's config: filesystem storage in `dataDir`, deletes on, quiet, on 127.0.0.1:port. */
export function referenceRegistryConfig(dataDir: string, port: number): string {
  return [
    "version: 0.1",
    "log: {level: warn, accesslog: {disabled: true}}",
    "storage:",
    `  filesystem: {rootdirectory: ${dataDir}}`,
    "  delete: {enabled: true}",
    "  cache: {blobdescriptor: inmemory}",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "",
  ].join("\n");
}

/**
 * An image pushed to a registry (this one or distribution, which has no monolithic POST) with
 * optional auth, tagged `tag`: manifest text, digest and blobs.
 */
export async function pushImage(url: string, name: string, tag: string, layers: Buffer[], auth?: string): Promise<{ manifest: string; digest: string; blobs: Map<string, Buffer> }> {
  const headers: Record<string, string> = auth === undefined ? {} : { Authorization: auth };
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, salt: Math.random() }));
  const blobs = new Map<string, Buffer>();
  for (const blob of [config, ...layers]) {
    const digest = sha256(blob);
    blobs.set(digest, blob);
    // CNCF distribution 2.8 has no monolithic POST: open a session, then PUT the bytes.
    const started = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: "POST", headers });
    assert.equal(started.status, 202, await started.text());
    const location = new URL(started.headers.get("location")!, url);
    location.searchParams.set("digest", digest);
    const res = await fetch(location, { method: "PUT", body: asBody(blob), headers: { ...headers, "Content-Type": "application/octet-stream" } });
    assert.equal(res.status, 201, await res.text());
  }
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: sha256(l), size: l.length })),
  });
  const res = await fetch(`${url}/v2/${name}/manifests/${tag}`, { method: "PUT", body: manifest, headers: { ...headers, "Content-Type": OCI_MANIFEST } });
  assert.equal(res.status, 201, await res.text());
  return { manifest, digest: sha256(manifest), blobs };
}
