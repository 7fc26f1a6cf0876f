import { DedupError } from "../../errors.js";

/**
 * cassandra://[USER[:PASS]@]HOST[:PORT][,HOST[:PORT]...]/KEYSPACE[?replication=N&consistency=LEVEL&dc=NAME]
 *
 *   replication  replication factor set when the keyspace is created (default 1; production wants 3).
 *                An existing keyspace keeps the replication it has.
 *   consistency  consistency level of every read and write (default QUORUM): ONE, TWO, THREE,
 *                QUORUM, ALL, LOCAL_QUORUM, EACH_QUORUM, LOCAL_ONE.
 *   dc           the local data centre: requests go to its nodes, and a new keyspace is created
 *                with NetworkTopologyStrategy {dc: replication}. Without it, SimpleStrategy, and
 *                requests go to any node (token-aware): fine for a cluster of one data centre.
 */
export interface CassandraAddress {
  /** HOST:PORT of each node named in the URL. */
  contactPoints: string[];
  /**
   * The CQL port, the same on every node: the driver learns the other nodes of the cluster from
   * system.peers, which has their addresses but not their ports.
   */
  port: number;
  keyspace: string;
  replication: number;
  consistency: ConsistencyName;
  dc: string | undefined;
  username: string | undefined;
  password: string | undefined;
  /** The URL without credentials, for messages. */
  location: string;
}

export const CONSISTENCIES = ["ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "EACH_QUORUM", "LOCAL_ONE"] as const;
export type ConsistencyName = (typeof CONSISTENCIES)[number];

const DEFAULT_PORT = 9042;

export function parseCassandraUrl(url: string): CassandraAddress {
  const match = /^cassandra:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?]+)\/([^/?]*)(?:\?(.*))?$/i.exec(url);
  if (match === null) throw invalid(url, "expected cassandra://HOST:PORT[,HOST:PORT...]/KEYSPACE");
  const [, user, pass, hosts, keyspaceText, query] = match;
  const contactPoints = hosts!.split(",").map((hostPort) => {
    const at = /^(\[[^\]]+\]|[^:]+)(?::(\d{1,5}))?$/.exec(hostPort);
    if (at === null) throw invalid(url, `"${hostPort}" is not HOST[:PORT]`);
    const host = at[1]!;
    return `${host}:${Number(at[2] ?? DEFAULT_PORT)}`;
  });
  const ports = new Set(contactPoints.map((point) => Number(point.slice(point.lastIndexOf(":") + 1))));
  if (ports.size > 1) throw invalid(url, "every node must use the same CQL port (the driver finds the others by address only)");
  const keyspace = keyspaceText!.toLowerCase();
  // Unquoted CQL identifiers are case-insensitive; keyspace names are at most 48 characters.
  if (!/^[a-z][a-z0-9_]{0,47}$/.test(keyspace)) throw invalid(url, "the keyspace must be 1-48 of a-z 0-9 _, starting with a letter");
  const params = new URLSearchParams(query ?? "");
  for (const name of params.keys()) {
    if (!["replication", "consistency", "dc"].includes(name)) throw invalid(url, `unknown parameter "${name}" (known: replication, consistency, dc)`);
  }
  const replication = Number(params.get("replication") ?? 1);
  if (!Number.isInteger(replication) || replication < 1 || replication > 32) throw invalid(url, "replication must be a whole number from 1 to 32");
  const consistency = (params.get("consistency") ?? "QUORUM").toUpperCase();
  if (!(CONSISTENCIES as readonly string[]).includes(consistency)) throw invalid(url, `consistency must be one of ${CONSISTENCIES.join(", ")}`);
  const dc = params.get("dc") ?? undefined;
  if (dc !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(dc)) throw invalid(url, "dc must be 1-64 of A-Z a-z 0-9 _ . -");
  const shown = [...params.entries()].map(([k, v]) => `${k}=${v}`).join("&");
  return {
    contactPoints,
    port: [...ports][0]!,
    keyspace,
    replication,
    consistency: consistency as ConsistencyName,
    dc,
    username: user ? decodeURIComponent(user) : undefined,
    password: pass !== undefined ? decodeURIComponent(pass) : undefined,
    location: `cassandra://${hosts}/${keyspace}${shown ? `?${shown}` : ""}`,
  };
}

function invalid(url: string, why: string): DedupError {
  return new DedupError("INPUT_INVALID", `bad Cassandra store URL "${url.replace(/\/\/[^@/]*@/, "//***@")}": ${why}`);
}
