import assert from "node:assert/strict";
import { test } from "node:test";
import { ReadGate } from "../../src/registry/read-gate.js";
import { eventually, randomBytes } from "../helpers.js";
import { pushBlob, startRegistry } from "./harness.js";

test("ReadGate admits up to its limit, then strictly in arrival order; a waiter that leaves gives up its turn", async () => {
  const gate = new ReadGate(2);
  const a = await gate.enter();
  const b = await gate.enter();
  const order: string[] = [];
  const left = new AbortController();
  const c = gate.enter().then((release) => (order.push("c"), release));
  const gone = gate.enter(left.signal).then(
    () => order.push("gone"),
    () => order.push("gone: aborted"),
  );
  const d = gate.enter().then((release) => (order.push("d"), release));
  assert.equal(gate.waiting, 3);
  left.abort();
  await gone;
  a();
  a(); // a second release is ignored
  (await c)();
  b();
  (await d)();
  assert.deepEqual(order, ["gone: aborted", "c", "d"]);
  // Without a limit nobody waits.
  const open = new ReadGate(0);
  await Promise.all([open.enter(), open.enter(), open.enter()]);
  assert.equal(open.waiting, 0);
});

test("--max-concurrent-reads 1: one blob rebuilt at a time, the rest served in arrival order", async (t) => {
  const { url, server } = await startRegistry(t, { maxConcurrentReads: 1 });
  const queued = (n: number) => eventually(async () => assert.equal(server.registry.reads.waiting, n, "requests queued"));
  const big = randomBytes(16 << 20, 51);
  const bigDigest = await pushBlob(url, "gate", big);
  const small = await pushBlob(url, "gate", Buffer.from("small"));

  const first = await fetch(`${url}/v2/gate/blobs/${bigDigest}`);
  const reader = first.body!.getReader();
  await reader.read(); // the first rebuild is under way and holds the only place
  const answered: string[] = [];
  const second = fetch(`${url}/v2/gate/blobs/${small}`).then(async (res) => (answered.push("second"), await res.text()));
  await queued(1);
  const third = fetch(`${url}/v2/gate/blobs/${small}`).then(async (res) => (answered.push("third"), await res.text()));
  await queued(2);
  // HEAD needs no rebuild and is not queued.
  assert.equal((await fetch(`${url}/v2/gate/blobs/${bigDigest}`, { method: "HEAD" })).status, 200);
  assert.deepEqual(answered, [], "queued behind the first download");
  let received = 0;
  for (let part = await reader.read(); !part.done; part = await reader.read()) received += part.value.length;
  assert.ok(received > 0);
  assert.deepEqual(await Promise.all([second, third]), ["small", "small"]);
  assert.deepEqual(answered, ["second", "third"]);
});
