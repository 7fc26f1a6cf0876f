import assert from "node:assert/strict";
import { connect, type AddressInfo, type Socket } from "node:net";
import { test } from "node:test";
import { randomBytes } from "../helpers.js";
import { chunked, exchange, type RawResponse } from "../fuzz/raw-http.js";
import { sha256, startRegistry, uploadRecordsIn } from "./harness.js";

/** The reproducers of the hostile-input issue, one by one; the fuzz suite covers their kin. */

function portOf(registry: { server: { server: { address(): unknown } } }): number {
  return (registry.server.server.address() as AddressInfo).port;
}

function codeOf(res: RawResponse | undefined): string | undefined {
  assert.ok(res !== undefined, "no answer");
  assert.match(res.headers["content-type"] ?? "", /^application\/json/);
  return (JSON.parse(res.body.toString()) as { errors: { code: string }[] }).errors[0]?.code;
}

async function openSession(port: number, from?: string): Promise<RawResponse | undefined> {
  return exchange(port, { method: "POST", target: "/v2/hostile/app/blobs/uploads/", headers: [["Content-Length", "0"]], ...(from === undefined ? {} : { from }) });
}

test("a chunked PATCH or PUT longer than its Content-Range is refused (400 SIZE_INVALID), stores nothing, and the server goes on", async (t) => {
  const registry = await startRegistry(t);
  const port = portOf(registry);
  const body = randomBytes(150, 1);
  for (const method of ["PATCH", "PUT"]) {
    const location = (await openSession(port))!.headers.location!;
    const target = method === "PUT" ? `${location}?digest=${sha256(body)}` : location;
    const res = await exchange(port, { method, target, headers: [["Content-Range", "0-99"], ["Transfer-Encoding", "chunked"]], body: chunked(body, 2) });
    assert.equal(res?.status, 400, method);
    assert.equal(codeOf(res), "SIZE_INVALID");
    assert.equal(res?.headers.connection, "close", "the unread rest of the body ends the connection");
    const status = await exchange(port, { method: "GET", target: location });
    assert.equal(status?.headers.range, "0-0", `${method}: nothing of the refused body was added`);
  }
  // A body that ends short of its Content-Range is refused too.
  const location = (await openSession(port))!.headers.location!;
  const short = await exchange(port, { method: "PATCH", target: location, headers: [["Content-Range", "0-99"], ["Transfer-Encoding", "chunked"]], body: chunked(body.subarray(0, 50)) });
  assert.equal(short?.status, 400);
  assert.equal((await exchange(port, { method: "GET", target: location }))?.headers.range, "0-0");
  assert.equal((await exchange(port, { method: "GET", target: "/v2/" }))?.status, 200);
  assert.deepEqual(registry.logs, []);
});

test("a chunked manifest over the limit is 413 MANIFEST_INVALID; duplicate keys are MANIFEST_INVALID", async (t) => {
  const registry = await startRegistry(t);
  const port = portOf(registry);
  const huge = Buffer.alloc(5 << 20, 0x20);
  const res = await exchange(port, { method: "PUT", target: "/v2/hostile/app/manifests/big", headers: [["Content-Type", "application/vnd.oci.image.manifest.v1+json"], ["Transfer-Encoding", "chunked"]], body: chunked(huge, 5) });
  assert.equal(res?.status, 413);
  assert.equal(codeOf(res), "MANIFEST_INVALID");
  const twice = Buffer.from('{"schemaVersion":2,"layers":[],"layers":[]}');
  const dup = await exchange(port, { method: "PUT", target: "/v2/hostile/app/manifests/dup", headers: [["Content-Type", "application/vnd.oci.image.manifest.v1+json"], ["Content-Length", String(twice.length)]], body: twice });
  assert.equal(dup?.status, 400);
  assert.equal(codeOf(dup), "MANIFEST_INVALID");
  assert.match(dup!.body.toString(), /"layers\\" twice/);
});

