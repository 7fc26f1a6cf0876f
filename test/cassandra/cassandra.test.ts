import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { randomBytes } from "../helpers.js";
import { Consistency, CqlError, cqlQuery } from "./cql.js";
import { startCassandra, type CassandraCluster, type CassandraNode } from "./servers.js";

/*
 * The test harness's real Cassandra (scripts/cassandra/*, test/cassandra/servers.ts): one node,
 * and a three-node cluster on 127.0.0.1-3 that survives one node's loss. Spoken to with the
 * harness's own minimal CQL client; the store tests use the cassandra-driver package.
 */

const MiB = 1024 * 1024;
const UNAVAILABLE = 0x1000;
const WRITE_TIMEOUT = 0x1100;

function q(node: CassandraNode, cql: string, consistency: number = Consistency.ONE) {
  return cqlQuery(node.address, node.port, cql, consistency, 30_000);
}

function digestOf(block: Buffer): string {
  return "sha256:" + createHash("sha256").update(block).digest("hex");
}

async function schemaAgreement(cluster: CassandraCluster): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const versions = new Set<string>();
    for (const node of cluster.nodes) {
      if (!node.process || node.process.exitCode !== null || node.process.signalCode !== null) continue;
      versions.add(String((await q(node, "SELECT schema_version FROM system.local"))[0]?.[0]?.toString("hex")));
    }
    if (versions.size === 1) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error("no schema agreement within 60 s");
}

function report(t: { diagnostic(message: string): void }, cluster: CassandraCluster, when = "at start"): void {
  const rss = cluster.nodes.map((n) => `${(n.rssBytes() / MiB).toFixed(0)} MiB`).join(", ");
  t.diagnostic(`${cluster.nodes.length} node(s) answered CQL ${cluster.startMs} ms after spawn; RSS ${when}: ${rss}`);
}

test("one Cassandra node on 127.0.0.1: CQL, a keyspace, a table, a blob round trip, a crash and restart", async (t) => {
  // batch: a write is acknowledged once its commit log is synced, so it survives the SIGKILL below.
  const cassandra = await startCassandra({ commitlogSync: "batch" });
  t.after(() => cassandra.stop());
  report(t, cassandra);
  const node = cassandra.nodes[0]!;
  assert.equal(node.address, "127.0.0.1");
  assert.deepEqual(cassandra.contactPoints, [`127.0.0.1:${node.port}`]);
  assert.equal(cassandra.url("tp"), `cassandra://127.0.0.1:${node.port}/tp`);

  const version = (await q(node, "SELECT release_version FROM system.local"))[0]?.[0]?.toString();
  assert.match(version ?? "", /^5\.0\.\d+$/);

  await q(node, "CREATE KEYSPACE tp WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await q(node, "CREATE TABLE tp.chunk (digest text PRIMARY KEY, block blob)");
  const block = randomBytes(64 * 1024, 3);
  const digest = digestOf(block);
  await q(node, `INSERT INTO tp.chunk (digest, block) VALUES ('${digest}', 0x${block.toString("hex")})`);
  const rows = await q(node, `SELECT block FROM tp.chunk WHERE digest = '${digest}'`);
  assert.equal(rows.length, 1);
  assert.ok(rows[0]![0]!.equals(block), "the blob reads back byte-exact");
  assert.deepEqual(await q(node, "SELECT block FROM tp.chunk WHERE digest = 'sha256:none'"), []);

  await node.kill();
  assert.equal(node.rssBytes(), 0);
  await node.restart();
  const again = await q(node, `SELECT block FROM tp.chunk WHERE digest = '${digest}'`);
  assert.ok(again[0]?.[0]?.equals(block), "the acknowledged blob survives a SIGKILL (commit log replay)");
});

test("three Cassandra nodes on 127.0.0.1-3: RF 3 survives one node's stop and crash, nodes restart", async (t) => {
  const cluster = await startCassandra({ nodes: 3 });
  t.after(() => cluster.stop());
  report(t, cluster);
  const [a, b, c] = cluster.nodes as [CassandraNode, CassandraNode, CassandraNode];
  assert.deepEqual(
    cluster.nodes.map((n) => n.address),
    ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
  );
  assert.equal(new Set(cluster.nodes.map((n) => n.port)).size, 1, "one CQL port on every address");
  const peers = await q(a, "SELECT peer FROM system.peers_v2");
  assert.equal(peers.length, 2);

  await q(a, "CREATE KEYSPACE tp WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 3}");
  await q(a, "CREATE TABLE tp.chunk (digest text PRIMARY KEY, block blob)");
  await schemaAgreement(cluster);

  const blocks = Array.from({ length: 6 }, (_, i) => randomBytes(16 * 1024, 100 + i));
  const put = (via: CassandraNode, block: Buffer, consistency: number) =>
    q(via, `INSERT INTO tp.chunk (digest, block) VALUES ('${digestOf(block)}', 0x${block.toString("hex")})`, consistency);
  const get = async (via: CassandraNode, block: Buffer, consistency: number) =>
    (await q(via, `SELECT block FROM tp.chunk WHERE digest = '${digestOf(block)}'`, consistency))[0]?.[0];

  await put(a, blocks[0]!, Consistency.ALL);
  assert.ok((await get(c, blocks[0]!, Consistency.ALL))?.equals(blocks[0]!));

  // A clean stop of one node: QUORUM reads and writes go on through the others, ALL is unavailable.
  await b.stop();
  await cluster.waitUntilUp();
  await put(a, blocks[1]!, Consistency.QUORUM);
  assert.ok((await get(c, blocks[0]!, Consistency.QUORUM))?.equals(blocks[0]!));
  assert.ok((await get(c, blocks[1]!, Consistency.QUORUM))?.equals(blocks[1]!));
  // Unavailable once the coordinator has seen the node go (a stop announces it), else a write timeout.
  await assert.rejects(put(a, blocks[2]!, Consistency.ALL), (e: unknown) => e instanceof CqlError && [UNAVAILABLE, WRITE_TIMEOUT].includes(e.code));
  await b.restart();
  await cluster.waitUntilUp();
  assert.ok((await get(b, blocks[1]!, Consistency.ALL))?.equals(blocks[1]!));

  // A crash (SIGKILL) of another node, then its restart: the commit log replays.
  await put(c, blocks[3]!, Consistency.ALL);
  await c.kill();
  await put(a, blocks[4]!, Consistency.QUORUM);
  assert.ok((await get(b, blocks[3]!, Consistency.QUORUM))?.equals(blocks[3]!));
  await c.restart();
  await cluster.waitUntilUp();
  for (const block of [blocks[0]!, blocks[1]!, blocks[3]!, blocks[4]!]) {
    assert.ok((await get(c, block, Consistency.ALL))?.equals(block), "every acknowledged block reads back at ALL");
  }
  report(t, cluster, "after the faults");
});
