/**
 * The stores' benchmark (issues 4 and 6): the embedded store, a standalone Redis, a Redis Cluster
 * of 3 masters (without and with one replica each) and one Apache Cassandra node, on the same
 * dataset in the same run, beside Debian's docker-registry (CNCF distribution 2.8) for the pull
 * figures:
 *
 * - ingest: wall time of `docker-dedup add --store <location> <the layer files>` into a fresh
 *   store, and the CPU it costs (`add` and the backend: Redis servers, Cassandra's JVM);
 *   distribution: HTTP pushes;
 * - pull: one `docker-dedup serve` frontend, every layer GET'd over HTTP, 3 at a time (docker's
 *   default max-concurrent-downloads), byte counts and sha256 checked; with the decoded-chunk
 *   cache off (DOCKER_DEDUP_CHUNK_CACHE_MB=0: the store, not RAM), then with it on (the default
 *   512 MiB) in a fresh process: first pass (cold cache) and second pass (warm); and the CPU per
 *   MB the cache-off pulls cost (the frontend, its main thread, the backend's processes);
 * - 1, 2 and 3 frontends at once (separate `serve` processes on the same store, cache off), each
 *   with its own client pulling every layer at the same moment: aggregate MB/s;
 * - memory: Redis used_memory summed over the masters after the ingest minus before (fresh
 *   servers), per stored chunk byte and per logical byte; the embedded store's disk beside it;
 * - Cassandra: one node as the tests start it (test/cassandra/servers.ts), but with the full JIT
 *   and a `--cassandra-heap` heap (default 1G). After every ingest the node is stopped cleanly
 *   (SIGTERM: it drains, flushing every memtable to SSTables) and started again; after the last
 *   round, untimed pulls warm its JIT up (until the JVM's CPU per pull stops falling); then the
 *   bench waits until no compaction runs (system_views.sstable_tasks empty), so that pulls read
 *   SSTables from a settled, running node. Its disk figure is `stats`' then: the allocated blocks
 *   of every file in the keyspace's data directory, after the drain's flush and the compactions
 *   Cassandra chose to run (JMX is off, so no nodetool to force a major one). The previous
 *   round's keyspace is dropped first. Start-up times: the benchmark's node (empty, and each
 *   restart with the dataset), and a node configured as the tests' (256M heap, C1 JIT only),
 *   started and stopped once per pass before the benchmark begins.
 *
 *   node dist/bench/stores.js [--quick] [--dataset DIR] [--passes N] [--frontends 1,2,3] [--cassandra-heap 1G]
 *                             [--stores embedded,redis,cluster,cluster-replicas,cassandra,distribution]
 *
 * The machine is shared, so every backend stays up for the whole run and the stores take turns
 * for each measurement, pass after pass (the order reversed every other pass): other load falls
 * on all of them alike. Figures are the best of `--passes` (default 2). Each client is a worker
 * thread of this process (hashing what it receives would otherwise serialise the clients).
 * `--quick`: the two 48 MB python layers only. Needs the dataset (bench/dataset/build.sh),
 * redis-server, redis-cli, docker-registry, GNU time (/usr/bin/time), and for Cassandra Java 17
 * (scripts/cassandra/fetch.sh resolves the jars).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, closeSync, mkdirSync, writeFileSync } from "node:fs";
import { Agent, get, request } from "node:http";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { RegistryMetadata } from "../src/registry/metadata.js";
import { openStore } from "../src/store/open.js";
import { freePort, referenceRegistryConfig } from "../test/e2e/reference-registry.js";
import { Consistency, cqlQuery } from "../test/cassandra/cql.js";
import { startCassandra, type CassandraCluster, type CassandraOptions } from "../test/cassandra/servers.js";
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
  /** The backend's processes: the Redis servers (replicas included), Cassandra's JVM. */
  backend?: number;
}

/** A store under test, with its backend running until the end. */
interface Subject {
  row: Row;
  /** Ingests the layers into a fresh store (round 0: a new backend); answers MB/s. */
  ingest(round: number): Promise<number>;
  /** Starts one more frontend on the store, with the chunk cache at `cacheMB` (undefined: the default). */
  frontend(cacheMB?: number): Promise<Frontend>;
  /** The backend's processes right now (a restarted Cassandra node has a new pid). */
  backendPids(): number[];
  /** Whether this is docker-dedup (its chunk cache and main thread mean something). */
  dedup: boolean;
}