test("listings take a `last` of any length; errors from node's parser are JSON with spec codes", async (t) => {
  const registry = await startRegistry(t);
  const port = portOf(registry);
  const long = "a".repeat(4100);
  for (const target of [`/v2/_catalog?last=${long}`, `/v2/hostile/app/tags/list?last=${long}`]) {
    const res = await exchange(port, { method: "GET", target });
    assert.ok(res?.status === 200 || res?.status === 404, `${target.slice(0, 30)}: ${res?.status}`);
    if (res?.status === 404) assert.equal(codeOf(res), "NAME_UNKNOWN");
  }
  const garbage = await exchange(port, { raw: Buffer.from("NOT HTTP AT ALL\r\n\r\n") });
  assert.equal(garbage?.status, 400);
  assert.equal(codeOf(garbage), "UNSUPPORTED");
  const bigHeaders = await exchange(port, { raw: Buffer.from(`GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`) });
  assert.equal(bigHeaders?.status, 431);
  assert.equal(codeOf(bigHeaders), "UNSUPPORTED");
  const expect = await exchange(port, { method: "GET", target: "/v2/", headers: [["Expect", "something-else"]] });
  assert.equal(expect?.status, 417);
  assert.equal(codeOf(expect), "UNSUPPORTED");
});

test("upload sessions are capped per client: one client at its cap does not lock out another", async (t) => {
  const registry = await startRegistry(t, { uploads: { maxSessionsPerClient: 3, maxSessions: 100 } });
  const port = portOf(registry);
  for (let i = 0; i < 3; i++) assert.equal((await openSession(port, "127.0.0.1"))?.status, 202);
  const over = await openSession(port, "127.0.0.1");
  assert.equal(over?.status, 429);
  assert.equal(codeOf(over), "TOOMANYREQUESTS");
  assert.equal((await openSession(port, "127.0.0.2"))?.status, 202, "another client still pushes");
  assert.equal(await uploadRecordsIn(registry.store), 4);
});

test("connections are capped per client: the one over is answered 429, another client still connects", async (t) => {
  const registry = await startRegistry(t, { limits: { maxConnectionsPerClient: 4 } });
  const port = portOf(registry);
  const held: Socket[] = [];
  t.after(() => held.forEach((socket) => socket.destroy()));
  for (let i = 0; i < 4; i++) {
    const socket = connect({ port, host: "127.0.0.1", localAddress: "127.0.0.1" });
    await new Promise((resolve) => socket.once("connect", resolve));
    held.push(socket);
  }
  // The server counts a connection when it accepts it: ask on each held one, so all four are in.
  for (const socket of held) {
    socket.write("GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => socket.once("data", resolve));
  }
  const over = await exchange(port, { method: "GET", target: "/v2/", from: "127.0.0.1" });
  assert.equal(over?.status, 429);
  assert.equal(codeOf(over), "TOOMANYREQUESTS");
  assert.equal((await exchange(port, { method: "GET", target: "/v2/", from: "127.0.0.2" }))?.status, 200);
});

test("a body slower than the minimum rate is cut with 408 and adds nothing; a blob over the size limit is 413", async (t) => {
  const registry = await startRegistry(t, { limits: { minBodyBytesPerSecond: 10_000, bodyWindowMs: 200, maxBlobBytes: 1000 } });
  const port = portOf(registry);
  const location = (await openSession(port))!.headers.location!;
  // Ten bytes, then silence: far below 10 kB/s.
  const slow = await exchange(port, { method: "PATCH", target: location, headers: [["Content-Length", "500"]], body: Buffer.alloc(10), pieceSize: 5, pauseMs: 20 });
  assert.equal(slow?.status, 408);
  assert.equal(codeOf(slow), "SIZE_INVALID");
  assert.equal((await exchange(port, { method: "GET", target: location }))?.headers.range, "0-0");

  const big = randomBytes(1001, 3);
  const declared = await exchange(port, { method: "POST", target: `/v2/hostile/app/blobs/uploads/?digest=${sha256(big)}`, headers: [["Content-Length", "1001"]], body: big });
  assert.equal(declared?.status, 413);
  assert.equal(codeOf(declared), "SIZE_INVALID");
  const streamed = await exchange(port, { method: "PATCH", target: location, headers: [["Transfer-Encoding", "chunked"]], body: chunked(big, 4) });
  assert.equal(streamed?.status, 413);
  assert.equal((await exchange(port, { method: "GET", target: location }))?.headers.range, "0-0");
});
