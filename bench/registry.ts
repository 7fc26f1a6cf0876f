/**
 * The registry's benchmark, side by side with Debian's docker-registry (CNCF distribution) in
 * the same run: push and pull times of the dataset images with skopeo, bytes on disk, one large
 * layer's time to first byte and throughput, 8 concurrent pulls with each server's peak memory,
 * and `docker pull` / `docker push` times through a real dockerd.
 *
 *   npm run build && node dist/bench/registry.js [--dataset DIR] [--no-docker]
 *
 * Needs the dataset (bench/dataset/build.sh), skopeo and docker-registry (Debian packages); for
 * the docker figures root, dockerd (docker.io), setpriv, unshare and ip. Then the whole benchmark
 * re-runs itself inside new network, PID and mount namespaces (`unshare`) holding only `lo`:
 * both registries and dockerd live there, so nothing can leave the machine and no daemon can
 * outlive the run. DOCKER_DEDUP_BENCH_DOCKER_STORAGE picks dockerd's storage driver (overlay2).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
const IN_NETNS = process.env.DOCKER_DEDUP_BENCH_NETNS === "1";
const onPath = (tool: string) => (process.env.PATH ?? "").split(":").some((dir) => existsSync(join(dir, tool)));

let withDocker = !args.includes("--no-docker");
if (withDocker && !IN_NETNS) {
  const missing = ["dockerd", "docker", "setpriv", "unshare", "ip"].filter((tool) => !onPath(tool));
  if (process.getuid?.() !== 0 || missing.length > 0) {
    console.error(`docker figures skipped: they need root and ${missing.join(", ") || "dockerd"} (or pass --no-docker)`);
    withDocker = false;
  } else {
    // Re-run this benchmark in a network namespace holding only `lo` (dockerd must reach nothing
    // else), with its own PID namespace: when this process (its PID 1) ends, whatever is left dies.
    const child = spawnSync(
      "setpriv",
      ["--pdeathsig", "SIGKILL", "unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL",
        "sh", "-c", 'ip link set lo up && exec "$@"', "sh", process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...args],
      { stdio: "inherit", env: { ...process.env, DOCKER_DEDUP_BENCH_NETNS: "1" } },
    );
    process.exit(child.status ?? 1);
  }
}

const scratch = mkdtempSync(join(tmpdir(), "docker-dedup-registry-bench-"));
const cleanups: (() => unknown)[] = [];
const lifetime = { after: (fn: () => unknown) => void cleanups.push(fn) };
async function cleanup() {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  rmSync(scratch, { recursive: true, force: true });
}
// Inside the PID namespace this process is PID 1, which ignores signals it has no handler for.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void cleanup().finally(() => process.exit(130)));
}

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

/** Runs the docker CLI against one dockerd; answers the seconds taken. */
interface Docker {
  (args: string[]): number;
  /** The IDs of all images it holds. */
  images(): string;
}

/**
 * A dockerd (no bridge, no iptables) with its state in scratch/NAME, a tmpfs mounted in this
 * benchmark's own mount namespace: on disk, the writeback of the layers extracted by earlier pulls
 * made pull times vary by 3x from one run to the next. The registries are insecure (plain HTTP).
 */
