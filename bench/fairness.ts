/**
 * Small reads under a load of large ones, side by side with Debian's docker-registry (CNCF
 * distribution) in the same run: while 64 clients pull large layers over and over, how long a
 * 1 MiB blob and a manifest take to their first byte and to their last.
 *
 *   npm run build && node dist/bench/fairness.js [--clients 64] [--samples 40] [--layer-mb 48]
 *
 * The layers are cut from this machine's own libraries and documentation (real, compressible
 * bytes); the load runs in a child process (bench/fairness-load.ts) so that its CPU is not this
 * process's. Each registry gets the same data, the same load and the same probes, one after the
 * other.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startReferenceRegistry } from "../test/e2e/reference-registry.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const CLIENTS = option("--clients", 64);
const SAMPLES = option("--samples", 40);
const LAYER_MB = option("--layer-mb", 48);
const LAYERS = 4;
const REPO = "bench/fair";

const scratch = mkdtempSync(join(tmpdir(), "docker-dedup-fairness-"));
const cleanups: (() => unknown)[] = [];
const lifetime = { after: (fn: () => unknown) => void cleanups.push(fn) };

const sha256 = (data: Uint8Array) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** `bytes` of real files, from one directory tree, in a stable order; `skip` files left out first, so layers differ. */
function realBytes(dirs: string[], bytes: number, skip: number): Buffer {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      try {
        const info = statSync(path);
        if (info.isDirectory()) walk(path);
        else if (info.isFile() && info.size > 0) files.push(path);
      } catch {
        // unreadable: skip
      }
    }
  };
  dirs.forEach(walk);
  const parts: Buffer[] = [];
  let total = 0;
  for (let i = skip; total < bytes && i < files.length + skip; i++) {
    const data = readFileSync(files[i % files.length]!);
    parts.push(data);
    total += data.length;
  }
  return Buffer.concat(parts).subarray(0, bytes);
}

