import assert from "node:assert/strict";
import { test } from "node:test";
import { randomBytes, wordyBytes } from "../helpers.js";
import { expectError, pushBlob, sha256, startRegistry } from "./harness.js";

test("GET /v2/ answers 200 with the API version header", async (t) => {
  const { url } = await startRegistry(t);
  const res = await fetch(`${url}/v2/`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("docker-distribution-api-version"), "registry/2.0");
  assert.deepEqual(await res.json(), {});
  assert.equal((await fetch(`${url}/v2`, { method: "HEAD" })).status, 200);
});

test("a pushed blob comes back byte-exact, with its digest, size and headers", async (t) => {
  const { url, logs } = await startRegistry(t);
  const data = randomBytes(3_000_000, 11);
  const digest = await pushBlob(url, "lib/app", data);

  const head = await fetch(`${url}/v2/lib/app/blobs/${digest}`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(data.length));
  assert.equal(head.headers.get("docker-content-digest"), digest);
  assert.equal(head.headers.get("accept-ranges"), "bytes");

  const res = await fetch(`${url}/v2/lib/app/blobs/${digest}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/octet-stream");
  const body = Buffer.from(await res.arrayBuffer());
  assert.ok(body.equals(data), "byte-exact");
  assert.deepEqual(logs, []);
});

test("the empty blob round-trips", async (t) => {
  const { url } = await startRegistry(t);
  const digest = await pushBlob(url, "empty", Buffer.alloc(0));
  assert.equal(digest, sha256(""));
  const res = await fetch(`${url}/v2/empty/blobs/${digest}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), "0");
  assert.equal((await res.arrayBuffer()).byteLength, 0);
});

test("Range requests: 206 with Content-Range, suffixes, clamping, and 416 past the end", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(200_000, 12);
  const digest = await pushBlob(url, "ranges", data);
  const get = (range: string) => fetch(`${url}/v2/ranges/blobs/${digest}`, { headers: { Range: range } });

  let res = await get("bytes=0-99");
  assert.equal(res.status, 206);
  assert.equal(res.headers.get("content-range"), `bytes 0-99/${data.length}`);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(0, 100)));

  res = await get("bytes=150000-");
  assert.equal(res.status, 206);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(150_000)));

  res = await get("bytes=-10");
  assert.equal(res.status, 206);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(data.subarray(data.length - 10)));

  res = await get("bytes=199990-999999");
  assert.equal(res.status, 206);
  assert.equal(res.headers.get("content-range"), `bytes 199990-199999/${data.length}`);
  await res.arrayBuffer();

  res = await get(`bytes=${data.length}-`);
  assert.equal(res.headers.get("content-range"), `bytes */${data.length}`);
  await expectError(res, 416, "SIZE_INVALID");

  // Forms a server may ignore get the whole blob.
  for (const ignored of ["bytes=0-1,5-6", "items=0-1", "bytes=9-3"]) {
    res = await get(ignored);
    assert.equal(res.status, 200, ignored);
    assert.equal((await res.arrayBuffer()).byteLength, data.length);
  }
});

test("unknown blobs are 404 BLOB_UNKNOWN, for GET and HEAD", async (t) => {
  const { url } = await startRegistry(t);
  const missing = sha256("nothing here");
  await expectError(await fetch(`${url}/v2/some/repo/blobs/${missing}`), 404, "BLOB_UNKNOWN");
  const head = await fetch(`${url}/v2/some/repo/blobs/${missing}`, { method: "HEAD" });
  assert.equal(head.status, 404);
});

test("repository links: identical bytes in one repository are not served from another (zot CVE-2024-39897)", async (t) => {
  const { url } = await startRegistry(t);
  const secret = randomBytes(50_000, 13);
  const digest = await pushBlob(url, "team-a/private", secret);
  // The same chunks back both repositories' blobs, but team-b never uploaded or mounted it.
  await expectError(await fetch(`${url}/v2/team-b/app/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  assert.equal((await fetch(`${url}/v2/team-b/app/blobs/${digest}`, { method: "HEAD" })).status, 404);
  // Nor can team-b mount it without naming the repository that has it.
  const noFrom = await fetch(`${url}/v2/team-b/app/blobs/uploads/?mount=${digest}`, { method: "POST" });
  assert.equal(noFrom.status, 202);
  const wrongFrom = await fetch(`${url}/v2/team-b/app/blobs/uploads/?mount=${digest}&from=team-c/other`, { method: "POST" });
  assert.equal(wrongFrom.status, 202, "a repository without the blob is no source");
  assert.match(wrongFrom.headers.get("location") ?? "", /^\/v2\/team-b\/app\/blobs\/uploads\//);
  await expectError(await fetch(`${url}/v2/team-b/app/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  // Uploading it itself links it.
  await pushBlob(url, "team-b/app", secret);
  assert.equal((await fetch(`${url}/v2/team-b/app/blobs/${digest}`)).status, 200);
});

test("cross-repository mount links the blob into the target: 201 with Location", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(10_000, 14);
  const digest = await pushBlob(url, "source/repo", data);
  const res = await fetch(`${url}/v2/target/repo/blobs/uploads/?mount=${digest}&from=source/repo`, { method: "POST" });
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("location"), `/v2/target/repo/blobs/${digest}`);
  assert.equal(res.headers.get("docker-content-digest"), digest);
  const got = await fetch(`${url}/v2/target/repo/blobs/${digest}`);
  assert.ok(Buffer.from(await got.arrayBuffer()).equals(data));
  await expectError(await fetch(`${url}/v2/target/repo/blobs/uploads/?mount=sha256:abc&from=source/repo`, { method: "POST" }), 400, "DIGEST_INVALID");
  await expectError(await fetch(`${url}/v2/target/repo/blobs/uploads/?mount=${digest}&from=../source`, { method: "POST" }), 400, "NAME_INVALID");
});

