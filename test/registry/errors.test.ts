import assert from "node:assert/strict";
import { request } from "node:http";
import { connect as connectTcp } from "node:net";
import { connect as connectTls } from "node:tls";
import { test } from "node:test";
import { errorOf, expectError, pushBlob, sha256, startRegistry } from "./harness.js";

test("invalid repository names are NAME_INVALID on every endpoint, path traversal included", async (t) => {
  const { url } = await startRegistry(t);
  const digest = sha256("x");
  const badNames = [
    "UPPER/case",
    "a/../b",
    "..",
    "a/./b",
    "a//b",
    "-lead",
    "trail-",
    "a..b",
    "a/b/",
    "a%2F..%2Fb",
    "%2e%2e/etc",
    "sp ace",
    "a@b",
    "a:b",
    "x".repeat(256),
  ];
  for (const name of badNames) {
    for (const [method, path] of [
      ["GET", `/v2/${name}/blobs/${digest}`],
      ["HEAD", `/v2/${name}/manifests/latest`],
      ["POST", `/v2/${name}/blobs/uploads/`],
      ["GET", `/v2/${name}/tags/list`],
      ["PUT", `/v2/${name}/manifests/latest`],
    ] as const) {
      // Sent as is: fetch would resolve `..` and `.` segments before they reach the server.
      const res = await rawRequest(url, method, path);
      assert.equal(res.status, 400, `${method} ${path}`);
      if (method !== "HEAD") assert.equal(JSON.parse(res.body).errors[0].code, "NAME_INVALID", `${method} ${path}`);
    }
  }
  // Valid names of every allowed shape.
  for (const name of ["a", "a/b/c", "a.b", "a_b", "a__b", "a---b", "0", "x".repeat(255)]) {
    await pushBlob(url, name, Buffer.from("ok"));
  }
});

test("invalid digests are DIGEST_INVALID", async (t) => {
  const { url } = await startRegistry(t);
  for (const digest of ["sha256:abc", "sha256:" + "A".repeat(64), "sha256" + "a".repeat(64), "nodigest", "sha512:" + "a".repeat(128), "sha256:" + "g".repeat(64)]) {
    await expectError(await fetch(`${url}/v2/repo/blobs/${digest}`), 400, "DIGEST_INVALID");
    await expectError(await fetch(`${url}/v2/repo/blobs/uploads/?digest=${digest}`, { method: "POST", body: "x" }), 400, "DIGEST_INVALID");
    await expectError(await fetch(`${url}/v2/repo/referrers/${digest}`), 400, "DIGEST_INVALID");
  }
});

test("unknown endpoints are 404 and wrong methods are 405 with Allow", async (t) => {
  const { url } = await startRegistry(t);
  for (const path of ["/", "/v1/", "/v2/repo", "/v2/repo/blobs", "/v2/repo/nonsense/x", "/favicon.ico"]) {
    const res = await fetch(`${url}${path}`);
    assert.equal(res.status, 404, path);
    await errorOf(res);
  }
  const cases: [string, string, string][] = [
    ["DELETE", "/v2/", "GET, HEAD"],
    ["POST", `/v2/repo/blobs/${sha256("x")}`, "GET, HEAD, DELETE"],
    ["GET", "/v2/repo/blobs/uploads/", "POST"],
    ["POST", "/v2/repo/manifests/latest", "GET, HEAD, PUT, DELETE"],
    ["DELETE", "/v2/repo/tags/list", "GET, HEAD"],
    ["PUT", "/v2/_catalog", "GET, HEAD"],
  ];
  for (const [method, path, allow] of cases) {
    const res = await fetch(`${url}${path}`, { method });
    assert.equal(res.headers.get("allow"), allow, `${method} ${path}`);
    await expectError(res, 405, "UNSUPPORTED");
  }
});

test("containerd's ?ns= parameter is ignored", async (t) => {
  const { url } = await startRegistry(t);
  const digest = await pushBlob(url, "library/busybox", Buffer.from("layer"));
  assert.equal((await fetch(`${url}/v2/library/busybox/blobs/${digest}?ns=docker.io`, { method: "HEAD" })).status, 200);
});

test("a TLS ClientHello on the plain-HTTP port gets an HTTP 400 and the server carries on", async (t) => {
  const { url } = await startRegistry(t);
  const port = Number(new URL(url).port);
  // What dockerd does first: a real TLS handshake. It must fail on the client side only.
  const failure = await new Promise<Error>((resolve) => {
    const socket = connectTls({ host: "127.0.0.1", port, rejectUnauthorized: false, servername: "registry.test" });
    socket.on("secureConnect", () => resolve(new Error("TLS handshake unexpectedly succeeded")));
    socket.on("error", resolve);
  });
  assert.match(failure.message, /wrong version number|packet length too long|EPROTO|ECONNRESET|socket hang up/i);
  // The raw answer to a ClientHello is an HTTP response, which Go reports as
  // "server gave HTTP response to HTTPS client"; dockerd then retries over plain HTTP.
  const hello = Buffer.from("16030100a5010000a10303" + "00".repeat(32) + "000004c02fc0300100007400000000", "hex");
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connectTcp({ host: "127.0.0.1", port }, () => socket.write(hello));
    let text = "";
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
  assert.match(answer, /^HTTP\/1\.1 400 /);
  // Garbage that is not TLS either.
  const garbage = await new Promise<string>((resolve) => {
    const socket = connectTcp({ host: "127.0.0.1", port }, () => socket.write("\x00\x01\x02 not http\r\n\r\n"));
    let text = "";
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("close", () => resolve(text));
    socket.on("error", () => resolve(text));
  });
  assert.match(garbage, /^HTTP\/1\.1 400 /);
  const res = await fetch(`${url}/v2/`);
  assert.equal(res.status, 200);
});

test("every error body is the spec's envelope, with no stack trace", async (t) => {
  const { url } = await startRegistry(t);
  const res = await fetch(`${url}/v2/repo/manifests/sha256:totallywrong`);
  assert.equal(res.status, 400);
  const text = await res.text();
  const body = JSON.parse(text) as { errors: { code: string; message: string; detail: unknown }[] };
  assert.deepEqual(Object.keys(body), ["errors"]);
  assert.deepEqual(Object.keys(body.errors[0]!).sort(), ["code", "detail", "message"]);
  assert.doesNotMatch(text, /at .*\.js:\d+/);
});

/** A request whose path goes out byte for byte, with no URL normalisation. */
function rawRequest(base: string, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(base, { method, path: path.replace(/ /g, "%20") }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}
