import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { request } from "node:http";
import { test } from "node:test";
import { randomBytes } from "../helpers.js";
import { asBody, expectError, openUpload, patchChunk, sha256, startRegistry, uploadRecordsIn } from "./harness.js";

test("chunked upload: ordered PATCHes, status, then PUT ?digest= commits a byte-exact blob", async (t) => {
  const { url, logs } = await startRegistry(t);
  const data = randomBytes(5_000_000, 21);
  const digest = sha256(data);
  const location = await openUpload(url, "chunked/app");
  const cuts = [0, 1_000_000, 1_000_001, 3_500_000, data.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const res = await patchChunk(url, location, data.subarray(cuts[i], cuts[i + 1]), cuts[i]);
    assert.equal(res.status, 202);
    assert.equal(res.headers.get("range"), `0-${cuts[i + 1]! - 1}`);
    assert.equal(res.headers.get("location"), location);
    const status = await fetch(`${url}${location}`);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get("range"), `0-${cuts[i + 1]! - 1}`);
  }
  // Not visible before the PUT.
  await expectError(await fetch(`${url}/v2/chunked/app/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  const put = await fetch(`${url}${location}?digest=${digest}`, { method: "PUT" });
  assert.equal(put.status, 201);
  assert.equal(put.headers.get("location"), `/v2/chunked/app/blobs/${digest}`);
  assert.equal(put.headers.get("docker-content-digest"), digest);
  const got = await fetch(`${url}/v2/chunked/app/blobs/${digest}`);
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(data), "byte-exact");
  // The session is gone once committed.
  await expectError(await fetch(`${url}${location}`), 404, "BLOB_UPLOAD_UNKNOWN");
  assert.deepEqual(logs, []);
});

test("out-of-order and repeated chunks get 416 with the current Range, and the upload goes on", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(100_000, 22);
  const location = await openUpload(url, "ooo");
  let res = await patchChunk(url, location, data.subarray(50_000), 50_000);
  assert.equal(res.headers.get("range"), "0-0");
  await expectError(res, 416, "BLOB_UPLOAD_INVALID");
  res = await patchChunk(url, location, data.subarray(0, 50_000), 0);
  assert.equal(res.status, 202);
  res = await patchChunk(url, location, data.subarray(0, 50_000), 0); // a retry of a chunk already in
  assert.equal(res.headers.get("range"), "0-49999");
  await expectError(res, 416, "BLOB_UPLOAD_INVALID");
  res = await patchChunk(url, location, data.subarray(50_000), 50_000);
  assert.equal(res.status, 202);
  const put = await fetch(`${url}${location}?digest=${sha256(data)}`, { method: "PUT" });
  assert.equal(put.status, 201);
});

test("streamed PATCH without Content-Range, and a final chunk carried by the PUT", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(300_000, 23);
  const location = await openUpload(url, "streamed");
  assert.equal((await patchChunk(url, location, data.subarray(0, 200_000))).status, 202);
  const put = await fetch(`${url}${location}?digest=${sha256(data)}`, {
    method: "PUT",
    body: asBody(data.subarray(200_000)),
    headers: { "Content-Range": `200000-${data.length - 1}`, "Content-Type": "application/octet-stream" },
  });
  assert.equal(put.status, 201);
  const got = await fetch(`${url}/v2/streamed/blobs/${sha256(data)}`);
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
});

test("a monolithic PUT on a fresh session, and a POST-then-PUT of an empty blob", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(70_000, 24);
  let location = await openUpload(url, "mono");
  let put = await fetch(`${url}${location}?digest=${sha256(data)}`, { method: "PUT", body: asBody(data) });
  assert.equal(put.status, 201);
  location = await openUpload(url, "mono");
  put = await fetch(`${url}${location}?digest=${sha256("")}`, { method: "PUT" });
  assert.equal(put.status, 201);
  assert.equal((await fetch(`${url}/v2/mono/blobs/${sha256("")}`)).status, 200);
});

test("a wrong digest at PUT is DIGEST_INVALID, links nothing and ends the session", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(40_000, 25);
  const location = await openUpload(url, "wrong");
  assert.equal((await patchChunk(url, location, data, 0)).status, 202);
  const claimed = sha256("not this");
  await expectError(await fetch(`${url}${location}?digest=${claimed}`, { method: "PUT" }), 400, "DIGEST_INVALID");
  await expectError(await fetch(`${url}/v2/wrong/blobs/${sha256(data)}`), 404, "BLOB_UNKNOWN");
  await expectError(await fetch(`${url}/v2/wrong/blobs/${claimed}`), 404, "BLOB_UNKNOWN");
  await expectError(await fetch(`${url}${location}`), 404, "BLOB_UPLOAD_UNKNOWN");
});

test("a PUT without or with a malformed digest is refused and the session survives", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(1000, 26);
  const location = await openUpload(url, "nodigest");
  assert.equal((await patchChunk(url, location, data, 0)).status, 202);
  await expectError(await fetch(`${url}${location}`, { method: "PUT" }), 400, "DIGEST_INVALID");
  await expectError(await fetch(`${url}${location}?digest=sha256:1234`, { method: "PUT" }), 400, "DIGEST_INVALID");
  await expectError(await fetch(`${url}${location}?digest=md5:${"0".repeat(32)}`, { method: "PUT" }), 400, "DIGEST_INVALID");
  assert.equal((await fetch(`${url}${location}?digest=${sha256(data)}`, { method: "PUT" })).status, 201);
});

test("DELETE cancels an upload; unknown, foreign and cancelled sessions are BLOB_UPLOAD_UNKNOWN", async (t) => {
  const { url } = await startRegistry(t);
  const location = await openUpload(url, "cancel/me");
  assert.equal((await patchChunk(url, location, Buffer.from("partial"), 0)).status, 202);
  // The session belongs to the repository that opened it.
  const foreign = location.replace("/v2/cancel/me/", "/v2/other/repo/");
  await expectError(await fetch(`${url}${foreign}`), 404, "BLOB_UPLOAD_UNKNOWN");
  await expectError(await fetch(`${url}${foreign}`, { method: "PATCH", body: "x" }), 404, "BLOB_UPLOAD_UNKNOWN");
  const del = await fetch(`${url}${location}`, { method: "DELETE" });
  assert.equal(del.status, 204);
  await expectError(await fetch(`${url}${location}`), 404, "BLOB_UPLOAD_UNKNOWN");
  await expectError(await fetch(`${url}${location}`, { method: "DELETE" }), 404, "BLOB_UPLOAD_UNKNOWN");
  await expectError(await fetch(`${url}/v2/cancel/me/blobs/uploads/not-a-session`, { method: "PATCH", body: "x" }), 404, "BLOB_UPLOAD_UNKNOWN");
});

test("a Content-Range that disagrees with Content-Length, or is malformed, is refused", async (t) => {
  const { url } = await startRegistry(t);
  const location = await openUpload(url, "badrange");
  const res = await fetch(`${url}${location}`, { method: "PATCH", body: "12345", headers: { "Content-Range": "0-9" } });
  await expectError(res, 400, "SIZE_INVALID");
  await expectError(await fetch(`${url}${location}`, { method: "PATCH", body: "12345", headers: { "Content-Range": "zero-four" } }), 400, "BLOB_UPLOAD_INVALID");
  // Nothing went in.
  assert.equal((await fetch(`${url}${location}`)).headers.get("range"), "0-0");
});

test("a PATCH cut off mid-body keeps what arrived; the client resumes at the reported offset", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(2_000_000, 27);
  const location = await openUpload(url, "resume");
  const sent = 700_000;
  // Declare the whole blob, send part of it, then drop the connection.
  await new Promise<void>((resolve) => {
    const req = request(`${url}${location}`, { method: "PATCH", headers: { "Content-Length": String(data.length) } });
    req.on("error", () => resolve());
    req.write(data.subarray(0, sent), () => setTimeout(() => req.destroy(), 200));
    req.on("close", () => resolve());
  });
  let offset = 0;
  for (let i = 0; i < 50 && offset < sent; i++) {
    const status = await fetch(`${url}${location}`);
    assert.equal(status.status, 204);
    offset = Number(status.headers.get("range")!.split("-")[1]) + 1;
    if (offset < sent) await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(offset, sent, "every byte that arrived was kept");
  assert.equal((await patchChunk(url, location, data.subarray(offset), offset)).status, 202);
  assert.equal((await fetch(`${url}${location}?digest=${sha256(data)}`, { method: "PUT" })).status, 201);
  const got = await fetch(`${url}/v2/resume/blobs/${sha256(data)}`);
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
});

test("too many open uploads: TOOMANYREQUESTS; idle sessions expire", async (t) => {
  const { url, store } = await startRegistry(t, { uploads: { maxSessions: 2, idleTimeoutMs: 300 } });
  await openUpload(url, "busy");
  const second = await openUpload(url, "busy");
  const res = await fetch(`${url}/v2/busy/blobs/uploads/`, { method: "POST" });
  assert.ok(res.headers.get("retry-after"));
  await expectError(res, 429, "TOOMANYREQUESTS");
  // The sweeper runs at least once a second.
  for (let i = 0; i < 40 && (await uploadRecordsIn(store)) > 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await uploadRecordsIn(store), 0);
  await expectError(await fetch(`${url}${second}`), 404, "BLOB_UPLOAD_UNKNOWN");
  await openUpload(url, "busy");
});

test("a 512 MiB streamed upload is not held in memory", async (t) => {
  const { url } = await startRegistry(t);
  const size = 512 * 1024 * 1024;
  const location = await openUpload(url, "huge");
  // The client is another process, so that only the server's memory is measured here. Its
  // body repeats one random MiB: the store keeps little, but every byte is still received,
  // hashed and chunked.
  const client = `
    const { request } = require("node:http");
    const piece = require("node:crypto").randomBytes(1 << 20);
    const req = request(process.argv[1], { method: "PATCH", headers: { "Content-Length": String(${size}) } }, (res) => {
      process.stdout.write(res.statusCode + " " + res.headers.range);
      res.resume();
    });
    let sent = 0;
    const pump = () => {
      while (sent < ${size}) {
        sent += piece.length;
        if (!req.write(piece)) return req.once("drain", pump);
      }
      req.end();
    };
    pump();`;
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
  let answer = "";
  try {
    answer = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["-e", client, `${url}${location}`], (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
  } finally {
    clearInterval(sampler);
  }
  assert.equal(answer, `202 0-${size - 1}`);
  const grown = Math.round((peak - before) / 2 ** 20);
  t.diagnostic(`server memory grew by ${grown} MiB`);
  assert.ok(grown < 200, `the server's memory grew by ${grown} MiB during a 512 MiB upload`);
});
