import { execFile, spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../helpers.js";
import { Consistency, cqlQuery } from "./cql.js";

/**
 * Real Apache Cassandra 5.0 nodes for tests and benchmarks, run from the Maven Central jars that
 * scripts/cassandra/fetch.sh caches (one JVM per node, started by scripts/cassandra/node.sh): one
 * node on 127.0.0.1, or a cluster of nodes on 127.0.0.1, 127.0.0.2, 127.0.0.3, ... that all use the
 * same two free ports (CQL and inter-node) on their own loopback address. Every node is a seed
 * and has one fixed token, so nodes start together and restart in any order. Data lives in a
 * temporary directory that `stop()` removes. JMX is off.
 *
 * Needs java 17 (and, for the first fetch only, mvn) on PATH; see scripts/cassandra/fetch.sh.
 */

export interface CassandraNode {
  /** Its loopback address, 127.0.0.N. */
  address: string;
  /** The CQL (native transport) port; the same on every node of a cluster. */
  port: number;
  /** "ADDRESS:PORT", for a driver's contactPoints. */
  contactPoint: string;
  /** Its directory: cassandra.yaml, data/, commitlog/, node.log. */
  dir: string;
  /** The JVM, while it runs. */
  process: ChildProcess | undefined;
  /** Stops the node cleanly (SIGTERM: it drains and flushes), SIGKILL after 30 s. */
  stop(): Promise<void>;
  /** Stops it hard (SIGKILL), as a crash would; the commit log replays at restart. */
  kill(): Promise<void>;
  /** Starts it again on the same address, ports and data (after `stop` or `kill`), until CQL answers. */
  restart(): Promise<void>;
  /** Resident memory of its JVM in bytes (0 when it is not running). */
  rssBytes(): number;
  /** CPU time (user + system) its JVM has used so far, in seconds (0 when it is not running). */
  cpuSeconds(): number;
  /** The last `lines` lines of its log. */
  logTail(lines?: number): Promise<string>;
}

export interface CassandraCluster {
  nodes: CassandraNode[];
  /** Every node's "ADDRESS:PORT". */
  contactPoints: string[];
  /** SimpleSnitch's data centre, which a driver needs as localDataCenter. */
  localDataCenter: string;
  /** The store URL for a keyspace: cassandra://127.0.0.1:P[,127.0.0.2:P...]/KEYSPACE. */
  url(keyspace: string): string;
  /**
   * Resolves once every running node answers CQL and sees every other node up: a read at
   * consistency ALL of system_distributed (replication factor 3) succeeds with each running node as
   * coordinator. While some nodes are stopped, the running ones are checked at QUORUM instead (so
   * at least two of three must run).
   */
  waitUntilUp(options?: { timeoutMs?: number }): Promise<void>;
  /** Milliseconds from the first spawn to every node answering (and, for a cluster, all up). */
  startMs: number;
  /** Kills every node (SIGKILL: the data is thrown away) and removes the directory. */
  stop(): Promise<void>;
}

export interface CassandraOptions {
  /** 1 (default) or more nodes, on 127.0.0.1 .. 127.0.0.N. */
  nodes?: number;
  /** JVM heap per node (-Xms and -Xmx). Default 256M: enough for tests, ~300-400 MiB RSS a node. */
  heap?: string;
  /**
   * Only the C1 JIT (-XX:TieredStopAtLevel=1): ~35% less CPU to start, slower at steady state.
   * Default true; benchmarks should pass false.
   */
  quickJit?: boolean;
  /** Start the nodes of a cluster all at once (default) or one after another. */
  parallel?: boolean;
  /** Budget for the whole start, default 240 s (a node takes 10-40 s on 2 busy cores). */
  timeoutMs?: number;
  /** Cassandra's root log level (default INFO; the log is in each node's dir as node.log). */
  logLevel?: string;
  /**
   * "periodic" (default, Cassandra's own: writes are acknowledged before their commit log section
   * is synced, every 10 s, so a node's SIGKILL loses up to 10 s of writes it acknowledged; replicas
   * on other nodes keep them) or "batch" (acknowledged once synced: a SIGKILL loses nothing
   * acknowledged; for crash tests on a single node).
   */
  commitlogSync?: "periodic" | "batch";
}

const NODE_SH = join(REPO_ROOT, "scripts", "cassandra", "node.sh");
const FETCH_SH = join(REPO_ROOT, "scripts", "cassandra", "fetch.sh");

/** Token i of n, evenly spaced over Murmur3's range. */
function tokenOf(i: number, n: number): string {
  const span = 2n ** 64n;
  return String(-(2n ** 63n) + (span / BigInt(n)) * BigInt(i));
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/** A port free on every one of `hosts` right now. */
async function freePortOn(hosts: string[]): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const servers: Server[] = [];
    try {
      const first = createServer();
      servers.push(first);
      const port = await listen(first, hosts[0]!, 0);
      for (const host of hosts.slice(1)) {
        const s = createServer();
        servers.push(s);
        await listen(s, host, port);
      }
      return port;
    } catch {
      // taken on one of the other addresses: try another
    } finally {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
    }
  }
  throw new Error(`no port free on all of ${hosts.join(", ")}`);
}

