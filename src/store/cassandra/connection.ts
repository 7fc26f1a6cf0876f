import cassandra from "cassandra-driver";
import { DedupError } from "../../errors.js";
import type { CassandraAddress } from "./address.js";

/**
 * The driver client and the failure policy every request of the store follows.
 *
 * - Every statement is prepared and marked idempotent: chunk rows are content-addressed, recipe
 *   and metadata writes set whole values, and deletes delete. So the driver may retry any of them
 *   on another coordinator when a connection breaks or a node answers "unavailable" or times out
 *   (`StoreRetryPolicy`): with replication 3 at QUORUM, a node stopping mid-request costs a retry,
 *   never a failed request. A request no node could answer fails as STORE_UNAVAILABLE.
 * - The driver marks a node down when its connections drop and then fails requests that have no
 *   node left at once (NoHostAvailableError), so a dead cluster is a 503 at once, not a hang.
 *   It reconnects in the background, every 100 ms backing off to 2 s (`reconnection`; the
 *   driver's default backs off to 10 minutes), so service resumes by itself.
 * - At most `MAX_IN_FLIGHT` requests of one store are in flight at once (`Limiter`): a big batch
 *   of chunks queues here, in order, instead of flooding the driver's per-connection queues.
 * - One log line when the last node is lost and one when a node is back, not one per request.
 */

export const MAX_IN_FLIGHT = 64;
/** A read or write of one chunk row: generous, since a node under compaction on a busy box is slow. */
const READ_TIMEOUT_MS = 20_000;
const RETRIES = 3;

const { consistencies } = cassandra.types;

export interface CassandraConnection {
  readonly client: cassandra.Client;
  readonly location: string;
  readonly consistency: number;
  /** Runs a prepared, idempotent statement at the store's consistency, within the in-flight bound. */
  execute(query: string, params?: unknown[], options?: cassandra.QueryOptions): Promise<cassandra.types.ResultSet>;
  close(): Promise<void>;
}

/** Retries idempotent requests on the next node a few times, whatever went wrong. */
class StoreRetryPolicy extends cassandra.policies.retry.RetryPolicy {
  #next(info: cassandra.policies.retry.OperationInfo): cassandra.policies.retry.DecisionInfo {
    return info.nbRetry < RETRIES ? this.retryResult(undefined as unknown as cassandra.types.consistencies, false) : this.rethrowResult();
  }
  override onUnavailable(info: cassandra.policies.retry.OperationInfo): cassandra.policies.retry.DecisionInfo {
    return this.#next(info);
  }
  override onReadTimeout(info: cassandra.policies.retry.OperationInfo): cassandra.policies.retry.DecisionInfo {
    return this.#next(info);
  }
  /** Only called for idempotent statements, which all of ours are. */
  override onWriteTimeout(info: cassandra.policies.retry.OperationInfo): cassandra.policies.retry.DecisionInfo {
    return this.#next(info);
  }
  override onRequestError(info: cassandra.policies.retry.OperationInfo): cassandra.policies.retry.DecisionInfo {
    return this.#next(info);
  }
}

/** A FIFO semaphore. */
export class Limiter {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(size: number) {
    this.#free = size;
  }
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}

/**
 * Connects, or fails with one clear line if no contact point answers. `role` names the cluster
 * in messages: the store, or a seed database being imported.
 */