async function startDockerd(name: string, registries: string[]): Promise<Docker> {
  const dir = join(scratch, name);
  mkdirSync(dir);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=8g,mode=0700", "tmpfs", dir]);
  cleanups.push(() => execFileSync("umount", [dir])); // runs after dockerd has stopped (cleanups run in reverse)
  mkdirSync(join(dir, "data"), { recursive: true });
  writeFileSync(join(dir, "daemon.json"), "{}");
  const sock = `unix://${join(dir, "docker.sock")}`;
  const log = openSync(join(dir, "dockerd.log"), "w");
  const child: ChildProcess = spawn(
    "dockerd",
    ["--iptables=false", "--ip6tables=false", "--ip-masq=false", "--bridge=none", `--storage-driver=${process.env.DOCKER_DEDUP_BENCH_DOCKER_STORAGE ?? "overlay2"}`,
      "--data-root", join(dir, "data"), "--exec-root", join(dir, "exec"), "--pidfile", join(dir, "dockerd.pid"), "-H", sock,
      "--config-file", join(dir, "daemon.json"), ...registries.flatMap((r) => ["--insecure-registry", r])],
    { stdio: ["ignore", log, log] },
  );
  closeSync(log); // dockerd has its own copy; ours would keep the tmpfs busy
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM"); // it stops its containerd too
    await exited;
  });
  const docker: Docker = (dockerArgs: string[]) => {
    const start = performance.now();
    execFileSync("docker", ["-H", sock, ...dockerArgs], { stdio: ["ignore", "ignore", "pipe"] });
    return seconds(start);
  };
  docker.images = () => execFileSync("docker", ["-H", sock, "images", "-aq"], { encoding: "utf8" }).trim();
  for (let i = 0; ; i++) {
    try {
      docker(["version"]);
      return docker;
    } catch (error) {
      if (i >= 300 || child.exitCode !== null) throw new Error(`dockerd did not start (see ${join(dir, "dockerd.log")}): ${(error as Error).message}\n${readFileSync(join(dir, "dockerd.log"), "utf8").slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * `docker pull` of each dataset image from both registries, each into an empty docker (the image
 * and its layers are removed after every pull), and `docker push` of the pulled image, gzipped by
 * dockerd, to the *other* registry under ds/docker-push. Two dockerds: one pulls from
 * distribution and pushes to docker-dedup, the other the reverse. A dockerd remembers which
 * registry holds which layer and mounts instead of uploading when it can, so one that had pulled
 * from a registry would not really push to it.
 */
async function dockerTimings(ref: Target, ours: Target) {
  const hosts = [ref.host, ours.host];
  const dockers = new Map([[ref, await startDockerd("docker-a", hosts)], [ours, await startDockerd("docker-b", hosts)]]);
  const storage = process.env.DOCKER_DEDUP_BENCH_DOCKER_STORAGE ?? "overlay2";
  console.log(`\n| docker (dockerd 20.10, ${storage}) | pull: distribution | pull: docker-dedup | push (gzip): distribution | push (gzip): docker-dedup |\n|---|---|---|---|---|`);
  const totals = [0, 0, 0, 0];
  for (const tag of TAGS) {
    const pulls = new Map<Target, number>();
    const pushes = new Map<Target, number>();
    const pairs = [[ref, ours], [ours, ref]] as const;
    // Both pulls before both pushes: docker-dedup's decoded-chunk cache then holds no gzip chunks
    // of this image's push when it serves the pull.
    for (const [from] of pairs) {
      const docker = dockers.get(from)!;
      if (docker.images() !== "") throw new Error(`docker still holds images: ${docker.images()}`);
      pulls.set(from, docker(["pull", "-q", `${from.host}/ds/debian:${tag}`]));
    }
    for (const [from, to] of pairs) {
      const docker = dockers.get(from)!;
      const source = `${from.host}/ds/debian:${tag}`;
      const target = `${to.host}/ds/docker-push:${tag}`;
      docker(["tag", source, target]);
      pushes.set(to, docker(["push", "-q", target]));
      docker(["rmi", source, target]); // the image and its layers: the next pull starts empty
    }
    const row = [pulls.get(ref)!, pulls.get(ours)!, pushes.get(ref)!, pushes.get(ours)!];
    row.forEach((t, i) => (totals[i]! += t));
    console.log(`| ${tag} | ${row.map((t) => `${t.toFixed(2)} s`).join(" | ")} |`);
  }
  console.log(`| all five | ${totals.map((t) => `${t.toFixed(2)} s`).join(" | ")} |`);
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

  // Last, so that the gzip layers docker pushes change none of the figures above.
  if (withDocker) await dockerTimings(reference, ours);
} finally {
  await cleanup();
}
