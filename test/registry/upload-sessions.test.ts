import assert from "node:assert/strict";
import { request } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { blobsOver } from "../blobs.js";
import { createRegistryServer } from "../../src/registry/app.js";
import { keys } from "../../src/registry/keys.js";
import type { UploadLimits, UploadSessions } from "../../src/registry/upload-session.js";
import { openStore } from "../../src/store/open.js";
import type { Store } from "../../src/store/types.js";
import { eventually, randomBytes, tempDir } from "../helpers.js";
import { asBody, expectError, openUpload, patchChunk, pushBlob, serveCli, sha256, uploadRecordsIn } from "./harness.js";

/**
 * Upload sessions kept in the store: several frontends over one store share them, a restart
 * keeps them, multi-part uploads are concatenated, idle ones expire.
 */

interface Frontend {
  url: string;
  /** Chunks this frontend has read from the store so far. */
  reads(): number;
  uploads: UploadSessions;
}

type TestContext = { after(fn: () => unknown): void };

/** `count` registries over one embedded store, as separate frontends over a shared store are. */
async function frontends(t: TestContext, count: number, uploads: Partial<UploadLimits> = {}, now?: () => number): Promise<{ store: Store; fronts: Frontend[] }> {
  const store = await openStore(join(await tempDir(t), "store"), { create: true });
  const fronts: Frontend[] = [];
  const servers: ReturnType<typeof createRegistryServer>[] = [];
  const logs: string[] = [];
  for (let i = 0; i < count; i++) {
    const counted = countingReads(store);
    // No chunk cache: every chunk a frontend reads comes from the store, so that reads can be counted.
    const server = createRegistryServer({ store: counted.store, blobs: blobsOver(t, counted.store, 0), uploads, log: (line) => logs.push(`frontend ${i}: ${line}`), ...(now === undefined ? {} : { now }) });
    await new Promise<void>((resolve) => server.server.listen(0, "127.0.0.1", resolve));
    servers.push(server);
    fronts.push({ url: `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`, reads: counted.reads, uploads: server.registry.uploads });
  }
  t.after(async () => {
    for (const server of servers) {
      server.server.closeAllConnections();
      await server.close();
    }
    await store.close();
    assert.deepEqual(logs, [], "no server-side failures");
  });
  return { store, fronts };
}

