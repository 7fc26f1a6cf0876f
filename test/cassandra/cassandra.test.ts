import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import cassandra from "cassandra-driver";
import { eventually, randomBytes } from "../helpers.js";
import { cqlQuery } from "./cql.js";
import { startCassandra, type CassandraCluster, type CassandraNode } from "./servers.js";

/*
 * The test harness's real Cassandra (scripts/cassandra/*, test/cassandra/servers.ts), spoken to
 * with the cassandra-driver package: one node, and a three-node cluster on 127.0.0.1-3 with
 * replication factor 3 that loses nothing when one node stops or crashes in the middle of writes.
 */

const MiB = 1024 * 1024;
const { consistencies, responseErrorCodes } = cassandra.types;

function digestOf(block: Buffer): string {
  return "sha256:" + createHash("sha256").update(block).digest("hex");
}

function clientFor(cluster: CassandraCluster): cassandra.Client {
  return new cassandra.Client({
    contactPoints: cluster.contactPoints,
    localDataCenter: cluster.localDataCenter,
    // A restarted node is back in the pool a quarter second after it listens again.
    policies: { reconnection: new cassandra.policies.reconnection.ConstantReconnectionPolicy(250) },
    // The nodes it discovers (system.peers lists no ports) listen on the contact points' port, not
    // on the default 9042: without this the driver reaches only the contact points it was given,
    // and a request's plan could hold the stopping node alone (seen in CI).
    protocolOptions: { port: cluster.nodes[0]!.port, maxSchemaAgreementWaitSeconds: 60 },
    socketOptions: { readTimeout: 30_000 },
    // Content-addressed inserts are idempotent: the driver may retry them on another coordinator.
    queryOptions: { consistency: consistencies.quorum, prepare: true, isIdempotent: true },
  });
}

/** The server error codes in a driver error, looking inside NoHostAvailableError. */
function codesOf(error: unknown): number[] {
  const e = error as { code?: number; innerErrors?: Record<string, { code?: number }> };
  const inner = Object.values(e.innerErrors ?? {}).map((i) => i.code);
  return [e.code, ...inner].filter((code): code is number => typeof code === "number");
}

/** A driver error with the answer of every coordinator it tried (NoHostAvailableError hides them). */
function describe(error: unknown): string {
  const e = error as Error & { innerErrors?: Record<string, unknown> };
  const inner = Object.entries(e.innerErrors ?? {}).map(([host, i]) => `${host}: ${i instanceof Error ? i.message : String(i)}`);
  return inner.length > 0 ? `${e.message} [${inner.join("; ")}]` : e.message;
}

function report(t: { diagnostic(message: string): void }, cluster: CassandraCluster, when = "at start"): void {
  const rss = cluster.nodes.map((n) => `${(n.rssBytes() / MiB).toFixed(0)} MiB`).join(", ");
  t.diagnostic(`${cluster.nodes.length} node(s) answered CQL ${cluster.startMs} ms after spawn; RSS ${when}: ${rss}`);
}