/** What a docker-dedup store runs on, for its ingest rounds. */
interface DedupBackend {
  /** The location of an empty store for ingest round `round`. */
  freshStore(round: number): Promise<string>;
  /** The backend's processes right now. */
  pids(): number[];
  /** Redis: used_memory and the replication buffers, summed over the masters (stores on disk: `stats` measures them). */
  memory?(): Promise<{ used: number; replication: number }>;
  /** After an ingest, before its figures are taken; `pull` pulls every layer once, untimed. */
  settle?(round: number, pull: () => Promise<void>): Promise<void>;
}

/** Untimed pulls that warm a restarted Cassandra node's JIT up: its CPU per pull falls in steps, for 4-6 pulls. */
const WARM_UPS = { min: 5, max: 10 };

/** Labels of Row.starts. */
const TEST_NODE = "test node (256M heap, C1 JIT only), empty";
const BENCH_NODE = "benchmark node, empty";
const RESTART = "benchmark node, restart with the dataset";

/** Data.db files (one per SSTable) of `table` under a keyspace's data directory. */
function sstablesOf(keyspaceDir: string, table: string): number {
  return readdirSync(keyspaceDir)
    .filter((dir) => dir.startsWith(`${table}-`))
    .reduce((sum, dir) => sum + readdirSync(join(keyspaceDir, dir)).filter((file) => file.endsWith("-Data.db")).length, 0);
}

