/**
 * The registry's benchmark, side by side with Debian's docker-registry (CNCF distribution) in
 * the same run: push and pull times of the dataset images with skopeo, bytes on disk, one large
 * layer's time to first byte and throughput, and 8 concurrent pulls with each server's peak memory.
 *
 *   npm run build && node dist/bench/registry.js [--dataset DIR]
 *
 * Needs the dataset (bench/dataset/build.sh), skopeo and docker-registry (Debian packages).
 */
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startReferenceRegistry } from "../test/e2e/reference-registry.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const DATASET = args.includes("--dataset") ? args[args.indexOf("--dataset") + 1]! : "/var/tmp/docker-dedup-bench";
const TAGS = ["minbase", "python", "node", "minbase-old", "python-old"];
const MiB = 1024 * 1024;
const SKOPEO_CACHE = "/var/lib/containers/cache/blob-info-cache-v1.boltdb";

const scratch = mkdtempSync(join(tmpdir(), "docker-dedup-registry-bench-"));
const cleanups: (() => unknown)[] = [];
const lifetime = { after: (fn: () => unknown) => void cleanups.push(fn) };

interface Target {
  name: string;
  url: string;
  host: string;
  pid: number;
  diskBytes: () => number;
}

const seconds = (start: number) => (performance.now() - start) / 1000;
const du = (path: string) => Number(execFileSync("du", ["-sB1", path], { encoding: "utf8" }).split("\t")[0]);
const peakRss = (pid: number) => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024;

async function startDockerDedup(): Promise<Target> {
  const port = await freePort();
  const store = join(scratch, "docker-dedup-store");
  const child = spawn(process.execPath, [join(ROOT, "dist/src/cli/main.js"), "serve", "--store", store, "--listen", `127.0.0.1:${port}`], { stdio: "ignore" });
  cleanups.push(() => child.kill("SIGTERM"));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${url}/v2/`)).ok) break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { name: "docker-dedup", url, host: `127.0.0.1:${port}`, pid: child.pid!, diskBytes: () => du(store) };
}

async function startReference(name: string): Promise<Target> {
  const ref = await startReferenceRegistry(lifetime);
  return { name, url: ref.url, host: new URL(ref.url).host, pid: ref.process.pid!, diskBytes: () => du(ref.dataDir) };
}

function skopeo(args: string[]): number {
  rmSync(SKOPEO_CACHE, { force: true }); // it would substitute or mount blobs it saw before
  const start = performance.now();
  execFileSync("skopeo", args, { stdio: ["ignore", "ignore", "pipe"] });
  return seconds(start);
}

/** A pull as a client does it: manifest, config and layers, each checked against its digest. */
async function pull(target: Target, tag: string): Promise<number> {
  let bytes = 0;
  const get = async (path: string, accept?: string) => {
    const res = await fetch(`${target.url}/v2/ds/debian/${path}`, { headers: accept ? { accept } : {} });
    if (!res.ok) throw new Error(`${target.name} ${path}: ${res.status}`);
    const hash = createHash("sha256");
    const parts: Buffer[] = [];
    for await (const part of res.body!) {
      hash.update(part);
      bytes += part.length;
      if (accept) parts.push(Buffer.from(part));
    }
    return { digest: `sha256:${hash.digest("hex")}`, body: Buffer.concat(parts) };
  };
  const manifest = JSON.parse((await get(`manifests/${tag}`, "application/vnd.oci.image.manifest.v1+json")).body.toString());
  for (const d of [manifest.config, ...manifest.layers] as { digest: string }[]) {
    const blob = await get(`blobs/${d.digest}`);
    if (blob.digest !== d.digest) throw new Error(`${target.name}: ${d.digest} came back as ${blob.digest}`);
  }
  return bytes;
}

async function largeLayerGet(target: Target, digest: string): Promise<{ ttfbMs: number; mbps: number }> {
  const start = performance.now();
  const res = await fetch(`${target.url}/v2/ds/debian/blobs/${digest}`);
  let first = 0;
  let bytes = 0;
  for await (const part of res.body!) {
    if (bytes === 0) first = performance.now();
    bytes += part.length;
  }
  return { ttfbMs: first - start, mbps: bytes / 1e6 / seconds(start) };
}

try {
  execFileSync("sh", ["-c", `cat ${DATASET}/layers/* > /dev/null`]); // same warm source for every push
  const ours = await startDockerDedup();
  const reference = await startReference("distribution 2.8 (uncompressed layers)");
  const referenceGzip = await startReference("distribution 2.8 (gzip layers)");
  const targets = [reference, ours];
  console.log("| image | push: distribution | push: docker-dedup | pull: distribution | pull: docker-dedup |");
  console.log("|---|---|---|---|---|");
  const totals = { pushRef: 0, pushOurs: 0, pullRef: 0, pullOurs: 0 };
  for (const tag of TAGS) {
    const dir = `dir:${join(DATASET, "images", tag)}`;
    const push = targets.map((t) => skopeo(["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", dir, `docker://${t.host}/ds/debian:${tag}`]));
    skopeo(["copy", "-q", "--dest-tls-verify=false", dir, `docker://${referenceGzip.host}/ds/debian:${tag}`]);
    const pullTimes = targets.map((t) => {
      const out = join(scratch, `pull-${t.name.length}-${tag}`);
      const time = skopeo(["copy", "-q", "--src-tls-verify=false", `docker://${t.host}/ds/debian:${tag}`, `dir:${out}`]);
      rmSync(out, { recursive: true, force: true });
      return time;
    });
    totals.pushRef += push[0]!;
    totals.pushOurs += push[1]!;
    totals.pullRef += pullTimes[0]!;
    totals.pullOurs += pullTimes[1]!;
    console.log(`| ${tag} | ${push[0]!.toFixed(2)} s | ${push[1]!.toFixed(2)} s | ${pullTimes[0]!.toFixed(2)} s | ${pullTimes[1]!.toFixed(2)} s |`);
  }
  console.log(`| all five | ${totals.pushRef.toFixed(2)} s | ${totals.pushOurs.toFixed(2)} s | ${totals.pullRef.toFixed(2)} s | ${totals.pullOurs.toFixed(2)} s |`);

  console.log("\n| bytes on disk for the five images | MiB |\n|---|---|");
  for (const t of [reference, referenceGzip, ours]) console.log(`| ${t.name} | ${(t.diskBytes() / MiB).toFixed(1)} |`);

  const manifest = JSON.parse(readFileSync(join(DATASET, "images", "minbase", "manifest.json"), "utf8"));
  const big = manifest.layers[0].digest as string;
  console.log(`\n| GET of the ${(manifest.layers[0].size / MiB).toFixed(1)} MiB minbase layer | time to first byte | MB/s |\n|---|---|---|`);
  for (const t of targets) {
    for (const pass of ["first", "second"]) {
      const r = await largeLayerGet(t, big);
      console.log(`| ${t.name}, ${pass} GET | ${r.ttfbMs.toFixed(1)} ms | ${r.mbps.toFixed(0)} |`);
    }
  }

  console.log("\n| 8 concurrent pulls of ds/debian:node (fetch, digests checked) | wall | server peak RSS |\n|---|---|---|");
  for (const t of targets) {
    const start = performance.now();
    await Promise.all(Array.from({ length: 8 }, () => pull(t, "node")));
    console.log(`| ${t.name} | ${seconds(start).toFixed(2)} s | ${(peakRss(t.pid) / MiB).toFixed(0)} MiB |`);
  }
} finally {
  for (const fn of cleanups.reverse()) await fn();
  rmSync(scratch, { recursive: true, force: true });
}