export async function connectCassandra(address: CassandraAddress, role: ClusterRole = "store"): Promise<CassandraConnection> {
  const { loadBalancing, reconnection } = cassandra.policies;
  const client = new cassandra.Client({
    contactPoints: address.contactPoints,
    ...(address.dc !== undefined ? { localDataCenter: address.dc } : {}),
    policies: {
      // Without a dc, any node of the cluster may coordinate (the driver's default policy
      // insists on a named local data centre); token-aware either way, so a request goes to a
      // replica of its row first.
      loadBalancing: address.dc !== undefined ? new loadBalancing.DefaultLoadBalancingPolicy() : new loadBalancing.TokenAwarePolicy(new loadBalancing.RoundRobinPolicy()),
      reconnection: new reconnection.ExponentialReconnectionPolicy(100, 2_000, true),
      retry: new StoreRetryPolicy(),
    },
    socketOptions: { connectTimeout: 5_000, readTimeout: READ_TIMEOUT_MS },
    // The port of the nodes the driver discovers (system.peers has no port): the URL's.
    // No wait for schema agreement after a DDL statement: schema.ts waits for its own schema on
    // every node that is up (awaitSchema), which is what requests need; the driver's wait polls
    // every 500 ms (a second per statement) and counts down nodes' last versions too.
    protocolOptions: { port: address.port, maxSchemaAgreementWaitSeconds: 0 },
    queryOptions: { consistency: consistencies[toDriverName(address.consistency)], prepare: true, isIdempotent: true },
    ...(address.username !== undefined ? { credentials: { username: address.username, password: address.password ?? "" } } : {}),
  });
  try {
    await client.connect();
  } catch (error) {
    await client.shutdown().catch(() => undefined);
    throw unavailable(address.location, error, role);
  }
  const state = stateLogger(`${role} ${address.location}`);
  watchHosts(client, state);
  const limiter = new Limiter(MAX_IN_FLIGHT);
  const consistency = consistencies[toDriverName(address.consistency)];
  return {
    client,
    location: address.location,
    consistency,
    execute: (query, params = [], options = {}) =>
      limiter.run(() => client.execute(query, params, { prepare: true, isIdempotent: true, consistency, ...options })).then(
        (result) => {
          state.up();
          return result;
        },
        (error: unknown) => {
          if (error instanceof cassandra.errors.NoHostAvailableError) state.down("no node answers");
          throw unavailable(address.location, error, role);
        },
      ),
    close: () => client.shutdown(),
  };
}

/** QUORUM -> quorum, LOCAL_ONE -> localOne: the driver's names for consistency levels. */
function toDriverName(name: string): keyof typeof consistencies {
  return name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof typeof consistencies;
}

interface StateLogger {
  down(why: string): void;
  up(): void;
}

/** One line when the cluster becomes unreachable, one when it answers again; nothing per request. */
function stateLogger(cluster: string): StateLogger {
  let isDown = false;
  return {
    down(why) {
      if (isDown) return;
      isDown = true;
      process.stderr.write(`docker-dedup: ${cluster}: connection lost (${why}); requests fail with 503 until it is back\n`);
    },
    up() {
      if (!isDown) return;
      isDown = false;
      process.stderr.write(`docker-dedup: ${cluster}: connected again\n`);
    },
  };
}

/** The driver's view: the last node marked down, or one back up (requests report the same). */
function watchHosts(client: cassandra.Client, state: StateLogger): void {
  client.on("hostDown", (host: cassandra.Host) => {
    if (!client.hosts.values().some((h) => h.isUp())) state.down(`last node ${host.address} down`);
  });
  client.on("hostUp", () => state.up());
}

export type ClusterRole = "store" | "seed";

/** Any failure to reach Cassandra, as the error the layers above understand (HTTP 503). */
export function unavailable(location: string, error: unknown, role: ClusterRole = "store"): DedupError {
  if (error instanceof DedupError) return error;
  return new DedupError("STORE_UNAVAILABLE", `${role} ${location} is unavailable: ${unreachableReason(error)}`, { location }, { cause: error });
}

/** What went wrong reaching Cassandra, in one line. */
export function unreachableReason(error: unknown): string {
  const message = error instanceof Error ? error.message || error.constructor.name : String(error);
  // NoHostAvailableError lists one inner error per node tried: the first says what happened.
  const inner = (error as { innerErrors?: Record<string, Error> }).innerErrors;
  const first = inner && Object.entries(inner)[0];
  return first ? `no node answered (${first[0]}: ${(first[1]?.message ?? String(first[1])).split("\n")[0]})` : message.split("\n")[0]!;
}