function fetchLib(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("bash", [FETCH_SH], { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`scripts/cassandra/fetch.sh failed: ${stderr || error.message}`));
      else resolve(stdout.trim().split("\n").pop()!);
    });
  });
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
/** A test process that exits without stop() must not leave JVMs behind (node.sh also sets pdeathsig). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of running) child.kill("SIGKILL");
  });
}

function alive(child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

async function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (!alive(child)) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface NodeSpec {
  dir: string;
  address: string;
  port: number;
  storagePort: number;
  seeds: string;
  token: string;
  env: NodeJS.ProcessEnv;
}

function makeNode(spec: NodeSpec): { node: CassandraNode; launch(): void } {
  const logFile = join(spec.dir, "node.log");
  const node: CassandraNode = {
    address: spec.address,
    port: spec.port,
    contactPoint: `${spec.address}:${spec.port}`,
    dir: spec.dir,
    process: undefined,
    async stop() {
      const child = node.process;
      if (!alive(child)) return;
      child.kill("SIGTERM");
      if (!(await waitForExit(child, 30_000))) {
        child.kill("SIGKILL");
        await waitForExit(child, 10_000);
      }
    },
    async kill() {
      const child = node.process;
      if (!alive(child)) return;
      child.kill("SIGKILL");
      await waitForExit(child, 10_000);
    },
    async restart() {
      if (alive(node.process)) throw new Error(`cassandra ${node.contactPoint} is still running`);
      launch();
      await waitForCql(node, Date.now() + 240_000);
    },
    rssBytes() {
      const pid = node.process?.pid;
      if (!alive(node.process) || pid === undefined) return 0;
      try {
        const status = readFileSync(`/proc/${pid}/status`, "utf8");
        const kib = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
        return kib ? Number(kib) * 1024 : 0;
      } catch {
        return 0;
      }
    },
    cpuSeconds() {
      const pid = node.process?.pid;
      if (!alive(node.process) || pid === undefined) return 0;
      try {
        // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: 100 per second on Linux
      } catch {
        return 0;
      }
    },
    async logTail(lines = 40) {
      const text = await readFile(logFile, "utf8").catch(() => "");
      return text.split("\n").slice(-lines - 1).join("\n");
    },
  };
  const launch = () => {
    const fd = openSync(logFile, "a"); // a file, not a pipe: an undrained pipe would block the JVM
    try {
      const child = spawn(
        "bash",
        [NODE_SH, spec.dir, spec.address, String(spec.port), String(spec.storagePort), spec.seeds, spec.token],
        { stdio: ["ignore", fd, fd], env: spec.env },
      );
      running.add(child);
      child.once("exit", () => running.delete(child));
      node.process = child;
    } finally {
      closeSync(fd);
    }
  };
  return { node, launch };
}

/** Polls the node with a CQL query until it answers, failing early if its JVM exits. */
async function waitForCql(node: CassandraNode, deadline: number): Promise<void> {
  let last = "";
  while (Date.now() < deadline) {
    const child: ChildProcess | undefined = node.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `cassandra ${node.contactPoint} exited (${child?.exitCode ?? child?.signalCode}) before answering CQL; ` +
          `its log (${node.dir}/node.log) ends:\n${await node.logTail()}`,
      );
    }
    try {
      await cqlQuery(node.address, node.port, "SELECT release_version FROM system.local", Consistency.ONE, 5_000);
      return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`cassandra ${node.contactPoint} did not answer CQL in time (last: ${last}); its log ends:\n${await node.logTail()}`);
}