test("one Cassandra node on 127.0.0.1: keyspace, table, a blob round trip, a crash and restart", async (t) => {
  // batch: a write is acknowledged once its commit log is synced, so it survives the SIGKILL below.
  const server = await startCassandra({ commitlogSync: "batch" });
  t.after(() => server.stop());
  report(t, server);
  const node = server.nodes[0]!;
  assert.equal(node.address, "127.0.0.1");
  assert.deepEqual(server.contactPoints, [`127.0.0.1:${node.port}`]);
  assert.equal(server.url("tp"), `cassandra://127.0.0.1:${node.port}/tp`);
  // The harness's own driver-less probe reads the same node.
  const version = (await cqlQuery(node.address, node.port, "SELECT release_version FROM system.local"))[0]?.[0]?.toString();
  assert.match(version ?? "", /^5\.0\.\d+$/);

  const block = randomBytes(64 * 1024, 3);
  const digest = digestOf(block);
  const read = async (client: cassandra.Client) =>
    (await client.execute("SELECT block FROM tp.chunk WHERE digest = ?", [digest])).first()?.["block"] as Buffer | undefined;
  const client = clientFor(server);
  try {
    await client.connect();
    assert.equal(client.hosts.length, 1);
    await client.execute("CREATE KEYSPACE tp WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
    await client.execute("CREATE TABLE tp.chunk (digest text PRIMARY KEY, block blob)");
    await client.execute("INSERT INTO tp.chunk (digest, block) VALUES (?, ?)", [digest, block]);
    assert.ok((await read(client))?.equals(block), "the blob reads back byte-exact");
    assert.equal((await client.execute("SELECT block FROM tp.chunk WHERE digest = ?", ["sha256:none"])).rowLength, 0);
  } finally {
    // Shut down before the only node goes: cassandra-driver 4.10.0 leaks its control connection's
    // reconnection (the process never exits) when a client outlives a restart of its only host.
    await client.shutdown();
  }

  await node.kill();
  assert.equal(node.rssBytes(), 0);
  await node.restart();
  const after = clientFor(server);
  try {
    await after.connect();
    assert.ok((await read(after))?.equals(block), "the acknowledged blob survives a SIGKILL (commit log replay)");
  } finally {
    await after.shutdown();
  }
});

test("three Cassandra nodes on 127.0.0.1-3, RF 3: one node stopped or crashed mid-writes loses nothing", async (t) => {
  const cluster = await startCassandra({ nodes: 3 });
  t.after(() => cluster.stop());
  report(t, cluster);
  const [, b, c] = cluster.nodes as [CassandraNode, CassandraNode, CassandraNode];
  assert.deepEqual(
    cluster.nodes.map((n) => n.address),
    ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
  );
  assert.equal(new Set(cluster.nodes.map((n) => n.port)).size, 1, "one CQL port on every address");

  const client = clientFor(cluster);
  try {
    await client.connect();
    assert.equal(client.hosts.length, 3, "the driver found all three nodes");
    await client.execute("CREATE KEYSPACE tp WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
    await client.execute("CREATE TABLE tp.chunk (digest text PRIMARY KEY, block blob)");

    const put = (block: Buffer, consistency = consistencies.quorum) =>
      client.execute("INSERT INTO tp.chunk (digest, block) VALUES (?, ?)", [digestOf(block), block], { consistency });
    const get = async (block: Buffer, consistency = consistencies.quorum) =>
      (await client.execute("SELECT block FROM tp.chunk WHERE digest = ?", [digestOf(block)], { consistency })).first()?.[
        "block"
      ] as Buffer | undefined;
    const blocks = Array.from({ length: 120 }, (_, i) => randomBytes(16 * 1024, 100 + i));
    /** Writes in flight during a fault: each failed one named with every coordinator's answer. */
    const writeAll = (range: Buffer[]) =>
      Promise.allSettled(range.map((block) => put(block))).then((results) =>
        results.flatMap((r) => (r.status === "rejected" ? [describe(r.reason)] : [])),
      );
    const all = async (consistency: number, range: Buffer[]) => {
      for (const block of range) assert.ok((await get(block, consistency))?.equals(block), "an acknowledged block reads back");
    };

    await put(blocks[0]!, consistencies.all);
    await all(consistencies.all, blocks.slice(0, 1));

    // A clean stop in the middle of 40 concurrent writes: every write is acknowledged at QUORUM.
    const firstBatch = blocks.slice(1, 41);
    const writing = writeAll(firstBatch);
    await b.stop();
    assert.deepEqual(await writing, [], "every write in flight during the stop is acknowledged");
    await all(consistencies.quorum, firstBatch);
    // Unavailable once the coordinators have seen the node go (a stop announces it), else a write
    // timeout; the driver tries every host, then wraps the servers' answers in NoHostAvailableError.
    await assert.rejects(put(blocks[41]!, consistencies.all), (e: unknown) =>
      codesOf(e).some((code) => code === responseErrorCodes.unavailableException || code === responseErrorCodes.writeTimeout),
    );
    await b.restart();
    await cluster.waitUntilUp();
    await eventually(() => all(consistencies.all, firstBatch), 60_000, 250);

    // A crash (SIGKILL) in the middle of 60 concurrent writes, then its restart.
    const secondBatch = blocks.slice(42, 102);
    const crashing = writeAll(secondBatch);
    await c.kill();
    assert.deepEqual(await crashing, [], "every write in flight during the crash is acknowledged");
    await all(consistencies.quorum, secondBatch);
    await c.restart();
    await cluster.waitUntilUp();
    await eventually(() => all(consistencies.all, [blocks[0]!, ...firstBatch, ...secondBatch]), 60_000, 250);
    report(t, cluster, "after the faults");
  } finally {
    await client.shutdown();
  }
});
