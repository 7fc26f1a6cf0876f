/**
 * The stores' benchmark (issue 4): the embedded store, a standalone Redis and a Redis Cluster of
 * 3 masters (without and with one replica each), on the same dataset in the same run, beside
 * Debian's docker-registry (CNCF distribution 2.8) for the pull figures:
 *
 * - ingest: wall time of `docker-dedup add --store <location> <the layer files>` into a fresh
 *   store, and the CPU it costs (`add` and the Redis servers); distribution: HTTP pushes;
 * - pull: one `docker-dedup serve` frontend, every layer GET'd over HTTP, 3 at a time (docker's
 *   default max-concurrent-downloads), byte counts and sha256 checked; with the decoded-chunk
 *   cache off (DOCKER_DEDUP_CHUNK_CACHE_MB=0: the store, not RAM), then with it on (the default
 *   512 MiB) in a fresh process: first pass (cold cache) and second pass (warm); and the CPU per
 *   MB the cache-off pulls cost (the frontend, its main thread, the Redis servers);
 * - 1, 2 and 3 frontends at once (separate `serve` processes on the same store, cache off), each
 *   with its own client pulling every layer at the same moment: aggregate MB/s;
 * - memory: Redis used_memory summed over the masters after the ingest minus before (fresh
 *   servers), per stored chunk byte and per logical byte; the embedded store's disk beside it.
 *
 *   node dist/bench/stores.js [--quick] [--dataset DIR] [--passes N] [--frontends 1,2,3]
 *                             [--stores embedded,redis,cluster,cluster-replicas,distribution]
 *
 * The machine is shared, so every backend stays up for the whole run and the stores take turns
 * for each measurement, pass after pass (the order reversed every other pass): other load falls
 * on all of them alike. Figures are the best of `--passes` (default 2). Each client is a worker
 * thread of this process (hashing what it receives would otherwise serialise the clients).
 * `--quick`: the two 48 MB python layers only. Needs the dataset (bench/dataset/build.sh),
 * redis-server, redis-cli, docker-registry and GNU time (/usr/bin/time).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, openSync, readFileSync, rmSync, closeSync, mkdirSync, writeFileSync } from "node:fs";
import { Agent, get, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { RegistryMetadata } from "../src/registry/metadata.js";
import { openStore } from "../src/store/open.js";
import { freePort, referenceRegistryConfig } from "../test/e2e/reference-registry.js";
import { run } from "../test/helpers.js";
import { startRedis, startRedisCluster, type RedisServer } from "../test/redis/servers.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(ROOT, "dist/src/cli/main.js");
const REPO = "bench/layers";
/** Layers fetched at once by one client, as dockerd's default max-concurrent-downloads. */
const CLIENT_CONCURRENCY = 3;
const MiB = 1024 * 1024;

interface Layer {
  digest: string;
  size: number;
  file: string;
}

// ---------------------------------------------------------------------------------------------
// The client: a worker thread that pulls every layer from one registry URL when told to.

interface ClientJob {
  url: string;
  layers: Layer[];
}
interface ClientResult {
  bytes: number;
  errors: string[];
}

async function clientThread(): Promise<void> {
  const { url, layers } = workerData as ClientJob;
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENT_CONCURRENCY });
  const fetchLayer = (layer: Layer) =>
    new Promise<number>((resolvePull, reject) => {
      get(`${url}/v2/${REPO}/blobs/${layer.digest}`, { agent }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`${layer.digest}: HTTP ${res.statusCode}`));
          return;
        }
        const hash = createHash("sha256");
        let bytes = 0;
        res.on("data", (part: Buffer) => {
          hash.update(part);
          bytes += part.length;
        });
        res.on("error", reject);
        res.on("end", () => {
          const digest = `sha256:${hash.digest("hex")}`;
          if (bytes !== layer.size) reject(new Error(`${layer.digest}: ${bytes} bytes, expected ${layer.size}`));
          else if (digest !== layer.digest) reject(new Error(`${layer.digest}: came back as ${digest}`));
          else resolvePull(bytes);
        });
      }).on("error", reject);
    });
  parentPort!.on("message", async () => {
    const queue = [...layers];
    const result: ClientResult = { bytes: 0, errors: [] };
    await Promise.all(
      Array.from({ length: CLIENT_CONCURRENCY }, async () => {
        for (let layer = queue.shift(); layer !== undefined; layer = queue.shift()) {
          try {
            const bytes = await fetchLayer(layer);
            result.bytes += bytes;
          } catch (error) {
            result.errors.push((error as Error).message);
          }
        }
      }),
    );
    agent.destroy();
    parentPort!.postMessage(result);
  });
  parentPort!.postMessage("ready");
}

