import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { xxh64Hex } from "../../src/import/xxhash64.js";
import { randomBytes, tempDir } from "../helpers.js";
import { runReferencePython } from "./reference-python.js";

/** Prints xxhash.xxh64(record).hexdigest() for each record of a file of (u32 LE length, bytes) records. */
const DIGESTS = `
import struct, sys, xxhash
data = open(sys.argv[1], "rb").read()
at = 0
while at < len(data):
    (n,) = struct.unpack_from("<I", data, at)
    print(xxhash.xxh64(data[at + 4:at + 4 + n]).hexdigest())
    at += 4 + n
`;

test("xxh64 matches the Python xxhash package (the seed's chunk keys) on every tail length and on large inputs", async (t) => {
  const samples: Buffer[] = [];
  // Every length up to 100 covers each path: under 32 bytes, stripes, and 8-, 4- and 1-byte tails.
  for (let length = 0; length <= 100; length++) samples.push(randomBytes(length, length + 1));
  for (const length of [255, 256, 1000, 4096, 8191, 65536, 1 << 20]) samples.push(randomBytes(length, length));
  // Runs of 0x00 and 0xff exercise the carries.
  samples.push(Buffer.alloc(4099, 0xff), Buffer.alloc(777, 0));
  const file = join(await tempDir(t), "samples");
  const header = (n: number) => Buffer.from(Uint32Array.of(n).buffer);
  await writeFile(file, Buffer.concat(samples.flatMap((s) => [header(s.length), s])));

  const expected = runReferencePython("xxhash", DIGESTS, [file]).trim().split("\n");
  assert.equal(expected.length, samples.length);
  samples.forEach((sample, i) => assert.equal(xxh64Hex(sample), expected[i], `length ${sample.length}`));
});

test("xxh64 of the empty input is the published XXH64 test vector", () => {
  assert.equal(xxh64Hex(new Uint8Array(0)), "ef46db3751d8e999");
});
