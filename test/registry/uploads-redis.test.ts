import assert from "node:assert/strict";
import { test } from "node:test";
import { randomBytes } from "../helpers.js";
import { startRedis } from "../redis/servers.js";
import { openUpload, patchChunk, serveCli, sha256 } from "./harness.js";

/** Two `docker-dedup serve` processes on one real redis-server share their upload sessions. */
test("an upload started on one frontend is continued on another and finished on the first", async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const store = `${redis.url}?prefix=uploads`;
  const [a, b] = await Promise.all([serveCli(t, ["--store", store]), serveCli(t, ["--store", store])]);
  const single = randomBytes(3_000_000, 51);
  const multi = randomBytes(2_000_001, 52);

  // The usual push: POST, one PATCH with the whole layer, PUT ?digest= without a body.
  let location = await openUpload(a!.url, "team/app");
  assert.equal((await patchChunk(b!.url, location, single)).status, 202);
  assert.equal((await fetch(`${a!.url}${location}?digest=${sha256(single)}`, { method: "PUT" })).status, 201);

  // Several parts, the first stored elsewhere, so no frontend has a running hash: the PUT reads them back.
  location = await openUpload(a!.url, "team/app");
  assert.equal((await patchChunk(b!.url, location, multi.subarray(0, 777_777), 0)).status, 202);
  assert.equal((await patchChunk(a!.url, location, multi.subarray(777_777), 777_777)).status, 202);
  const status = await fetch(`${b!.url}${location}`);
  assert.equal(status.headers.get("range"), `0-${multi.length - 1}`);
  assert.equal((await fetch(`${a!.url}${location}?digest=${sha256(multi)}`, { method: "PUT" })).status, 201);

  for (const frontend of [a!, b!]) {
    for (const blob of [single, multi]) {
      const res = await fetch(`${frontend.url}/v2/team/app/blobs/${sha256(blob)}`);
      assert.equal(res.status, 200);
      assert.ok(Buffer.from(await res.arrayBuffer()).equals(blob), `byte-exact from ${frontend.url}`);
    }
  }
});