/** One client per URL, all started at the same moment; answers the aggregate MB/s. */
async function pullAll(urls: string[], layers: Layer[]): Promise<number> {
  const workers = urls.map((url) => new Worker(fileURLToPath(import.meta.url), { workerData: { url, layers } satisfies ClientJob }));
  try {
    await Promise.all(workers.map((w) => new Promise<void>((ready, fail) => {
      w.once("message", () => ready());
      w.once("error", fail);
    })));
    const start = performance.now();
    const results = await Promise.all(workers.map((w) => new Promise<ClientResult>((done, fail) => {
      w.once("message", done);
      w.once("error", fail);
      w.postMessage("go");
    })));
    const seconds = (performance.now() - start) / 1000;
    const errors = results.flatMap((r) => r.errors);
    if (errors.length > 0) throw new Error(`pull failed: ${errors.join("; ")}`);
    const expected = urls.length * layers.reduce((sum, l) => sum + l.size, 0);
    const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
    if (bytes !== expected) throw new Error(`pulled ${bytes} bytes, expected ${expected}`);
    return bytes / 1e6 / seconds;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

interface Frontend {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** CPU seconds (user + system) a process has used, all its threads; or one thread's. */
function cpuSeconds(pid: number, thread?: number): number {
  const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(") ") + 2).split(" "); // fields from the 3rd (state) on
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}

/** CPU seconds and MB of the single-frontend pulls with the chunk cache off, summed over passes. */
interface PullCpu {
  mb: number;
  serve: number;
  /** The frontend's main thread (docker-dedup: it reads the store, verifies and sends; decoding is in workers). */
  serveMain?: number;
  /** The Redis servers, replicas included. */
  backend?: number;
}

/** A store under test, with its backend running until the end. */
interface Subject {
  row: Row;
  /** Ingests the layers into a fresh store (round 0: a new backend); answers MB/s. */
  ingest(round: number): Promise<number>;
  /** Starts one more frontend on the store, with the chunk cache at `cacheMB` (undefined: the default). */
  frontend(cacheMB?: number): Promise<Frontend>;
  backendPids: number[];
  /** Whether this is docker-dedup (its chunk cache and main thread mean something). */
  dedup: boolean;
}

interface Row {
  name: string;
  ingestMBps?: number;
  /** Redis: used_memory delta over the masters; embedded: stats' bytes on disk; distribution: du. */
  backendBytes?: number;
  backendKind?: string;
  /** Redis: of backendBytes, the growth of the replication buffers (the backlog, a fixed size per master). */
  replicationBytes?: number;
  stats?: { chunks: number; logicalBytes: number; uniqueBytes: number; storedBytes: number; backendBytes: number; backendBytesPerStoredByte: number };
  /** Best over passes, MB/s: [n frontends - 1], chunk cache off. */
  frontends: number[];
  pullCacheCold: number;
  pullCacheWarm: number;
  cpu: PullCpu;
  /** docker-dedup: CPU seconds of each ingest, the `add` process and the Redis servers. */
  ingestCpu: { add: number; backend: number }[];
  /** 1-minute load average before each of its measurements. */
  loads: number[];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const QUICK = args.includes("--quick");
  const DATASET = option("--dataset") ?? "/var/tmp/docker-dedup-bench";
  const PASSES = Number(option("--passes") ?? 2);
  const STORES = (option("--stores") ?? "embedded,redis,cluster,cluster-replicas,distribution").split(",");
  const FRONTENDS = (option("--frontends") ?? "1,2,3").split(",").map(Number);
  if (!FRONTENDS.every((n) => [1, 2, 3].includes(n)) || !FRONTENDS.includes(1)) throw new Error(`--frontends: some of 1,2,3, with 1`);
  const known = ["embedded", "redis", "cluster", "cluster-replicas", "distribution"];
  for (const s of STORES) if (!known.includes(s)) throw new Error(`unknown store "${s}": expected some of ${known.join(",")}`);

  const dataset = JSON.parse(readFileSync(join(DATASET, "dataset.json"), "utf8")) as { layers: Layer[] };
  // --quick: the two python layers (2 x 48 MB), which share most of their chunks.
  const layers = QUICK ? dataset.layers.filter((l) => l.size < 60e6).slice(0, 2) : dataset.layers;
  const files = layers.map((l) => join(DATASET, "layers", l.file));
  const inputBytes = layers.reduce((sum, l) => sum + l.size, 0);

  const scratch = mkdtempSync(join(tmpdir(), "docker-dedup-stores-bench-"));
  const cleanups: (() => unknown)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve(fn()).catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`));
    rmSync(scratch, { recursive: true, force: true });
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

  const load = () => loadavg().map((l) => l.toFixed(2)).join(" ");
  const log = (line: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)} load ${load()}] ${line}\n`);

  /** Spawns a process whose output goes to a log file; its stop() waits for it to exit. */
  function spawnLogged(command: string, argv: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): { child: ChildProcess; stop(): Promise<void>; log(): string } {
    const fd = openSync(logFile, "w");
    const child = spawn(command, argv, { stdio: ["ignore", fd, fd], env });
    closeSync(fd);
    const exited = new Promise<void>((done) => child.once("exit", () => done()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    };
    cleanups.push(stop);
    return { child, stop, log: () => readFileSync(logFile, "utf8") };
  }

  async function waitReady(url: string, proc: { child: ChildProcess; log(): string }): Promise<void> {
    for (let i = 0; i < 400; i++) {
      if (proc.child.exitCode !== null) throw new Error(`${url} exited: ${proc.log().slice(-2000)}`);
      try {
        if ((await fetch(`${url}/v2/`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${url} did not start: ${proc.log().slice(-2000)}`);
  }

  /** One byte of the first layer: the first request's one-off costs (threads, connections) are not timed. */
  async function warmUp(url: string): Promise<void> {
    const res = await fetch(`${url}/v2/${REPO}/blobs/${layers[0]!.digest}`, { headers: { range: "bytes=0-0" } });
    if (res.status !== 206 && res.status !== 200) throw new Error(`warm-up GET on ${url}: ${res.status}`);
    await res.arrayBuffer();
  }

  let logCount = 0;
  async function serve(location: string, cacheMB?: number): Promise<Frontend> {
    const port = await freePort();
    const env = { ...process.env };
    if (cacheMB === undefined) delete env.DOCKER_DEDUP_CHUNK_CACHE_MB;
    else env.DOCKER_DEDUP_CHUNK_CACHE_MB = String(cacheMB);
    const proc = spawnLogged(process.execPath, [CLI, "serve", "--store", location, "--listen", `127.0.0.1:${port}`], join(scratch, `serve-${logCount++}.log`), env);
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, proc);
    await warmUp(url);
    return { url, pid: proc.child.pid!, stop: proc.stop };
  }

  /** A docker-registry process on `dataDir` (several may share it, as distribution allows). */
  async function distribution(dataDir: string, warm = true): Promise<Frontend> {
    const port = await freePort();
    const config = join(scratch, `distribution-${port}.yml`);
    writeFileSync(
      config,
      referenceRegistryConfig(dataDir, port),
    );
    const proc = spawnLogged("docker-registry", ["serve", config], join(scratch, `distribution-${logCount++}.log`));
    const url = `http://127.0.0.1:${port}`;
    await waitReady(url, proc);
    if (warm) await warmUp(url);
    return { url, pid: proc.child.pid!, stop: proc.stop };
  }

  /** used_memory and, of it, the replication buffers (backlog), summed over the masters. */
  async function redisMemory(server: RedisServer): Promise<{ used: number; replication: number }> {
    const sum = { used: 0, replication: 0 };
    for (const node of server.nodes) {
      const info = await run("redis-cli", ["-h", "127.0.0.1", "-p", String(node.port), "info"]);
      if (!/role:master/.test(info)) continue;
      sum.used += Number(/used_memory:(\d+)/.exec(info)![1]);
      sum.replication += Number(/mem_total_replication_buffers:(\d+)/.exec(info)?.[1] ?? 0);
    }
    return sum;
  }

  /** Starts a store's backend (Redis servers; nothing for a directory), up until the end. */
  async function start(kind: string): Promise<Subject> {
    const row: Row = { name: kind, frontends: [0, 0, 0], pullCacheCold: 0, pullCacheWarm: 0, cpu: { mb: 0, serve: 0 }, loads: [], ingestCpu: [] };
    if (kind === "distribution") {
      let dataDir = "";
      return {
        row,
        dedup: false,
        backendPids: [],
        frontend: () => distribution(dataDir),
        async ingest(round) {
          dataDir = join(scratch, `distribution-data-${round}`);
          mkdirSync(dataDir);
          const first = await distribution(dataDir, false);
          const t = performance.now();
          for (const layer of layers) await pushMonolithic(first.url, layer, join(DATASET, "layers", layer.file));
          const mbps = inputBytes / 1e6 / ((performance.now() - t) / 1000);
          await first.stop();
          row.backendBytes = Number(execFileSync("du", ["-sB1", dataDir], { encoding: "utf8" }).split("\t")[0]);
          row.backendKind = "disk";
          return mbps;
        },
      };
    }
    let server: RedisServer | undefined;
    if (kind !== "embedded") {
      server = kind === "redis" ? await startRedis() : await startRedisCluster(3, kind === "cluster" ? 0 : 1);
      cleanups.push(() => server!.stop());
    }
    const backendPids = server?.nodes.map((n) => n.process.pid!) ?? [];
    let location = server?.url ?? "";
    return {
      row,
      dedup: true,
      backendPids,
      frontend: (cacheMB) => serve(location, cacheMB),
      async ingest(round) {
        // A fresh store every round: a new directory, or the Redis servers emptied.
        if (server === undefined) location = join(scratch, `embedded-store-${round}`);
        else if (round > 0) {
          for (const node of server.nodes) {
            if (/role:master/.test(await run("redis-cli", ["-p", String(node.port), "info", "replication"]))) await run("redis-cli", ["-p", String(node.port), "flushall"]);
          }
        }
        const before = server === undefined ? undefined : await redisMemory(server);
        const backendBefore = backendPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
        if (server === undefined) execFileSync("sync");
        const t = performance.now();
        // GNU time reports the CPU of `add` and its worker threads on the log's last line.
        const add = spawnLogged("/usr/bin/time", ["-f", "cpu %U %S", process.execPath, CLI, "add", "--store", location, ...files], join(scratch, `add-${kind}-${round}.log`));
        const code = await new Promise<number | null>((done) => add.child.once("exit", (c) => done(c)));
        const mbps = inputBytes / 1e6 / ((performance.now() - t) / 1000);
        if (code !== 0) throw new Error(`add --store ${location} failed: ${add.log().slice(-2000)}`);
        const [user, sys] = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(add.log())!.slice(1).map(Number);
        row.ingestCpu.push({ add: user! + sys!, backend: backendPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - backendBefore });
        if (round === 0) {
          // Memory on fresh servers (later rounds find the replication backlog already grown).
          const after = server === undefined ? undefined : await redisMemory(server);
          row.stats = JSON.parse(execFileSync(process.execPath, [CLI, "stats", "--json", "--store", location], { encoding: "utf8" }));
          row.backendBytes = after === undefined ? row.stats!.backendBytes : after.used - before!.used;
          row.replicationBytes = after === undefined ? undefined : after.replication - before!.replication;
          row.backendKind = server === undefined ? "disk" : "Redis used_memory";
        }
        // `add` stores blobs without linking them to a repository; a registry serves a blob only
        // through a link (what a push or mount writes), so write those links here.
        const store = await openStore(location);
        try {
          const meta = new RegistryMetadata(store);
          for (const layer of layers) await meta.linkBlob(REPO, layer.digest, layer.size);
        } finally {
          await store.close();
        }
        return mbps;
      },
    };
  }

  /** Pulls by n frontends at once (started, then stopped); with `cpu`, adds what they cost. */
  async function pullBy(subject: Subject, n: number, cacheMB: number | undefined, cpu?: PullCpu): Promise<number> {
    const frontends: Frontend[] = [];
    try {
      for (let i = 0; i < n; i++) frontends.push(await subject.frontend(cacheMB));
      const sample = () => ({
        serve: frontends.reduce((sum, f) => sum + cpuSeconds(f.pid), 0),
        main: frontends.reduce((sum, f) => sum + cpuSeconds(f.pid, f.pid), 0),
        backend: subject.backendPids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
      });
      const before = sample();
      const rate = await pullAll(frontends.map((f) => f.url), layers);
      const after = sample();
      if (cpu !== undefined) {
        cpu.mb += (n * inputBytes) / 1e6;
        cpu.serve += after.serve - before.serve;
        if (subject.dedup) cpu.serveMain = (cpu.serveMain ?? 0) + after.main - before.main;
        if (subject.backendPids.length > 0) cpu.backend = (cpu.backend ?? 0) + after.backend - before.backend;
      }
      return rate;
    } finally {
      await Promise.all(frontends.map((f) => f.stop()));
    }
  }

  const machine = execFileSync("sh", ["-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: "utf8" }).trim().replace(/\n\s*/, " cores, ");
  console.log(`Dataset: ${layers.length} layers, ${inputBytes} bytes (${(inputBytes / MiB).toFixed(1)} MiB)${QUICK ? " (--quick)" : ""}, ${DATASET}`);
  console.log(`Machine: ${machine}; node ${process.version}; ${execFileSync("redis-server", ["--version"], { encoding: "utf8" }).trim().split(" ").slice(0, 3).join(" ")}`);
  console.log(`Started ${new Date().toISOString()}, load average ${load()}; pull figures: best of ${PASSES} passes, the stores taking turns`);

  const subjects: Subject[] = [];
  try {
    execFileSync("sh", ["-c", `cat ${files.map((f) => `'${f}'`).join(" ")} > /dev/null`]); // the same warm source for every ingest
    for (const kind of STORES) subjects.push(await start(kind));
    // Ingest into a fresh store, the stores taking turns, best of PASSES rounds; the last round's stores are pulled from.
    for (let round = 0; round < PASSES; round++) {
      for (const subject of round % 2 === 0 ? subjects : [...subjects].reverse()) {
        log(`round ${round + 1}: ${subject.row.name}, ingest`);
        subject.row.loads.push(loadavg()[0]!);
        subject.row.ingestMBps = Math.max(subject.row.ingestMBps ?? 0, await subject.ingest(round));
      }
    }

    // Every backend stays up, and the stores take turns for each measurement, pass after pass
    // (in reverse order every other pass): the machine's other load then falls on all alike.
    for (let pass = 0; pass < PASSES; pass++) {
      const order = pass % 2 === 0 ? subjects : [...subjects].reverse();
      for (const n of FRONTENDS) {
        for (const { row, ...subject } of order) {
          log(`pass ${pass + 1}: ${row.name}, ${n} frontend(s), chunk cache off`);
          row.loads.push(loadavg()[0]!);
          const rate = await pullBy({ row, ...subject }, n, subject.dedup ? 0 : undefined, n === 1 ? row.cpu : undefined);
          row.frontends[n - 1] = Math.max(row.frontends[n - 1]!, rate);
        }
      }
      for (const subject of order.filter((s) => s.dedup)) {
        // The cache as users run it: a fresh process (cold cache), then the same layers again.
        log(`pass ${pass + 1}: ${subject.row.name}, chunk cache on`);
        subject.row.loads.push(loadavg()[0]!);
        const cached = await subject.frontend();
        try {
          subject.row.pullCacheCold = Math.max(subject.row.pullCacheCold, await pullAll([cached.url], layers));
          subject.row.pullCacheWarm = Math.max(subject.row.pullCacheWarm, await pullAll([cached.url], layers));
        } finally {
          await cached.stop();
        }
      }
    }
  } finally {
    await cleanup();
  }

  printTable(subjects.map((s) => s.row), layers.length, inputBytes);
  console.log(`\nFinished ${new Date().toISOString()}, load average ${load()}`);
}

const TITLES: Record<string, string> = {
  embedded: "embedded (LMDB + packs)",
  redis: "Redis, standalone",
  cluster: "Redis Cluster, 3 masters",
  "cluster-replicas": "Redis Cluster, 3 masters + 3 replicas",
  distribution: "distribution 2.8 (peer)",
};

function printTable(rows: Row[], layerCount: number, inputBytes: number): void {
  const cell = (x: number | undefined, digits = 0) => (x === undefined || x === 0 ? "" : x.toFixed(digits));
  const line = (label: string, cells: string[]) => console.log(`| ${label} | ${cells.join(" | ")} |`);
  console.log();
  line("", rows.map((r) => TITLES[r.name]!));
  console.log(`|---|${rows.map(() => "---|").join("")}`);
  line(`ingest: \`add\` of the ${layerCount} layers, MB/s`, rows.map((r) => (r.name === "distribution" ? `(HTTP push: ${cell(r.ingestMBps)})` : cell(r.ingestMBps))));
  line("ingest CPU s (median): `add` + Redis servers", rows.map((r) => {
    if (r.ingestCpu.length === 0) return "";
    const mid = [...r.ingestCpu].sort((a, b) => a.add - b.add)[Math.floor(r.ingestCpu.length / 2)]!;
    return `${mid.add.toFixed(1)}${r.name === "embedded" ? "" : ` + ${mid.backend.toFixed(1)}`}`;
  }));
  line("pull, 1 frontend, chunk cache off, MB/s", rows.map((r) => cell(r.frontends[0])));
  line("pull, 1 frontend, chunk cache on, first pass (cold cache), MB/s", rows.map((r) => cell(r.pullCacheCold)));
  line("pull, 1 frontend, chunk cache on, second pass (warm cache), MB/s", rows.map((r) => cell(r.pullCacheWarm)));
  for (const n of [2, 3]) line(`pull, ${n} frontends at once (cache off), aggregate MB/s`, rows.map((r) => cell(r.frontends[n - 1])));
  line("CPU ms per MB pulled (1 frontend, cache off): frontend process (its main thread) + Redis servers", rows.map((r) => {
    const per = (seconds: number | undefined) => (seconds === undefined ? undefined : (seconds * 1000) / r.cpu.mb);
    const main = r.cpu.serveMain === undefined ? "" : ` (${cell(per(r.cpu.serveMain), 1)})`;
    return `${cell(per(r.cpu.serve), 1)}${main}${r.cpu.backend === undefined ? "" : ` + ${cell(per(r.cpu.backend), 1)}`}`;
  }));
  line("chunks", rows.map((r) => (r.stats === undefined ? "" : String(r.stats.chunks))));
  line("stored chunk MiB", rows.map((r) => (r.stats === undefined ? "" : cell(r.stats.storedBytes / MiB, 1))));
  line("backend MiB: disk (du), or Redis used_memory after - before the ingest, masters", rows.map((r) => (r.backendBytes === undefined ? "" : `${cell(r.backendBytes / MiB, 1)} (${r.backendKind === "disk" ? "disk" : "RAM"})`)));
  line("backend bytes per stored chunk byte", rows.map((r) => (r.stats === undefined || r.backendBytes === undefined ? "" : cell(r.backendBytes / r.stats.storedBytes, 3))));
  line("backend bytes per logical byte", rows.map((r) => (r.backendBytes === undefined ? "" : cell(r.backendBytes / inputBytes, 3))));
  line("1-min load average during its measurements, min-max", rows.map((r) => `${Math.min(...r.loads).toFixed(1)}-${Math.max(...r.loads).toFixed(1)}`));

  console.log("\nThe issue's targets:");
  const embedded = rows.find((r) => r.name === "embedded");
  for (const r of rows.filter((r) => r.name.startsWith("cluster"))) {
    if (embedded === undefined) break;
    for (const [what, ours, theirs] of [
      ["chunk cache off", r.frontends[0], embedded.frontends[0]],
      ["chunk cache on, cold", r.pullCacheCold, embedded.pullCacheCold],
      ["chunk cache on, warm", r.pullCacheWarm, embedded.pullCacheWarm],
    ] as const) {
      if (!ours || !theirs) continue;
      const ratio = ours / theirs;
      console.log(`- pull on ${TITLES[r.name]} (${what}) >= half the embedded store's: ${ours.toFixed(0)} vs ${theirs.toFixed(0)} MB/s = ${ratio.toFixed(2)}x: ${ratio >= 0.5 ? "MET" : "MISSED"}`);
    }
  }
  for (const r of rows.filter((r) => r.backendKind === "Redis used_memory")) {
    const per = r.backendBytes! / r.stats!.storedBytes;
    console.log(
      `- Redis memory on ${TITLES[r.name]} <= 1.1 bytes per stored chunk byte: ${per.toFixed(3)} ` +
        `(${r.backendBytes} B over ${r.stats!.storedBytes} B; stats' own figure, used_memory with the empty servers' baseline: ${r.stats!.backendBytesPerStoredByte.toFixed(3)}): ${per <= 1.1 ? "MET" : "MISSED"}`,
    );
    if (r.replicationBytes) {
      console.log(
        `  of which replication buffers (repl-backlog-size, fixed per master): ${(r.replicationBytes / MiB).toFixed(1)} MiB; ` +
          `without them ${((r.backendBytes! - r.replicationBytes) / r.stats!.storedBytes).toFixed(3)} per stored chunk byte`,
      );
    }
  }
}

/** A monolithic blob upload (POST, then PUT with the whole body and the digest). */
async function pushMonolithic(url: string, layer: Layer, file: string): Promise<void> {
  const started = await fetch(`${url}/v2/${REPO}/blobs/uploads/`, { method: "POST" });
  if (started.status !== 202) throw new Error(`POST upload: ${started.status}`);
  const location = new URL(started.headers.get("location")!, url);
  location.searchParams.set("digest", layer.digest);
  await new Promise<void>((done, fail) => {
    const req = request(location, { method: "PUT", headers: { "content-length": layer.size, "content-type": "application/octet-stream" } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 201 ? done() : fail(new Error(`PUT ${layer.digest}: ${res.statusCode}`))));
    });
    req.on("error", fail);
    createReadStream(file).pipe(req);
  });
}

if (isMainThread) await main();
else await clientThread();