interface Row {
  name: string;
  ingestMBps?: number;
  /** Redis: used_memory delta over the masters; embedded, Cassandra: stats' bytes on disk; distribution: du. */
  backendBytes?: number;
  backendKind?: "disk" | "Redis used_memory";
  /** Redis: of backendBytes, the growth of the replication buffers (the backlog, a fixed size per master). */
  replicationBytes?: number;
  stats?: { chunks: number; logicalBytes: number; uniqueBytes: number; storedBytes: number; backendBytes: number; backendBytesPerStoredByte: number };
  /** Best over passes, MB/s: [n frontends - 1], chunk cache off. */
  frontends: number[];
  pullCacheCold: number;
  pullCacheWarm: number;
  cpu: PullCpu;
  /** docker-dedup: CPU seconds of each ingest, the `add` process and the backend's processes. */
  ingestCpu: { add: number; backend: number }[];
  /** Cassandra: seconds from spawning the node to its first CQL answer, with the 1-min load average then. */
  starts?: { what: string; seconds: number; load: number }[];
  /** Cassandra: Data.db files (SSTables) of the chunks table after the drain, and once compactions have ended. */
  sstables?: { drained: number; compacted: number };
  /** 1-minute load average before each of its measurements. */
  loads: number[];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const QUICK = args.includes("--quick");
  const DATASET = option("--dataset") ?? "/var/tmp/docker-dedup-bench";
  const PASSES = Number(option("--passes") ?? 2);
  const CASSANDRA_HEAP = option("--cassandra-heap") ?? "1G";
  const known = ["embedded", "redis", "cluster", "cluster-replicas", "cassandra", "distribution"];
  const STORES = (option("--stores") ?? known.join(",")).split(",");
  const FRONTENDS = (option("--frontends") ?? "1,2,3").split(",").map(Number);
  if (!FRONTENDS.every((n) => [1, 2, 3].includes(n)) || !FRONTENDS.includes(1)) throw new Error(`--frontends: some of 1,2,3, with 1`);
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
        backendPids: () => [],
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
    const backend = kind === "embedded" ? embeddedBackend() : kind === "cassandra" ? await cassandraBackend(row) : await redisBackend(kind);
    const backendCpu = () => backend.pids().reduce((sum, pid) => sum + cpuSeconds(pid), 0);
    let location = "";
    return {
      row,
      dedup: true,
      backendPids: backend.pids,
      frontend: (cacheMB) => serve(location, cacheMB),
      async ingest(round) {
        location = await backend.freshStore(round);
        const before = await backend.memory?.();
        const backendBefore = backendCpu();
        execFileSync("sync"); // the previous round's writes are not flushed while this one is timed
        const t = performance.now();
        // GNU time reports the CPU of `add` and its worker threads on the log's last line.
        const add = spawnLogged("/usr/bin/time", ["-f", "cpu %U %S", process.execPath, CLI, "add", "--store", location, ...files], join(scratch, `add-${kind}-${round}.log`));
        const code = await new Promise<number | null>((done) => add.child.once("exit", (c) => done(c)));
        const mbps = inputBytes / 1e6 / ((performance.now() - t) / 1000);
        if (code !== 0) throw new Error(`add --store ${location} failed: ${add.log().slice(-2000)}`);
        const [user, sys] = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(add.log())!.slice(1).map(Number);
        row.ingestCpu.push({ add: user! + sys!, backend: backendCpu() - backendBefore });
        // `add` stores blobs without linking them to a repository; a registry serves a blob only
        // through a link (what a push or mount writes), so write those links here.
        const store = await openStore(location);
        try {
          const meta = new RegistryMetadata(store);
          for (const layer of layers) await meta.linkBlob(REPO, layer.digest, { size: layer.size, linked: Date.now() });
        } finally {
          await store.close();
        }
        await backend.settle?.(round, async () => {
          const warm = await serve(location, 0);
          try {
            await pullAll([warm.url], layers);
          } finally {
            await warm.stop();
          }
        });
        if (round === 0) {
          // Memory on fresh servers (later rounds find the replication backlog already grown).
          const after = await backend.memory?.();
          row.stats = JSON.parse(execFileSync(process.execPath, [CLI, "stats", "--json", "--store", location], { encoding: "utf8" }));
          row.backendBytes = after === undefined ? row.stats!.backendBytes : after.used - before!.used;
          row.replicationBytes = after === undefined ? undefined : after.replication - before!.replication;
          row.backendKind = after === undefined ? "disk" : "Redis used_memory";
        }
        return mbps;
      },
    };
  }

  /** A store in a directory: a new one every round. */
  function embeddedBackend(): DedupBackend {
    return {
      pids: () => [],
      freshStore: async (round) => join(scratch, `embedded-store-${round}`),
    };
  }

  /** A standalone Redis or a Redis Cluster, emptied for every round but the first. */
  async function redisBackend(kind: string): Promise<DedupBackend> {
    const server = kind === "redis" ? await startRedis() : await startRedisCluster(3, kind === "cluster" ? 0 : 1);
    cleanups.push(() => server.stop());
    const pids = server.nodes.map((n) => n.process.pid!);
    return {
      pids: () => pids,
      async freshStore(round) {
        if (round > 0) {
          for (const node of server.nodes) {
            if (/role:master/.test(await run("redis-cli", ["-p", String(node.port), "info", "replication"]))) await run("redis-cli", ["-p", String(node.port), "flushall"]);
          }
        }
        return server.url;
      },
      memory: () => redisMemory(server),
    };
  }

  /**
   * One Cassandra node, started as the tests start it but with the full JIT and CASSANDRA_HEAP;
   * a keyspace per round (the previous one dropped). Before it, a node exactly as the tests
   * configure it is started and stopped once per pass, for its start-up time.
   */
  async function cassandraBackend(row: Row): Promise<DedupBackend> {
    const starts: NonNullable<Row["starts"]> = [];
    row.starts = starts;
    /** Starts a node (startMs: from its spawn to its first CQL answer, fetch.sh's check of the jars not included). */
    const started = async (what: string, options: CassandraOptions): Promise<CassandraCluster> => {
      const load = loadavg()[0]!;
      const cluster = await startCassandra(options);
      starts.push({ what, seconds: cluster.startMs / 1000, load });
      return cluster;
    };
    for (let pass = 0; pass < PASSES; pass++) {
      log(`Cassandra: a test node's start-up, ${pass + 1} of ${PASSES}`);
      await (await started(TEST_NODE, {})).stop();
    }
    log(`Cassandra: the benchmark's node (${CASSANDRA_HEAP} heap, full JIT)`);
    const cluster = await started(BENCH_NODE, { heap: CASSANDRA_HEAP, quickJit: false });
    cleanups.push(() => cluster.stop());
    const node = cluster.nodes[0]!;
    const release = await cqlQuery(node.address, node.port, "SELECT release_version FROM system.local");
    log(`Cassandra ${release[0]?.[0]?.toString() ?? "?"} on ${node.contactPoint}, ${node.dir}`);
    let keyspace = "";
    return {
      pids: () => (node.process?.pid === undefined ? [] : [node.process.pid]),
      async freshStore(round) {
        if (keyspace !== "") await cqlQuery(node.address, node.port, `DROP KEYSPACE ${keyspace}`, Consistency.ONE, 60_000);
        keyspace = `bench${round}`;
        return cluster.url(keyspace);
      },
      async settle(round, pull) {
        // A clean stop drains the node: every memtable is flushed to SSTables.
        await node.stop();
        const chunksTable = () => sstablesOf(join(node.dir, "data", keyspace), "chunks");
        const drained = chunksTable();
        const load = loadavg()[0]!;
        const t = performance.now();
        await node.restart();
        starts.push({ what: RESTART, seconds: (performance.now() - t) / 1000, load });
        // A restarted JVM runs its read path at several times the CPU of a running node's until
        // the JIT has compiled it, which takes a few passes of the dataset. Before the last
        // round's store is pulled from: untimed pulls until the JVM's CPU per pull stops falling.
        // And every round: no compaction left running, so that the figures are a settled node's.
        const jvmSeconds = () => cpuSeconds(node.process!.pid!);
        for (let warmUp = 1, least = Infinity; round === PASSES - 1 && warmUp <= WARM_UPS.max; warmUp++) {
          const before = jvmSeconds();
          await pull();
          const used = jvmSeconds() - before;
          log(`Cassandra: warm-up pull ${warmUp}: ${used.toFixed(1)} s of JVM CPU`);
          if (warmUp >= WARM_UPS.min && used > least * 0.95) break;
          least = Math.min(least, used);
        }
        const deadline = Date.now() + 600_000;
        while ((await cqlQuery(node.address, node.port, "SELECT task_id FROM system_views.sstable_tasks")).length > 0) {
          if (Date.now() > deadline) throw new Error("Cassandra still compacting after 10 minutes");
          await new Promise((r) => setTimeout(r, 1000));
        }
        if (round === 0) row.sstables = { drained, compacted: chunksTable() };
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
        backend: subject.backendPids().reduce((sum, pid) => sum + cpuSeconds(pid), 0),
      });
      const before = sample();
      const rate = await pullAll(frontends.map((f) => f.url), layers);
      const after = sample();
      const perMB = (seconds: number) => ((seconds * 1000) / ((n * inputBytes) / 1e6)).toFixed(1);
      log(`  ${rate.toFixed(0)} MB/s; CPU ms per MB: frontends ${perMB(after.serve - before.serve)}, backend ${perMB(after.backend - before.backend)}`);
      if (cpu !== undefined) {
        cpu.mb += (n * inputBytes) / 1e6;
        cpu.serve += after.serve - before.serve;
        if (subject.dedup) cpu.serveMain = (cpu.serveMain ?? 0) + after.main - before.main;
        if (subject.backendPids().length > 0) cpu.backend = (cpu.backend ?? 0) + after.backend - before.backend;
      }
      return rate;
    } finally {
      await Promise.all(frontends.map((f) => f.stop()));
    }
  }

  const machine = execFileSync("sh", ["-c", "nproc; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: "utf8" }).trim().replace(/\n\s*/, " cores, ");
  console.log(`Dataset: ${layers.length} layers, ${inputBytes} bytes (${(inputBytes / MiB).toFixed(1)} MiB)${QUICK ? " (--quick)" : ""}, ${DATASET}`);
  const redisVersion = STORES.some((s) => s === "redis" || s.startsWith("cluster")) ? `; ${execFileSync("redis-server", ["--version"], { encoding: "utf8" }).trim().split(" ").slice(0, 3).join(" ")}` : "";
  console.log(`Machine: ${machine}; node ${process.version}${redisVersion}`);
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
  cassandra: "Cassandra 5.0, 1 node",
  distribution: "distribution 2.8 (peer)",
};

function printTable(rows: Row[], layerCount: number, inputBytes: number): void {
  const cell = (x: number | undefined, digits = 0) => (x === undefined || x === 0 ? "" : x.toFixed(digits));
  const line = (label: string, cells: string[]) => console.log(`| ${label} | ${cells.join(" | ")} |`);
  console.log();
  line("", rows.map((r) => TITLES[r.name]!));
  console.log(`|---|${rows.map(() => "---|").join("")}`);
  line(`ingest: \`add\` of the ${layerCount} layers, MB/s`, rows.map((r) => (r.name === "distribution" ? `(HTTP push: ${cell(r.ingestMBps)})` : cell(r.ingestMBps))));
  line("ingest CPU s (median): `add` + backend (Redis servers, Cassandra JVM)", rows.map((r) => {
    if (r.ingestCpu.length === 0) return "";
    const mid = [...r.ingestCpu].sort((a, b) => a.add - b.add)[Math.floor(r.ingestCpu.length / 2)]!;
    return `${mid.add.toFixed(1)}${r.name === "embedded" ? "" : ` + ${mid.backend.toFixed(1)}`}`;
  }));
  line("pull, 1 frontend, chunk cache off, MB/s", rows.map((r) => cell(r.frontends[0])));
  line("pull, 1 frontend, chunk cache on, first pass (cold cache), MB/s", rows.map((r) => cell(r.pullCacheCold)));
  line("pull, 1 frontend, chunk cache on, second pass (warm cache), MB/s", rows.map((r) => cell(r.pullCacheWarm)));
  for (const n of [2, 3]) line(`pull, ${n} frontends at once (cache off), aggregate MB/s`, rows.map((r) => cell(r.frontends[n - 1])));
  line("CPU ms per MB pulled (1 frontend, cache off): frontend process (its main thread) + backend (Redis servers, Cassandra JVM)", rows.map((r) => {
    const per = (seconds: number | undefined) => (seconds === undefined ? undefined : (seconds * 1000) / r.cpu.mb);
    const main = r.cpu.serveMain === undefined ? "" : ` (${cell(per(r.cpu.serveMain), 1)})`;
    return `${cell(per(r.cpu.serve), 1)}${main}${r.cpu.backend === undefined ? "" : ` + ${cell(per(r.cpu.backend), 1)}`}`;
  }));
  line("chunks", rows.map((r) => (r.stats === undefined ? "" : String(r.stats.chunks))));
  line("stored chunk MiB", rows.map((r) => (r.stats === undefined ? "" : cell(r.stats.storedBytes / MiB, 1))));
  line("backend MiB: disk (du; Cassandra: the keyspace's data directory after the drain and compactions), or Redis used_memory after - before the ingest, masters", rows.map((r) => {
    if (r.backendBytes === undefined) return "";
    const sstables = r.sstables === undefined ? "" : `; chunks in ${r.sstables.drained} SSTables after the drain, ${r.sstables.compacted} after compaction`;
    return `${cell(r.backendBytes / MiB, 1)} (${r.backendKind === "disk" ? "disk" : "RAM"}${sstables})`;
  }));
  line("backend bytes per stored chunk byte", rows.map((r) => (r.stats === undefined || r.backendBytes === undefined ? "" : cell(r.backendBytes / r.stats.storedBytes, 3))));
  line("backend bytes per logical byte", rows.map((r) => (r.backendBytes === undefined ? "" : cell(r.backendBytes / inputBytes, 3))));
  line("1-min load average during its measurements, min-max", rows.map((r) => `${Math.min(...r.loads).toFixed(1)}-${Math.max(...r.loads).toFixed(1)}`));
  for (const r of rows.filter((r) => r.starts !== undefined)) {
    console.log(`\n${TITLES[r.name]}: start-up, from spawning the JVM to its first CQL answer:`);
    for (const start of r.starts!) console.log(`- ${start.what}: ${start.seconds.toFixed(1)} s (load ${start.load.toFixed(1)})`);
  }

  console.log("\nThe issue's targets:");
  const embedded = rows.find((r) => r.name === "embedded");
  // Issue 4: Redis Cluster pulls at least half as fast as the embedded store; issue 6: Cassandra a third.
  const pullTargets = rows.flatMap((r) => (r.name.startsWith("cluster") ? [{ r, fraction: 1 / 2, words: "half" }] : r.name === "cassandra" ? [{ r, fraction: 1 / 3, words: "a third of" }] : []));
  for (const { r, fraction, words } of pullTargets) {
    if (embedded === undefined) break;
    for (const [what, ours, theirs] of [
      ["chunk cache off", r.frontends[0], embedded.frontends[0]],
      ["chunk cache on, cold", r.pullCacheCold, embedded.pullCacheCold],
      ["chunk cache on, warm", r.pullCacheWarm, embedded.pullCacheWarm],
    ] as const) {
      if (!ours || !theirs) continue;
      const ratio = ours / theirs;
      console.log(`- pull on ${TITLES[r.name]} (${what}) >= ${words} the embedded store's: ${ours.toFixed(0)} vs ${theirs.toFixed(0)} MB/s = ${ratio.toFixed(2)}x: ${ratio >= fraction ? "MET" : "MISSED"}`);
    }
  }
  const cassandra = rows.find((r) => r.name === "cassandra");
  if (cassandra?.backendBytes !== undefined && embedded?.backendBytes !== undefined) {
    const ratio = cassandra.backendBytes / embedded.backendBytes;
    console.log(`- Cassandra's disk bytes within 1.2x the embedded store's: ${cassandra.backendBytes} vs ${embedded.backendBytes} B = ${ratio.toFixed(3)}x: ${ratio <= 1.2 ? "MET" : "MISSED"}`);
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
