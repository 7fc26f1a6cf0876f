import { spawn, type ChildProcess } from "node:child_process";
import { createClient } from "@redis/client";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../e2e/reference-registry.js";
import { run } from "../helpers.js";

/**
 * Real Debian `redis-server` processes for tests and benchmarks, on free loopback ports, without
 * persistence, each in its own temporary directory, stopped by `stop()`.
 */
export interface RedisNode {
  port: number;
  process: ChildProcess;
  /** Stops the process hard (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (after `kill`). */
  restart(): Promise<void>;
}

export interface RedisServer {
  /** The store URL: redis://127.0.0.1:PORT or redis-cluster://127.0.0.1:P1,127.0.0.1:P2,... */
  url: string;
  nodes: RedisNode[];
  stop(): Promise<void>;
}

async function cli(port: number, ...args: string[]): Promise<string> {
  return run("redis-cli", ["-h", "127.0.0.1", "-p", String(port), ...args]);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startNode(dir: string, port: number, extra: string[]): Promise<RedisNode> {
  await mkdir(dir, { recursive: true });
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...extra];
  // Later arguments win: `extra` may turn persistence on.
  let log = "";
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (log = (log + d).slice(-4000)));
    child.stderr!.on("data", (d) => (log = (log + d).slice(-4000)));
    await waitFor(`redis-server on ${port}: ${log}`, async () => (await cli(port, "ping")).trim() === "PONG");
    return child;
  };
  const node: RedisNode = {
    port,
    process: await launch(),
    async kill() {
      if (node.process.exitCode !== null || node.process.signalCode !== null) return;
      const exited = new Promise((resolve) => node.process.once("exit", resolve));
      node.process.kill("SIGKILL");
      await exited;
    },
    async restart() {
      node.process = await launch();
    },
  };
  return node;
}

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), "docker-dedup-redis-"));
}

/** One standalone redis-server; `durable` turns on its append-only file, synced on every write. */
export async function startRedis(options: { durable?: boolean } = {}): Promise<RedisServer> {
  const dir = await scratch();
  const node = await startNode(dir, await freePort(), options.durable ? ["--appendonly", "yes", "--appendfsync", "always"] : []);
  return {
    url: `redis://127.0.0.1:${node.port}`,
    nodes: [node],
    async stop() {
      await node.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A Redis Cluster of `masters` masters with `replicas` replicas each, fast to fail over
 * (cluster-node-timeout 1 s). Resolves once every node reports cluster_state:ok.
 */
export async function startRedisCluster(masters = 3, replicas = 1): Promise<RedisServer> {
  const dir = await scratch();
  const nodes: RedisNode[] = [];
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freePort();
      const bus = await freePort();
      nodes.push(
        await startNode(join(dir, String(port)), port, [
          "--cluster-enabled", "yes",
          "--cluster-config-file", "nodes.conf",
          "--cluster-node-timeout", "1000",
          "--cluster-port", String(bus),
        ]),
      );
    }
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await run("redis-cli", ["--cluster", "create", ...addresses, "--cluster-replicas", String(replicas), "--cluster-yes"]);
    await waitFor("cluster_state:ok on every node", async () => {
      for (const node of nodes) if (!(await cli(node.port, "cluster", "info")).includes("cluster_state:ok")) return false;
      return true;
    });
    // Replicas must hold a copy before a test kills a master and expects its data to survive.
    await waitFor("replicas in sync", async () => {
      for (const node of nodes) {
        const info = await cli(node.port, "info", "replication");
        if (info.includes("role:slave") && !info.includes("master_link_status:up")) return false;
      }
      return true;
    });
  } catch (error) {
    await Promise.all(nodes.map((n) => n.kill()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `redis-cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
    nodes,
    async stop() {
      await Promise.all(nodes.map((n) => n.kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** The node that is a master for the slot of `key` right now. */
export async function masterOf(server: RedisServer, key: string | Buffer): Promise<RedisNode> {
  const client = createClient({ socket: { host: "127.0.0.1", port: server.nodes[0]!.port } });
  await client.connect();
  try {
    const slot = Number(await client.sendCommand(["CLUSTER", "KEYSLOT", key]));
    for (const line of String(await client.sendCommand(["CLUSTER", "NODES"])).split("\n")) {
      const fields = line.split(" ");
      if (!fields[2]?.includes("master")) continue;
      const port = Number(/:(\d+)@/.exec(fields[1]!)?.[1]);
      for (const range of fields.slice(8)) {
        const [from, to = from] = range.split("-").map(Number);
        if (slot >= from! && slot <= to!) return server.nodes.find((node) => node.port === port)!;
      }
    }
    throw new Error(`no master serves slot ${slot}`);
  } finally {
    await client.close();
  }
}
