import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createRegistryServer, type RegistryOptions, type RegistryServer } from "../../src/registry/app.js";
import { keys } from "../../src/registry/keys.js";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/types.js";
import { CLI, eventually, tempDir } from "../helpers.js";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";

export interface TestRegistry {
  /** `http://127.0.0.1:<port>` */
  url: string;
  store: Store;
  blobs: BlobService;
  server: RegistryServer;
  /** Server-side log lines, to assert that nothing failed on the server. */
  logs: string[];
}

/**
 * A real registry on a free loopback port over a fresh embedded store, stopped when the test
 * ends; `options` as createRegistryServer's.
 */
export async function startRegistry(
  t: { after(fn: () => unknown): void },
  options: Omit<RegistryOptions, "store" | "blobs" | "log"> = {},
  { chunkCacheBytes = 64 << 20 } = {},
): Promise<TestRegistry> {
  const dir = await tempDir(t);
  const store = await openStore(join(dir, "store"), { create: true });
  const parts = new BlobParts({ chunkCacheBytes });
  const blobs = new BlobService(store, parts);
  const logs: string[] = [];
  const server = createRegistryServer({ ...options, store, blobs, log: (line) => logs.push(line) });
  await new Promise<void>((resolve) => server.server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  t.after(async () => {
    server.server.closeAllConnections();
    await server.close();
    await parts.close();
    await store.close();
  });
  return { url: `http://127.0.0.1:${port}`, store, blobs, server, logs };
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

/** A request body from bytes or text (fetch's types take no Node Buffer). */
export function asBody(data: Uint8Array | string): string | Uint8Array<ArrayBuffer> {
  return typeof data === "string" ? data : new Uint8Array(data);
}

/** The first error of a spec error body, after checking the envelope's shape. */
export async function errorOf(res: Response): Promise<{ code: string; message: string; detail: unknown }> {
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = (await res.json()) as { errors: { code: string; message: string; detail: unknown }[] };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, "errors array");
  const [first] = body.errors;
  assert.equal(typeof first!.code, "string");
  assert.equal(typeof first!.message, "string");
  assert.doesNotMatch(first!.message, /\n\s+at /, "no stack trace in a response");
  return first!;
}

/** Asserts a spec error answer: status and code. */
export async function expectError(res: Response, status: number, code: string): Promise<void> {
  assert.equal(res.status, status, `status of ${res.url}`);
  assert.equal((await errorOf(res)).code, code);
}

/** Pushes a blob in one POST (?digest=) and checks the 201. */
export async function pushBlob(url: string, name: string, data: Uint8Array): Promise<string> {
  const digest = sha256(data);
  const res = await fetch(`${url}/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: "POST",
    body: asBody(data),
    headers: { "Content-Type": "application/octet-stream" },
  });
  assert.equal(res.status, 201, await res.text());
  assert.equal(res.headers.get("docker-content-digest"), digest);
  return digest;
}

export async function pushManifest(url: string, name: string, reference: string, body: string | Buffer, mediaType: string): Promise<Response> {
  return fetch(`${url}/v2/${name}/manifests/${reference}`, { method: "PUT", body: asBody(body), headers: { "Content-Type": mediaType } });
}

/** Makes every test config unique, so that tests never share blobs by accident. */
let configSalt = 0;

/** An image: a config and layers pushed to `name`, and the manifest text that names them. */
export async function makeImage(
  url: string,
  name: string,
  options: { layers?: Buffer[]; mediaType?: string; configMediaType?: string; layerMediaType?: string; extra?: Record<string, unknown> } = {},
): Promise<{ manifest: string; digest: string; blobs: string[] }> {
  const mediaType = options.mediaType ?? OCI_MANIFEST;
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] }, salt: ++configSalt }));
  const layers = options.layers ?? [Buffer.from("layer bytes")];
  const configDigest = await pushBlob(url, name, config);
  const layerDigests: string[] = [];
  for (const layer of layers) layerDigests.push(await pushBlob(url, name, layer));
  const manifest = JSON.stringify(
    {
      schemaVersion: 2,
      mediaType,
      config: { mediaType: options.configMediaType ?? (mediaType === DOCKER_MANIFEST ? "application/vnd.docker.container.image.v1+json" : OCI_CONFIG), digest: configDigest, size: config.length },
      layers: layers.map((layer, i) => ({ mediaType: options.layerMediaType ?? OCI_LAYER, digest: layerDigests[i], size: layer.length })),
      ...options.extra,
    },
    null,
    3,
  );
  return { manifest, digest: sha256(manifest), blobs: [configDigest, ...layerDigests] };
}

export interface ServeProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

/**
 * Starts `docker-dedup serve ARGS --listen LISTEN` (a free loopback port by default); resolves with
 * its URL once it listens, and once its stderr also matches `until`, if given (a site's peer API).
 */
export async function serveCli(t: { after(fn: () => unknown): void }, args: string[], options: { listen?: string; until?: RegExp; env?: Record<string, string> } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [CLI, "serve", ...args, "--listen", options.listen ?? "127.0.0.1:0"], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...options.env } });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(() => child.kill("SIGKILL"));
  let stderr = "";
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on("data", (data) => {
      stderr += data;
      const match = /registry listening on (https?:\/\/\S+)/.exec(stderr);
      if (match && (options.until === undefined || options.until.test(stderr))) resolve(match[1]!);
    });
    child.on("exit", () => reject(new Error(`serve exited: ${stderr}`)));
  });
  return { url, child, exited, stderr: () => stderr };
}

/** POST /v2/<name>/blobs/uploads/: opens an upload session and checks the answer; its Location. */
export async function openUpload(url: string, name: string): Promise<string> {
  const res = await fetch(`${url}/v2/${name}/blobs/uploads/`, { method: "POST" });
  assert.equal(res.status, 202);
  const location = res.headers.get("location");
  assert.match(location ?? "", new RegExp(`^/v2/${name}/blobs/uploads/[0-9a-f-]{36}$`));
  assert.equal(res.headers.get("range"), "0-0");
  assert.equal(res.headers.get("docker-upload-uuid"), location!.split("/").pop());
  return location!;
}

/** PATCHes one chunk of an upload; with `start`, under a Content-Range. */
export function patchChunk(url: string, location: string, chunk: Uint8Array, start?: number): Promise<Response> {
  const headers: Record<string, string> = { "Content-Type": "application/octet-stream" };
  if (start !== undefined) headers["Content-Range"] = `${start}-${start + chunk.length - 1}`;
  return fetch(`${url}${location}`, { method: "PATCH", body: asBody(chunk), headers });
}

/** Upload session records in a store, expired or not. */
export async function uploadRecordsIn(store: Store): Promise<number> {
  let count = 0;
  for await (const _ of store.scanMeta(keys.uploadPrefix)) count++;
  return count;
}

/** GET a blob, expecting 200; its bytes. */
export async function pullBlob(url: string, name: string, digest: string): Promise<Buffer> {
  const res = await fetch(`${url}/v2/${name}/blobs/${digest}`);
  assert.equal(res.status, 200, `GET ${digest} from ${url}`);
  return Buffer.from(await res.arrayBuffer());
}

/** `count` serve processes on one store: frontends of one registry. */
export async function startFrontends(t: { after(fn: () => unknown): void }, store: string, count: number): Promise<ServeProcess[]> {
  return Promise.all(Array.from({ length: count }, () => serveCli(t, ["--store", store])));
}

/** While the frontend's store is down: a blob GET and a push both answer 503 UNAVAILABLE, and the frontend said it lost the store. */
export async function assertStoreDown(frontend: { url: string; stderr(): string }, blobDigest: string): Promise<void> {
  const blob = await fetch(`${frontend.url}/v2/team/outage/blobs/${blobDigest}`);
  assert.equal(blob.status, 503);
  assert.equal((await errorOf(blob)).code, "UNAVAILABLE");
  const push = await fetch(`${frontend.url}/v2/team/outage/blobs/uploads/?digest=${sha256("new")}`, { method: "POST", body: "new" });
  assert.equal(push.status, 503);
  assert.match(frontend.stderr(), /connection lost/);
}

/** Retries a small push until the frontend accepts it again (201), as its store comes back. */
export async function pushAfterOutage(url: string, timeoutMs: number, intervalMs: number): Promise<void> {
  await eventually(async () => {
    const res = await fetch(`${url}/v2/team/outage/blobs/uploads/?digest=${sha256("new")}`, { method: "POST", body: "new" });
    assert.equal(res.status, 201, `still ${res.status} after the store came back`);
  }, timeoutMs, intervalMs);
}

/** A node HTTP server standing in for an upstream; `handler` answers everything. */
export async function startFake(t: { after(fn: () => unknown): void }, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