/** Every running node, as coordinator, reaches every replica of system_distributed (RF 3, or n). */
async function waitForAllUp(nodes: CassandraNode[], deadline: number): Promise<void> {
  if (nodes.length < 2) return;
  const everyone = nodes.every((n) => alive(n.process));
  let last = "";
  while (Date.now() < deadline) {
    try {
      for (const node of nodes) {
        if (!alive(node.process)) continue;
        await cqlQuery(
          node.address,
          node.port,
          "SELECT id FROM system_distributed.repair_history LIMIT 1",
          everyone ? Consistency.ALL : Consistency.QUORUM,
          10_000,
        );
      }
      return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`the cluster did not come up in time (last: ${last})`);
}

/**
 * Starts `nodes` Cassandra nodes (default 1) and resolves once all answer CQL and see each other.
 * Retries the whole start on other ports if a port was taken meanwhile.
 */
export async function startCassandra(options: CassandraOptions = {}): Promise<CassandraCluster> {
  const count = options.nodes ?? 1;
  const quickJit = options.quickJit ?? true;
  const timeoutMs = options.timeoutMs ?? 240_000;
  installExitHook();
  const lib = await fetchLib();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CASSANDRA_LIB: lib,
    CASSANDRA_HEAP: options.heap ?? "256M",
    CASSANDRA_LOG_LEVEL: options.logLevel ?? "INFO",
    CASSANDRA_COMMITLOG_SYNC: options.commitlogSync ?? "periodic",
    CASSANDRA_JVM_EXTRA: [process.env["CASSANDRA_JVM_EXTRA"], quickJit ? "-XX:TieredStopAtLevel=1" : ""].filter(Boolean).join(" "),
  };
  const addresses = Array.from({ length: count }, (_, i) => `127.0.0.${i + 1}`);

  for (let attempt = 1; ; attempt++) {
    const root = await mkdtemp(join(tmpdir(), "docker-dedup-cassandra-"));
    const port = await freePortOn(addresses);
    let storagePort = await freePortOn(addresses);
    while (storagePort === port) storagePort = await freePortOn(addresses);
    const seeds = addresses.map((a) => `${a}:${storagePort}`).join(",");
    const made = addresses.map((address, i) =>
      makeNode({ dir: join(root, `node${i + 1}`), address, port, storagePort, seeds, token: tokenOf(i, count), env }),
    );
    const nodes = made.map((m) => m.node);
    const started = Date.now();
    const deadline = started + timeoutMs;
    try {
      await Promise.all(nodes.map((n) => mkdir(n.dir, { recursive: true })));
      if (options.parallel ?? true) {
        made.forEach((m) => m.launch());
        await Promise.all(nodes.map((n) => waitForCql(n, deadline)));
      } else {
        for (const m of made) {
          m.launch();
          await waitForCql(m.node, deadline);
        }
      }
      await waitForAllUp(nodes, deadline);
    } catch (error) {
      await Promise.all(nodes.map((n) => n.kill()));
      const logs = (await Promise.all(nodes.map((n) => n.logTail(400)))).join("\n");
      await rm(root, { recursive: true, force: true });
      if (attempt < 3 && /Address already in use|BindException|Failed to bind/.test(logs)) continue;
      throw error;
    }
    const startMs = Date.now() - started;
    return {
      nodes,
      contactPoints: nodes.map((n) => n.contactPoint),
      localDataCenter: "datacenter1",
      url: (keyspace) => `cassandra://${nodes.map((n) => n.contactPoint).join(",")}/${keyspace}`,
      waitUntilUp: ({ timeoutMs: budget = 120_000 } = {}) => waitForAllUp(nodes, Date.now() + budget),
      startMs,
      async stop() {
        await Promise.all(nodes.map((n) => n.kill()));
        await rm(root, { recursive: true, force: true });
      },
    };
  }
}
