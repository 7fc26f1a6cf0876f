import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { chunkStream } from "../../src/chunking/stream.js";
import type { ChunkerSpec } from "../../src/chunking/types.js";
import { fromPieces, randomBytes, randomPieces, run, tempDir } from "../helpers.js";

const SPEC: ChunkerSpec = { algorithm: "fastcdc", minSize: 4096, avgSize: 16384, maxSize: 65536, tarAware: true };

async function chunkIds(data: Buffer, spec: ChunkerSpec, pieceMax = 1 << 20): Promise<string[]> {
  const ids: string[] = [];
  for await (const chunk of chunkStream(fromPieces(randomPieces(data, pieceMax)), spec)) ids.push(createHash("sha256").update(chunk).digest("hex"));
  return ids;
}

/** Two real tars (GNU tar) holding the same big file amid different neighbours. */
async function twoTars(t: Parameters<typeof tempDir>[0]): Promise<{ a: Buffer; b: Buffer; file: Buffer }> {
  const dir = await tempDir(t);
  const file = randomBytes(200_000, 77);
  for (const [name, neighbour] of [["a", randomBytes(12_345, 1)], ["b", randomBytes(33_333, 2)]] as const) {
    await mkdir(join(dir, name));
    await writeFile(join(dir, name, "0-before"), neighbour);
    await writeFile(join(dir, name, "1-shared"), file);
    await writeFile(join(dir, name, "2-after"), neighbour.subarray(0, 999));
    await run("tar", ["--sort=name", "-cf", join(dir, `${name}.tar`), "-C", join(dir, name), "."]);
  }
  return { a: await readFile(join(dir, "a.tar")), b: await readFile(join(dir, "b.tar")), file };
}

test("tar-aware: a file's chunks are the same wherever it sits", async (t) => {
  const { a, b, file } = await twoTars(t);
  const fileIds = await chunkIds(file, { ...SPEC, tarAware: false });
  const inA = await chunkIds(a, SPEC);
  const inB = await chunkIds(b, SPEC);
  for (const id of fileIds) {
    assert.ok(inA.includes(id) && inB.includes(id), "every chunk of the file appears in both tars");
  }
  // Without tar awareness the file's first chunk is glued to its header and neighbour.
  const plainA = await chunkIds(a, { ...SPEC, tarAware: false });
  assert.ok(!plainA.includes(fileIds[0]!));
});

test("tar-aware: cuts do not depend on how the stream is split", async (t) => {
  const { a } = await twoTars(t);
  const whole = await chunkIds(a, SPEC, a.length);
  for (const max of [1, 100, 511, 513, 4096]) assert.deepEqual(await chunkIds(a, SPEC, max), whole, `pieces up to ${max}`);
});

test("tar-aware: bytes that are not a tar are chunked as plain bytes", async () => {
  const data = randomBytes(1 << 20, 5);
  assert.deepEqual(await chunkIds(data, SPEC), await chunkIds(data, { ...SPEC, tarAware: false }));
});