/** The same store, counting the chunks read through it (and with a chunk cache of its own). */
function countingReads(store: Store): { store: Store; reads: () => number } {
  let reads = 0;
  const counted = new Proxy(store, {
    get(target, property) {
      if (property === "getChunks") {
        return (ids: Parameters<Store["getChunks"]>[0]) => {
          reads += ids.length;
          return target.getChunks(ids);
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: counted, reads: () => reads };
}

/** Cuts `data` at `sizes` (the rest is the last part) and PATCHes each part to the next frontend in turn. */
async function patchParts(fronts: Frontend[], location: string, data: Buffer, sizes: number[]): Promise<void> {
  let at = 0;
  for (const [i, size] of [...sizes, data.length - sizes.reduce((a, b) => a + b, 0)].entries()) {
    const res = await patchChunk(fronts[i % fronts.length]!.url, location, data.subarray(at, at + size), at);
    assert.equal(res.status, 202, await res.text());
    at += size;
    assert.equal(res.headers.get("range"), `0-${at - 1}`);
  }
}

async function pull(url: string, name: string, digest: string, range?: string): Promise<Buffer> {
  const res = await fetch(`${url}/v2/${name}/blobs/${digest}`, { headers: range === undefined ? {} : { Range: range } });
  assert.equal(res.status, range === undefined ? 200 : 206);
  return Buffer.from(await res.arrayBuffer());
}

/** A PATCH whose body the test sends piece by piece, to hold a request open. */
function heldPatch(url: string, location: string, headers: Record<string, string>) {
  const req = request(`${url}${location}`, { method: "PATCH", headers });
  const answer = new Promise<{ status: number; range: string | undefined }>((resolve, reject) => {
    req.on("response", (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode!, range: res.headers.range }));
    });
    req.on("error", reject);
  });
  return {
    write: (piece: Uint8Array) => new Promise<void>((resolve) => req.write(piece, () => resolve())),
    end: () => {
      req.end();
      return answer;
    },
  };
}

test("multi-part uploads with odd part sizes: byte-exact, ranges across part boundaries, no re-read where the parts came in", async (t) => {
  const { fronts } = await frontends(t, 2);
  const [a, b] = fronts as [Frontend, Frontend];
  // Repeats, so that parts share chunks with each other.
  const data = Buffer.concat([randomBytes(700_000, 41), randomBytes(300_001, 42), randomBytes(700_000, 41)]);
  const sizes = [1, 7, 65_537, 1_000_003, 3];
  const digest = sha256(data);

  // All parts and the PUT on one frontend: the digest comes from its running hash.
  let location = await openUpload(a.url, "odd/a");
  await patchParts([a], location, data, sizes);
  assert.equal((await fetch(`${a.url}${location}?digest=${digest}`, { method: "PUT" })).status, 201);
  assert.equal(a.reads(), 0, "nothing re-read by the frontend that received every part");
  assert.ok((await pull(a.url, "odd/a", digest)).equals(data));
  for (const [start, end] of [[0, 0], [7, 8], [65_540, 1_065_547], [1_065_540, data.length - 1]] as const) {
    assert.ok((await pull(b.url, "odd/a", digest, `bytes=${start}-${end}`)).equals(data.subarray(start, end + 1)), `${start}-${end}`);
  }

  // Parts alternating between frontends, finished on the one that did not store the last part.
  location = await openUpload(b.url, "odd/b");
  await patchParts([a, b], location, data, sizes);
  const readsBefore = a.reads();
  assert.equal((await fetch(`${a.url}${location}?digest=${digest}`, { method: "PUT" })).status, 201);
  assert.ok(a.reads() - readsBefore > 0, "the parts were read back to compute the digest");
  assert.ok((await pull(b.url, "odd/b", digest)).equals(data));
});

test("a multi-part upload of a blob the store holds keeps its recipe; a final part can come with the PUT", async (t) => {
  const { store, fronts } = await frontends(t, 2);
  const [a, b] = fronts as [Frontend, Frontend];
  const data = randomBytes(900_000, 43);
  const digest = await pushBlob(a.url, "whole", data);
  const before = await store.getRecipe(digest);
  const location = await openUpload(a.url, "parts");
  await patchParts([a], location, data.subarray(0, 500_000), [123_457]);
  const put = await fetch(`${b.url}${location}?digest=${digest}`, {
    method: "PUT",
    body: asBody(data.subarray(500_000)),
    headers: { "Content-Range": `500000-${data.length - 1}` },
  });
  assert.equal(put.status, 201, await put.text());
  assert.deepEqual((await store.getRecipe(digest))!.ids, before!.ids, "the whole blob's own chunking stays");
  assert.ok((await pull(a.url, "parts", digest)).equals(data));
});

test("a wrong digest at the final PUT: DIGEST_INVALID, nothing linked, the session ends (one part, several, on either frontend)", async (t) => {
  const { store, fronts } = await frontends(t, 2);
  const [a, b] = fronts as [Frontend, Frontend];
  const data = randomBytes(300_000, 44);
  const claimed = sha256("something else");
  for (const [name, sizes, finisher] of [["one/part", [], a], ["many/here", [100_000, 1], a], ["many/there", [100_000, 1], b]] as const) {
    const location = await openUpload(a.url, name);
    await patchParts([a], location, data, [...sizes]);
    await expectError(await fetch(`${finisher.url}${location}?digest=${claimed}`, { method: "PUT" }), 400, "DIGEST_INVALID");
    await expectError(await fetch(`${a.url}/v2/${name}/blobs/${sha256(data)}`), 404, "BLOB_UNKNOWN");
    await expectError(await fetch(`${a.url}/v2/${name}/blobs/${claimed}`), 404, "BLOB_UNKNOWN");
    await expectError(await fetch(`${b.url}${location}`), 404, "BLOB_UPLOAD_UNKNOWN");
  }
  // A final part with the wrong digest, and a whole blob PUT on a fresh session.
  let location = await openUpload(a.url, "last/part");
  await patchParts([a], location, data.subarray(0, 1000), []);
  const last = { method: "PUT", body: asBody(data.subarray(1000)), headers: { "Content-Range": `1000-${data.length - 1}` } };
  await expectError(await fetch(`${a.url}${location}?digest=${claimed}`, last), 400, "DIGEST_INVALID");
  await expectError(await fetch(`${a.url}${location}`), 404, "BLOB_UPLOAD_UNKNOWN");
  location = await openUpload(a.url, "whole/wrong");
  const whole = randomBytes(50_000, 45);
  await expectError(await fetch(`${b.url}${location}?digest=${claimed}`, { method: "PUT", body: asBody(whole) }), 400, "DIGEST_INVALID");
  assert.equal(await store.getRecipe(sha256(whole)), undefined, "a whole-blob PUT is checked before its recipe is written");
  assert.equal(await uploadRecordsIn(store), 0);
});

test("an upload survives restarts of the server, a crash included", async (t) => {
  const store = join(await tempDir(t), "store");
  const data = randomBytes(2_500_000, 46);
  const cuts = [0, 1_000_000, 1_700_001, data.length];
  let server = await serveCli(t, ["--store", store]);
  const location = await openUpload(server.url, "restart/me");
  for (const [i, signal] of (["SIGKILL", "SIGTERM"] as const).entries()) {
    const res = await patchChunk(server.url, location, data.subarray(cuts[i], cuts[i + 1]), cuts[i]);
    assert.equal(res.status, 202);
    server.child.kill(signal);
    await server.exited;
    server = await serveCli(t, ["--store", store]);
    const status = await fetch(`${server.url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get("range"), `0-${cuts[i + 1]! - 1}`);
  }
  assert.equal((await patchChunk(server.url, location, data.subarray(cuts[2]), cuts[2])).status, 202);
  assert.equal((await fetch(`${server.url}${location}?digest=${sha256(data)}`, { method: "PUT" })).status, 201);
  assert.ok((await pull(server.url, "restart/me", sha256(data))).equals(data));
});

test("a chunk stored while another request appended to the session gets 416 and the current Range", async (t) => {
  const { fronts } = await frontends(t, 2);
  const [a, b] = fronts as [Frontend, Frontend];
  const mine = randomBytes(200_000, 47);
  const theirs = randomBytes(150_000, 48);
  const location = await openUpload(a.url, "race");
  const held = heldPatch(a.url, location, { "Content-Range": `0-${mine.length - 1}`, "Content-Length": String(mine.length) });
  await held.write(mine.subarray(0, 100_000));
  await eventually(async () => assert.equal(a.uploads.activeRequests, 1, "the held request is storing its part"));
  // The same frontend refuses a second request on the session at once ...
  await expectError(await patchChunk(a.url, location, theirs, 0), 416, "BLOB_UPLOAD_INVALID");
  // ... another one cannot tell, but the held request finds the record moved on.
  assert.equal((await patchChunk(b.url, location, theirs, 0)).status, 202);
  await held.write(mine.subarray(100_000));
  assert.deepEqual(await held.end(), { status: 416, range: `0-${theirs.length - 1}` });
  assert.equal((await fetch(`${a.url}${location}?digest=${sha256(theirs)}`, { method: "PUT" })).status, 201);
  assert.ok((await pull(a.url, "race", sha256(theirs))).equals(theirs));
});

test("idle sessions expire on every frontend; a request slower than the timeout keeps its session", async (t) => {
  // The frontends' clock is the test's: time passes when the test says so, however loaded the machine.
  let clock = Date.now();
  const { store, fronts } = await frontends(t, 2, { idleTimeoutMs: 400 }, () => clock);
  const [a, b] = fronts as [Frontend, Frontend];
  const idle = await openUpload(a.url, "expiry");
  assert.equal((await patchChunk(a.url, idle, Buffer.from("some bytes"), 0)).status, 202);
  clock += 500;
  // Unknown as soon as it is past the timeout, swept or not.
  await expectError(await fetch(`${b.url}${idle}`), 404, "BLOB_UPLOAD_UNKNOWN");
  await expectError(await patchChunk(a.url, idle, Buffer.from("more"), 10), 404, "BLOB_UPLOAD_UNKNOWN");

  // One PATCH held open for three times the timeout; the other frontend sweeps meanwhile.
  const data = randomBytes(240_000, 49);
  const slow = await openUpload(a.url, "expiry");
  const id = slow.split("/").pop()!;
  const held = heldPatch(a.url, slow, { "Content-Length": String(data.length) });
  await held.write(data.subarray(0, 80_000));
  await eventually(async () => assert.equal(a.uploads.activeRequests, 1, "the held request is storing its part"));
  for (let round = 0; round < 3; round++) {
    clock += 400;
    // The request's heartbeat marks the session as worked on at the new time ...
    await eventually(async () => assert.ok(Date.parse(JSON.parse((await store.getMeta(keys.upload(id)))!.toString()).updated) >= clock, "refreshed"));
    // ... so another frontend's sweep leaves it.
    await b.uploads.sweep();
    assert.equal(await uploadRecordsIn(store), 1, "the held session survived the sweep");
  }
  await held.write(data.subarray(80_000));
  assert.deepEqual(await held.end(), { status: 202, range: `0-${data.length - 1}` });
  assert.equal((await fetch(`${b.url}${slow}?digest=${sha256(data)}`, { method: "PUT" })).status, 201);
  clock += 500;
  await b.uploads.sweep();
  assert.equal(await uploadRecordsIn(store), 0, "the idle session was swept");
});
