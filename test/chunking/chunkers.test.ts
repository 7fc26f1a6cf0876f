import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { chunkStream } from "../../src/chunking/stream.js";
import type { ChunkerSpec } from "../../src/chunking/types.js";
import { fromPieces, randomBytes, randomPieces } from "../helpers.js";

const FASTCDC: ChunkerSpec = { algorithm: "fastcdc", minSize: 4096, avgSize: 16384, maxSize: 65536, tarAware: false };

async function cutLengths(spec: ChunkerSpec, pieces: Uint8Array[]): Promise<number[]> {
  const lengths: number[] = [];
  for await (const chunk of chunkStream(fromPieces(pieces), spec)) lengths.push(chunk.length);
  return lengths;
}

/** Data with repeats, so that content-defined cuts have something to find. */
function sampleData(): Buffer {
  const block = randomBytes(300_000, 11);
  return Buffer.concat([randomBytes(500_000, 3), block, randomBytes(200_000, 5), block, Buffer.alloc(150_000), block]);
}

for (const spec of [
  FASTCDC,
  { ...FASTCDC, minSize: 2048, avgSize: 8192, maxSize: 32768 },
  { algorithm: "fixed", minSize: 65536, avgSize: 65536, maxSize: 65536, tarAware: false } as ChunkerSpec,
]) {
  const name = `${spec.algorithm} ${spec.minSize}/${spec.avgSize}/${spec.maxSize}`;

  test(`${name}: pieces of any size give the same cuts as one buffer`, async () => {
    const data = sampleData();
    const whole = await cutLengths(spec, [data]);
    for (const max of [4096, 100_000, 3_000_000]) {
      assert.deepEqual(await cutLengths(spec, randomPieces(data, max, max)), whole, `pieces up to ${max} bytes`);
    }
    // Byte-sized pieces cost a generator step per byte: a prefix with a few cuts is enough.
    const prefix = data.subarray(0, 4 * spec.maxSize);
    const prefixCuts = await cutLengths(spec, [prefix]);
    for (const max of [1, 7]) assert.deepEqual(await cutLengths(spec, randomPieces(prefix, max, max)), prefixCuts, `pieces up to ${max} bytes`);
  });

  test(`${name}: chunks concatenate to the input and respect min and max`, async () => {
    const data = sampleData();
    const chunks: Buffer[] = [];
    for await (const chunk of chunkStream(fromPieces([data]), spec)) chunks.push(Buffer.from(chunk));
    assert.ok(Buffer.concat(chunks).equals(data));
    chunks.slice(0, -1).forEach((c) => assert.ok(c.length >= spec.minSize && c.length <= spec.maxSize, `chunk of ${c.length}`));
    assert.ok(chunks.at(-1)!.length <= spec.maxSize);
  });
}

test("fastcdc: empty and tiny inputs", async () => {
  assert.deepEqual(await cutLengths(FASTCDC, []), []);
  assert.deepEqual(await cutLengths(FASTCDC, [Buffer.alloc(0)]), []);
  assert.deepEqual(await cutLengths(FASTCDC, [Buffer.from("x")]), [1]);
  assert.deepEqual(await cutLengths(FASTCDC, [randomBytes(4096)]), [4096]);
});

test("fastcdc: cut points are frozen (they are part of the storage format)", async () => {
  const lengths = await cutLengths(FASTCDC, [randomBytes(4 << 20, 42)]);
  const fingerprint = createHash("sha256").update(lengths.join(",")).digest("hex").slice(0, 16);
  // Changing the Gear table, masks or normal point changes this, and every stored cut with it.
  assert.equal(`${lengths.length}:${fingerprint}`, GOLDEN_FASTCDC);
});

test("fastcdc: an insertion only changes the chunks around it", async () => {
  const data = randomBytes(4 << 20, 9);
  const edited = Buffer.concat([data.subarray(0, 1_000_000), Buffer.from("inserted bytes"), data.subarray(1_000_000)]);
  const ids = async (input: Buffer) => {
    const set = new Set<string>();
    for await (const chunk of chunkStream(fromPieces([input]), FASTCDC)) set.add(createHash("sha256").update(chunk).digest("hex"));
    return set;
  };
  const before = await ids(data);
  const after = await ids(edited);
  const changed = [...after].filter((id) => !before.has(id)).length;
  assert.ok(changed <= 3, `${changed} of ${after.size} chunks changed`);
});

test("fastcdc: the mean chunk is close to the average asked for", async () => {
  const lengths = await cutLengths(FASTCDC, [randomBytes(16 << 20, 5)]);
  const mean = (16 << 20) / lengths.length;
  assert.ok(mean > FASTCDC.avgSize * 0.8 && mean < FASTCDC.avgSize * 1.3, `mean ${mean.toFixed(0)}`);
});

const GOLDEN_FASTCDC = "277:b051fc4a7fb440f5";
