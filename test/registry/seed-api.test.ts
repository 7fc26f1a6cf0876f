import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { createSeedApiServer } from "../../src/registry/seed-api.js";
import { freshBlobs } from "../blobs.js";
import { fromPieces, randomBytes, tempDir } from "../helpers.js";

/** The seed API over a store holding one blob, writing into `downloads`; `call` asks it. */
async function seedApi(t: { after(fn: () => unknown): void }) {
  const dir = await tempDir(t);
  const { blobs } = await freshBlobs(t);
  const blob = randomBytes(300_000, 4);
  const hex = createHash("sha256").update(blob).digest("hex");
  await blobs.ingest(fromPieces([blob]));
  const downloads = join(dir, "localrepo");
  mkdirSync(downloads);
  const server = createSeedApiServer({ blobs, checkoutDir: downloads });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const call = async (path: string) => {
    const res = await fetch(base + path);
    return { status: res.status, body: await res.text() };
  };
  return { dir, blob, hex, downloads, call };
}

test("the seed's dfdaemon calls: checkout into a confined directory, is_available, info", async (t) => {
  const { dir, blob, hex, downloads, call } = await seedApi(t);
  const outside = join(dir, "outside");
  mkdirSync(outside);
  symlinkSync(outside, join(downloads, "escape"));

  assert.deepEqual(await call(`/checkout?uuid=${hex}&path=${encodeURIComponent(join(downloads, "one"))}`), { status: 200, body: "True" });
  assert.ok(readFileSync(join(downloads, "one")).equals(blob));
  // A relative path is taken inside the directory, as dfdaemon's <localrepo>/<uuid> would be.
  assert.equal((await call(`/checkout?uuid=${hex}&path=two`)).body, "True");
  assert.ok(readFileSync(join(downloads, "two")).equals(blob));

  for (const escape of [join(outside, "x"), "../outside/x", `${downloads}/../outside/x`, "escape/x", "/etc/passwd", ""]) {
    const answer = await call(`/checkout?uuid=${hex}&path=${encodeURIComponent(escape)}`);
    assert.equal(answer.status, 403, `${escape}: ${answer.body}`);
  }
  assert.ok(!existsSync(join(outside, "x")), "nothing written outside the directory");

  assert.deepEqual(await call(`/checkout?uuid=${"0".repeat(64)}&path=three`), { status: 404, body: "False" });
  assert.equal((await call(`/checkout?uuid=not-hex&path=three`)).status, 400);
  assert.deepEqual(await call(`/is_available?uuid=${hex}`), { status: 200, body: "True" });
  assert.deepEqual(await call(`/is_available?uuid=${"0".repeat(64)}`), { status: 200, body: "False" });
  const info = await call("/info");
  assert.match(info.body, /blobs: 1\n/);
  assert.match(info.body, /original size: 300000\n/);
});

test("seed API: a directory as path is 400; names that merely begin with .. are inside", async (t) => {
  const { blob, hex, downloads, call } = await seedApi(t);
  mkdirSync(join(downloads, "sub"));
  writeFileSync(join(downloads, "keep"), "x");
  assert.equal((await call(`/checkout?uuid=${hex}&path=sub`)).status, 400);
  assert.deepEqual(await call(`/checkout?uuid=${hex}&path=..foo.bin`), { status: 200, body: "True" });
  assert.ok(readFileSync(join(downloads, "..foo.bin")).equals(blob));
});
