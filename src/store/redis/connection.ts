import { createClient, createCluster, RESP_TYPES } from "@redis/client";
import { DedupError } from "../../errors.js";

/**
 * One way to talk to a standalone Redis or a Redis Cluster, so the store above needs no branch
 * for either. Replies come back as Buffers (binary-safe: a UTF-8 decode would corrupt chunks).
 *
 * Failure policy, the same for every command:
 * - Commands are never queued while disconnected (`disableOfflineQueue`): a request fails at
 *   once instead of hanging, and the client reconnects in the background by itself.
 * - On a cluster, errors that a failover produces (a master's socket closing, CLUSTERDOWN,
 *   TRYAGAIN, a node briefly offline) are retried for up to `failoverMs`, so a pull that is
 *   running when a master dies completes once its replica has taken over. A standalone Redis
 *   has no one to take over: its errors are reported at once.
 */
export type Reply = Buffer | number | null | string | Reply[];
export type Arg = string | Buffer;

export interface RedisTarget {
  /** Where this is, for messages: the URL without credentials. */
  readonly location: string;
  /** Runs one command, routed by `key` on a cluster. Issued in one tick, commands are pipelined. */
  command(key: Arg | undefined, args: Arg[], readonly?: boolean): Promise<Reply>;
  /** Runs commands as one MULTI/EXEC; on a cluster every key must hash to the slot of `key`. */
  transaction(key: Arg, commands: Arg[][]): Promise<Reply[]>;
  /** The masters (one for a standalone Redis), to run node-wide commands on: SCAN, INFO, WAIT. */
  masters(): Promise<RedisNode[]>;
  close(): Promise<void>;
}

export interface RedisNode {
  command(args: Arg[]): Promise<Reply>;
}

export interface RedisAddress {
  cluster: boolean;
  /** host:port pairs; a cluster lists the nodes to discover the topology from. */
  nodes: { host: string; port: number }[];
  db: number;
  username?: string;
  password?: string;
  /** Prefix of every key this store writes: many stores can share one Redis. */
  prefix: string;
  /** The URL without credentials. */
  location: string;
}

const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;
/** How long a cluster command keeps retrying through a failover before it fails. */
const FAILOVER_MS = 15_000;

const DEFAULT_PORT = 6379;

/** Parses redis://[user:pass@]HOST:PORT[/DB][?prefix=P] and redis-cluster://[user:pass@]H:P[,H:P...][?prefix=P]. */
export function parseRedisUrl(url: string): RedisAddress {
  const match = /^(redis|redis-cluster):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)(?:\/(\d*))?(?:\?(.*))?$/i.exec(url);
  if (match === null) throw invalid(url, "expected redis://HOST:PORT[/DB] or redis-cluster://HOST:PORT[,HOST:PORT...]");
  const [, scheme, user, pass, hosts, db, query] = match;
  const cluster = scheme!.toLowerCase() === "redis-cluster";
  const nodes = hosts!.split(",").map((hostPort) => {
    const at = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(hostPort);
    if (at === null) throw invalid(url, `"${hostPort}" is not HOST[:PORT]`);
    return { host: at[1]!.replace(/^\[|\]$/g, ""), port: Number(at[2] ?? DEFAULT_PORT) };
  });
  if (!cluster && nodes.length > 1) throw invalid(url, "a standalone Redis has one address; use redis-cluster:// for a cluster");
  if (cluster && db) throw invalid(url, "a Redis Cluster has only database 0");
  const params = new URLSearchParams(query ?? "");
  const prefix = params.get("prefix") ?? "dd";
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(prefix)) throw invalid(url, "prefix must be 1-32 of A-Z a-z 0-9 _ . -");
  const location = `${scheme}://${hosts}${db ? `/${db}` : ""}${params.has("prefix") ? `?prefix=${prefix}` : ""}`;
  return {
    cluster,
    nodes,
    db: db ? Number(db) : 0,
    username: user ? decodeURIComponent(user) : undefined,
    password: pass !== undefined ? decodeURIComponent(pass) : undefined,
    prefix,
    location,
  };
}

function invalid(url: string, why: string): DedupError {
  return new DedupError("INPUT_INVALID", `bad Redis store URL "${url.replace(/\/\/[^@/]*@/, "//***@")}": ${why}`);
}