async function startDockerDedup(): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(ROOT, "dist/src/cli/main.js"), "serve", "--store", join(scratch, "store"), "--listen", `127.0.0.1:${port}`], { stdio: "ignore" });
  cleanups.push(() => child.kill("SIGTERM"));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/v2/`)).ok) return { url, child };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error("docker-dedup did not start");
}

async function push(url: string, blobs: Buffer[], manifest: Buffer): Promise<void> {
  // POST, then PUT with the whole blob: what both registries take (distribution 2.8 ignores ?digest= on the POST).
  for (const blob of blobs) {
    const opened = await fetch(`${url}/v2/${REPO}/blobs/uploads/`, { method: "POST" });
    const location = new URL(opened.headers.get("location")!, url);
    location.searchParams.set("digest", sha256(blob));
    const res = await fetch(location, { method: "PUT", body: new Uint8Array(blob), headers: { "Content-Type": "application/octet-stream" } });
    if (res.status !== 201) throw new Error(`push to ${url}: ${res.status} ${await res.text()}`);
  }
  const res = await fetch(`${url}/v2/${REPO}/manifests/latest`, { method: "PUT", body: new Uint8Array(manifest), headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } });
  if (res.status !== 201) throw new Error(`manifest push to ${url}: ${res.status} ${await res.text()}`);
}

/** Time to the first byte and to the last of one GET, in ms; the body is checked against `digest`. */
function timedGet(url: string, path: string, digest: string, accept?: string): Promise<{ first: number; last: number }> {
  return new Promise((resolvePromise, reject) => {
    const start = performance.now();
    let first = 0;
    const hash = createHash("sha256");
    const req = request(`${url}${path}`, { headers: { Connection: "close", ...(accept === undefined ? {} : { Accept: accept }) } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode}`));
      res.on("data", (piece: Buffer) => {
        if (first === 0) first = performance.now() - start;
        hash.update(piece);
      });
      res.on("end", () => {
        const got = `sha256:${hash.digest("hex")}`;
        if (got !== digest) reject(new Error(`${path}: got ${got}`));
        else resolvePromise({ first, last: performance.now() - start });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

async function measure(name: string, url: string, layerDigests: string[], small: string, manifestDigest: string): Promise<Record<string, number>> {
  // Unloaded first: the baseline each loaded figure is read against.
  const idle = { blob: [] as number[], manifest: [] as number[] };
  for (let i = 0; i < 10; i++) {
    idle.blob.push((await timedGet(url, `/v2/${REPO}/blobs/${small}`, small)).first);
    idle.manifest.push((await timedGet(url, `/v2/${REPO}/manifests/latest`, manifestDigest, "application/vnd.oci.image.manifest.v1+json")).first);
  }
  const load = spawn(process.execPath, [join(ROOT, "dist/bench/fairness-load.js"), url, REPO, String(CLIENTS), ...layerDigests], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => load.kill("SIGKILL"));
  let loadOutput = "";
  load.stdout!.on("data", (d) => (loadOutput += d));
  // Let every client get going before the first probe.
  await new Promise((r) => setTimeout(r, 3000));
  const blobFirst: number[] = [];
  const blobLast: number[] = [];
  const manifestFirst: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const blob = await timedGet(url, `/v2/${REPO}/blobs/${small}`, small);
    blobFirst.push(blob.first);
    blobLast.push(blob.last);
    manifestFirst.push((await timedGet(url, `/v2/${REPO}/manifests/latest`, manifestDigest, "application/vnd.oci.image.manifest.v1+json")).first);
    await new Promise((r) => setTimeout(r, 100));
  }
  load.kill("SIGTERM");
  await new Promise((r) => load.once("exit", r));
  const loadMBps = Number(/MB\/s (\S+)/.exec(loadOutput)?.[1] ?? NaN);
  const row = {
    idleBlobFirst: quantile(idle.blob, 0.5),
    idleManifestFirst: quantile(idle.manifest, 0.5),
    blobFirstP50: quantile(blobFirst, 0.5),
    blobFirstP90: quantile(blobFirst, 0.9),
    blobLastP50: quantile(blobLast, 0.5),
    manifestFirstP50: quantile(manifestFirst, 0.5),
    manifestFirstP90: quantile(manifestFirst, 0.9),
    loadMBps,
  };
  console.log(`${name}: ${JSON.stringify(row)}`);
  return row;
}

async function main(): Promise<void> {
  const layers = Array.from({ length: LAYERS }, (_, i) => realBytes(["/usr/lib/x86_64-linux-gnu", "/usr/share/doc", "/usr/share/locale"], LAYER_MB * 1024 * 1024, i * 97));
  const small = realBytes(["/usr/share/common-licenses", "/usr/share/doc"], 1024 * 1024, 5);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(config), size: config.length },
      layers: [...layers, small].map((layer) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256(layer), size: layer.length })),
    }),
  );
  const layerDigests = layers.map(sha256);
  const targets = [{ name: "docker-registry", url: (await startReferenceRegistry(lifetime)).url }, { name: "docker-dedup", url: (await startDockerDedup()).url }];
  for (const target of targets) await push(target.url, [config, small, ...layers], manifest);
  console.log(`load: ${CLIENTS} clients pulling ${LAYERS} layers of ${LAYER_MB} MiB in a loop; probes: ${SAMPLES} GETs of a 1 MiB blob and of the manifest, 100 ms apart (ms)`);
  const rows: Record<string, Record<string, number>> = {};
  for (const target of targets) rows[target.name] = await measure(target.name, target.url, layerDigests, sha256(small), sha256(manifest));
  const [ref, ours] = [rows["docker-registry"]!, rows["docker-dedup"]!];
  console.log("\n| figure (ms) | docker-registry | docker-dedup | ratio |\n|---|---|---|---|");
  for (const key of Object.keys(ref)) console.log(`| ${key} | ${ref[key]!.toFixed(1)} | ${ours[key]!.toFixed(1)} | ${(ours[key]! / ref[key]!).toFixed(2)}x |`);
}

try {
  await main();
} finally {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  rmSync(scratch, { recursive: true, force: true });
}