test("blob DELETE unlinks from that repository only", async (t) => {
  const { url } = await startRegistry(t);
  const data = randomBytes(20_000, 15);
  const digest = await pushBlob(url, "one", data);
  await pushBlob(url, "two", data);
  const del = await fetch(`${url}/v2/one/blobs/${digest}`, { method: "DELETE" });
  assert.equal(del.status, 202);
  await expectError(await fetch(`${url}/v2/one/blobs/${digest}`), 404, "BLOB_UNKNOWN");
  await expectError(await fetch(`${url}/v2/one/blobs/${digest}`, { method: "DELETE" }), 404, "BLOB_UNKNOWN");
  const still = await fetch(`${url}/v2/two/blobs/${digest}`);
  assert.ok(Buffer.from(await still.arrayBuffer()).equals(data), "the other repository keeps it");
});

test("a monolithic POST whose body does not match ?digest= is refused and links nothing", async (t) => {
  const { url } = await startRegistry(t);
  const stated = sha256("what the client claims");
  const res = await fetch(`${url}/v2/mono/blobs/uploads/?digest=${stated}`, { method: "POST", body: "something else" });
  await expectError(res, 400, "DIGEST_INVALID");
  await expectError(await fetch(`${url}/v2/mono/blobs/${sha256("something else")}`), 404, "BLOB_UNKNOWN");
  await expectError(await fetch(`${url}/v2/mono/blobs/${stated}`), 404, "BLOB_UNKNOWN");
});

test("a client that goes away mid-download does not disturb the server", async (t) => {
  const { url, logs } = await startRegistry(t);
  const data = randomBytes(8_000_000, 16);
  const digest = await pushBlob(url, "big", data);
  const controller = new AbortController();
  const res = await fetch(`${url}/v2/big/blobs/${digest}`, { signal: controller.signal });
  const reader = res.body!.getReader();
  await reader.read();
  controller.abort();
  await assert.rejects(reader.read());
  // The next request is served normally and nothing was logged as a server fault.
  const again = await fetch(`${url}/v2/big/blobs/${digest}`);
  assert.ok(Buffer.from(await again.arrayBuffer()).equals(data));
  assert.deepEqual(logs, []);
});

test("with no chunk cache, blobs sharing runs come back byte-exact to many clients at once, slow, fast, gone and by ranges", async (t) => {
  // Each read decodes into buffers handed back as their bytes leave (layers/loans.ts): a reuse too early would show here.
  const { url, logs } = await startRegistry(t, {}, { chunkCacheBytes: 0 });
  const a = wordyBytes(14_000_000, 17);
  const b = Buffer.concat([wordyBytes(300_000, 18), a.subarray(500_000, 9_700_000), a.subarray(11_600_000)]);
  const [da, db] = [await pushBlob(url, "shared", a), await pushBlob(url, "shared", b)];
  const slow = async (digest: string) => {
    const reader = (await fetch(`${url}/v2/shared/blobs/${digest}`)).body!.getReader();
    const parts: Uint8Array[] = [];
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      parts.push(read.value);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    return Buffer.concat(parts);
  };
  const fast = async (digest: string) => Buffer.from(await (await fetch(`${url}/v2/shared/blobs/${digest}`)).arrayBuffer());
  const gone = async (digest: string) => {
    const controller = new AbortController();
    const reader = (await fetch(`${url}/v2/shared/blobs/${digest}`, { signal: controller.signal })).body!.getReader();
    await reader.read();
    controller.abort();
  };
  const ranged = async (digest: string, start: number, end: number) =>
    Buffer.from(await (await fetch(`${url}/v2/shared/blobs/${digest}`, { headers: { Range: `bytes=${start}-${end}` } })).arrayBuffer());
  const clients = [[fast, da], [slow, db], [fast, db], [gone, da], [slow, da], [fast, da], [gone, db], [fast, db]] as const;
  const [got, parts] = await Promise.all([
    Promise.all(clients.map(([client, digest]) => client(digest))),
    Promise.all([ranged(da, 3_000_000, 9_999_999), ranged(db, 4_000_000, 4_500_000), ranged(da, 13_000_000, 13_999_999)]),
  ]);
  got.forEach((bytes, i) => bytes === undefined || assert.equal(sha256(bytes), clients[i]![1], `client ${i}`));
  assert.ok(parts[0].equals(a.subarray(3_000_000, 10_000_000)) && parts[1].equals(b.subarray(4_000_000, 4_500_001)) && parts[2].equals(a.subarray(13_000_000)));
  assert.ok((await fast(da)).equals(a) && (await fast(db)).equals(b));
  assert.deepEqual(logs, []);
});