/** Connects, or fails with one clear line if Redis does not answer. */
export async function connectRedis(address: RedisAddress): Promise<RedisTarget> {
  let connected = false;
  const log = stateLogger(address.location, () => connected);
  const socket = {
    connectTimeout: 5_000,
    // Once connected, reconnect forever, backing off to 1 s: the service resumes by itself when
    // Redis is back. The first connection is not retried: a wrong URL should say so at once.
    reconnectStrategy: (attempt: number, cause: Error) => (connected ? Math.min(50 * 2 ** attempt, 1_000) : cause),
  };
  const credentials = { username: address.username, password: address.password };
  try {
    if (!address.cluster) {
      const { host, port } = address.nodes[0]!;
      const client = createClient({ socket: { ...socket, host, port }, database: address.db, disableOfflineQueue: true, ...credentials }).withTypeMapping(BUFFERS);
      client.on("error", log.down).on("ready", log.up);
      await connectOnce(client);
      connected = true;
      return standaloneTarget(address.location, client);
    }
    const cluster = createCluster({
      rootNodes: address.nodes.map(({ host, port }) => ({ socket: { host, port, connectTimeout: 5_000 } })),
      defaults: { socket, disableOfflineQueue: true, ...credentials },
      // Learn the new topology soon after a node drops, not after the default 5 s.
      topologyRefreshOnReconnectionAttemptStrategy: 200,
    }).withTypeMapping(BUFFERS);
    cluster.on("error", log.down);
    await connectOnce(cluster);
    connected = true;
    return clusterTarget(address.location, cluster);
  } catch (error) {
    throw unavailable(address.location, error);
  }
}

async function connectOnce(client: { connect(): Promise<unknown>; destroy?(): void; close?(): Promise<void> }): Promise<void> {
  try {
    await client.connect();
  } catch (error) {
    (client as { destroy?: () => void }).destroy?.();
    throw error;
  }
}

/** Logs a line when an established connection is lost and when it is back, not on every retry. */
function stateLogger(location: string, wasConnected: () => boolean): { down(error: Error): void; up(): void } {
  let isDown = false;
  return {
    down(error) {
      if (isDown || !wasConnected()) return;
      isDown = true;
      process.stderr.write(`docker-dedup: store ${location}: connection lost (${error.message}); requests fail with 503 until it is back\n`);
    },
    up() {
      if (!isDown) return;
      isDown = false;
      process.stderr.write(`docker-dedup: store ${location}: connected again\n`);
    },
  };
}

/** Any Redis failure, as the one error the layers above understand (HTTP 503 at the registry). */
export function unavailable(location: string, error: unknown): DedupError {
  if (error instanceof DedupError) return error;
  const message = error instanceof Error ? error.message || error.constructor.name : String(error);
  return new DedupError("STORE_UNAVAILABLE", `store ${location} is unavailable: ${message}`, { location }, { cause: error });
}

type Client = ReturnType<ReturnType<typeof createClient>["withTypeMapping"]>;
type Cluster = ReturnType<ReturnType<typeof createCluster>["withTypeMapping"]>;

function standaloneTarget(location: string, client: Client): RedisTarget {
  const guard = <T>(work: () => Promise<T>) => work().catch((error: unknown) => Promise.reject(unavailable(location, error)));
  return {
    location,
    command: (_key, args) => guard(() => client.sendCommand(args) as Promise<Reply>),
    transaction: (_key, commands) => guard(async () => {
      const multi = client.multi();
      for (const args of commands) multi.addCommand(args);
      return (await multi.exec()) as Reply[];
    }),
    masters: async () => [{ command: (args) => guard(() => client.sendCommand(args) as Promise<Reply>) }],
    close: () => client.close(),
  };
}

function clusterTarget(location: string, cluster: Cluster): RedisTarget {
  const guard = <T>(work: () => Promise<T>) => retryThroughFailover(work).catch((error: unknown) => Promise.reject(unavailable(location, error)));
  return {
    location,
    command: (key, args, readonly = false) => guard(() => cluster.sendCommand(key, readonly, args) as Promise<Reply>),
    transaction: (key, commands) => guard(async () => {
      const multi = cluster.multi(key);
      for (const args of commands) multi.addCommand(key, false, args);
      return (await multi.exec()) as Reply[];
    }),
    masters: () =>
      guard(() =>
        Promise.all(
          cluster.masters.map(async (master: (typeof cluster.masters)[number]) => {
            const client = await cluster.nodeClient(master);
            // Node clients do not inherit the cluster's type mapping.
            return { command: (args: Arg[]) => guard(() => client.sendCommand(args, { typeMapping: BUFFERS }) as Promise<Reply>) };
          }),
        ),
      ),
    close: () => cluster.close(),
  };
}

async function retryThroughFailover<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + FAILOVER_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      return await work();
    } catch (error) {
      if (!isFailoverError(error) || Date.now() + delay > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

function isFailoverError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (/^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY)\b/.test(error.message)) return true;
  return FAILOVER_ERRORS.has(error.constructor.name) || FAILOVER_ERRORS.has((error as NodeJS.ErrnoException).code ?? "");
}

/** What a dying master looks like from a client: its socket closes, resets or refuses. */
const FAILOVER_ERRORS = new Set([
  "ClientOfflineError",
  "SocketClosedUnexpectedlyError",
  "ConnectionTimeoutError",
  "ClientClosedError",
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
]);
