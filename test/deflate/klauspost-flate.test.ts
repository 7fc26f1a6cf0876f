// The klauspost/compress v1.15.12 flate port (src/deflate/klauspost-flate) against the real encoders
// (pgzip 1.2.5 and klauspost/compress/gzip, via scripts/gzip-vectors), byte for byte: pgzip's block
// framing at 1 MiB and 256 KiB blocks, every level, and the single-stream kflate writer. Also: blocks
// encoded independently (each with its dictionary) concatenate to the streamed body, and the 64-bit
// hashes done in 32-bit arithmetic agree with BigInt.
//
// KLAUSPOST_FLATE_FULL=1 adds a 50 MB tar at level -1 (both block sizes) and the 20 MB tar at every level;
// KLAUSPOST_FLATE_HUGE=1 a 2.2 GB kflate stream at levels 5 and 1 (past the 2 GiB offset rebase, e.cur >=
// bufferReset, with live table entries).

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { inflateRawSync } from "node:zlib";
import { hash4, hash5, hash7 } from "../../src/deflate/klauspost-flate/fast-encoder.js";
import { Lit } from "../../src/deflate/klauspost-flate/tables.js";
import { PgzipBlockEncoder, KLAUSPOST_FAMILY, KLAUSPOST_LEVEL_VERSIONS, KlauspostFlateEncoder, PgzipBodyEncoder, pgzipTail, PGZIP_TAIL_SIZE } from "../../src/deflate/klauspost-flate/index.js";
import { randomBytes, randomPieces, run, tempDir } from "../helpers.js";
import { gzipWith } from "./gzipper.js";
import { assertSame as assertSameAs, encodeAll } from "./compare.js";
import { binaries, repetitive, synthText } from "./zlib-inputs.js";

const FULL = process.env.KLAUSPOST_FLATE_FULL === "1";
const HUGE = process.env.KLAUSPOST_FLATE_HUGE === "1";
const MiB = 1 << 20;
const BLOCKS = [MiB, 256 << 10];
const ALL_LEVELS = [-2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/** The deflate body of the real pgzip (header 10 bytes, trailer 8). */
async function realPgzip(level: number, block: number, input: Uint8Array): Promise<Buffer> {
  const gz = await gzipWith({ encoder: "pgzip", level, block }, input);
  return gz.subarray(10, gz.length - 8);
}

async function realKflate(level: number, input: Uint8Array): Promise<Buffer> {
  const gz = await gzipWith({ encoder: "kflate", level }, input);
  return gz.subarray(10, gz.length - 8);
}

function oursPgzip(level: number, block: number, pieces: Iterable<Uint8Array>): Buffer {
  return encodeAll((sink) => new PgzipBodyEncoder(level, block, sink), pieces);
}

function oursKflate(level: number, pieces: Iterable<Uint8Array>): Buffer {
  return encodeAll((sink) => new KlauspostFlateEncoder(level, sink), pieces);
}


const assertSame = (actual: Uint8Array, expected: Uint8Array, what: string) => assertSameAs(actual, expected, what, "the real");

/** pgzip at each level and block size (one piece; also random pieces if pieceMax), and kflate if asked. */
async function compare(name: string, input: Uint8Array, opts: { levels: number[]; blocks?: number[]; pieceMax?: number; kflate?: boolean }): Promise<void> {
  for (const level of opts.levels) {
    for (const block of opts.blocks ?? BLOCKS) {
      const want = await realPgzip(level, block, input);
      assertSame(oursPgzip(level, block, [input]), want, `${name}: pgzip level ${level}, ${block >> 10} KiB blocks`);
      if (opts.pieceMax !== undefined) assertSame(oursPgzip(level, block, randomPieces(input, opts.pieceMax, level + 17)), want, `${name}: pgzip level ${level}, ${block >> 10} KiB blocks, pieces of 1..${opts.pieceMax}`);
    }
    if (opts.kflate === true) {
      const want = await realKflate(level, input);
      assertSame(oursKflate(level, [input]), want, `${name}: kflate level ${level}`);
      if (opts.pieceMax !== undefined) assertSame(oursKflate(level, randomPieces(input, opts.pieceMax, level + 29)), want, `${name}: kflate level ${level}, pieces`);
    }
  }
}

// ---- inputs ------------------------------------------------------------------------------------

function licenses(): Buffer {
  const dir = "/usr/share/common-licenses";
  if (!existsSync(dir)) return synthText(300_000, 5);
  return Buffer.concat(
    readdirSync(dir)
      .sort()
      .map((f) => join(dir, f))
      .filter((f) => statSync(f).isFile())
      .map((f) => readFileSync(f)),
  );
}



let tarCache: Promise<Buffer> | undefined;

/**
 * Real tar data, made once in a temp dir: 8 MB of a tar of /usr/share/doc, 8 MB of /usr/include, /etc,
 * 8 MB of libraries, then more of /usr/share/doc; cut to `size` bytes.
 */
function realTar(t: { after(fn: () => unknown): void }, size: number): Promise<Buffer> {
  tarCache ??= (async () => {
    const dir = await tempDir(t);
    const tarOf = async (src: string, max: number): Promise<Buffer> => {
      if (!existsSync(src)) return Buffer.alloc(0);
      const file = join(dir, "part.tar");
      await run("sh", ["-c", `tar -cf - ${src} 2>/dev/null | head -c ${max} > ${file}; true`]);
      return readFileSync(file);
    };
    const doc = await tarOf("/usr/share/doc", 60 * MiB);
    const parts = [doc.subarray(0, 8 * MiB), await tarOf("/usr/include", 8 * MiB), await tarOf("/etc", 4 * MiB), binaries(8 * MiB), doc.subarray(8 * MiB)];
    const all = Buffer.concat(parts);
    return all.length >= 20 * MiB ? all : Buffer.concat([all, synthText(10 * MiB, 31), randomBytes(10 * MiB, 32)]);
  })();
  return tarCache.then((b) => b.subarray(0, Math.min(size, b.length)));
}

// ---- tests -------------------------------------------------------------------------------------

test("the family id names the klauspost/compress versions, and each level has its range", () => {
  assert.equal(KLAUSPOST_FAMILY, "klauspost-flate-1.15.10..1.18.0");
  for (const level of ALL_LEVELS) assert.match(KLAUSPOST_LEVEL_VERSIONS[level] ?? "", /^1\.\d+\.\d+\.\.1\.\d+\.\d+$/);
});

test("the 64-bit hashes are exact in 32-bit arithmetic", () => {
  const rnd = randomBytes(8 * 20_000, 77);
  const M64 = (1n << 64n) - 1n;
  const words: [number, number][] = [
    [0, 0],
    [-1, -1],
    [0x7fffffff, 0x7fffffff],
    [-0x80000000, -0x80000000],
    [1, 0],
    [0, 1],
  ];
  for (let i = 0; i < 20_000; i++) words.push([rnd.readInt32LE(i * 8), rnd.readInt32LE(i * 8 + 4)]);
  for (const [lo, hi] of words) {
    const u = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    // hashLen(u, bits, 4), hashLen(u, bits, 5), hash7(u, 15) of fast_encoder.go
    for (const bits of [15, 16, 17]) {
      const h4 = Number((BigInt(lo >>> 0) * 2654435761n & 0xffffffffn) >> BigInt(32 - bits));
      assert.equal(hash4(lo, 32 - bits), h4);
      const h5 = Number((((u << 24n) & M64) * 889523592379n & M64) >> BigInt(64 - bits));
      assert.equal(hash5(lo, hi, 32 - bits), h5, `hash5 ${u.toString(16)} ${bits}`);
    }
    const h7 = Number((((u << 8n) & M64) * 58295818150454627n & M64) >> 49n);
    assert.equal(hash7(lo, hi), h7, `hash7 ${u.toString(16)}`);
  }
});

/**
 * Whether hash7's carry (the high word of the low product, a double a little off an integer),
 * rounded within the sum rather than alone, gives another hash: the inlined hash7 of levels 5 and
 * 6 was once written so, which truncates toward zero where the sum is negative.
 */
function hash7RoundedInTheSum(lo: number, hi: number): number {
  const xlo = lo << 8;
  const xhi = (hi << 8) | (lo >>> 24);
  const high = (Math.imul(xhi, Lit.P7Lo) + Math.imul(xlo, Lit.P7Hi)) | 0;
  const carry = ((xlo >>> 0) * Lit.P7Lo - (Math.imul(xlo, Lit.P7Lo) >>> 0)) * Lit.TwoM32;
  return ((high + carry + 0.5) | 0) >>> 17;
}

/**
 * An input where that hash changes the output (about 1 word in 3 million hashes otherwise): a
 * word X it puts one bucket off, a word Y of X's true bucket that shares X's first 5 bytes (so a
 * long match is found at Y only through the right bucket), and Z, sharing X's first 4 bytes.
 */
function hash7Trap(): Buffer {
  let seed = 1;
  const byte = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, byte));
  const wrongBucket = (word: Buffer) => hash7RoundedInTheSum(word.readInt32LE(0), word.readInt32LE(4)) !== hash7(word.readInt32LE(0), word.readInt32LE(4));
  let x = bytes(8);
  while (!wrongBucket(x)) x = bytes(8);
  const bucket = hash7(x.readInt32LE(0), x.readInt32LE(4));
  let y: Buffer | undefined;
  for (let v = 0; v < 65536 && y === undefined; v++) {
    const candidate = Buffer.from(x);
    candidate[5] = v & 0xff;
    candidate[6] = v >> 8;
    if (candidate[5] === x[5]) continue;
    candidate[7] = byte();
    if (hash7(candidate.readInt32LE(0), candidate.readInt32LE(4)) === bucket && !wrongBucket(candidate)) y = candidate;
  }
  assert.ok(y !== undefined, "a word of X's bucket that shares its first 5 bytes");
  const z = Buffer.concat([x.subarray(0, 4), Buffer.from([x[4]! ^ 0x55]), bytes(3)]);
  return Buffer.concat([bytes(8), x, bytes(4), z, bytes(8), y, bytes(8), Buffer.alloc(4000)]);
}

test("pgzip and kflate: words whose 7-byte hash needs its carry rounded apart from the sum, levels 5 and 6", async () => {
  await compare("the hash7 trap", hash7Trap(), { levels: [-1, 5, 6], kflate: true });
});

test("pgzip: empty input and 1 byte, every level", async () => {
  for (const input of [Buffer.alloc(0), Buffer.from([0x61])]) {
    await compare(`${input.length} bytes`, input, { levels: ALL_LEVELS, kflate: true });
  }
  // The empty stream: an empty stored block (sync flush), then the empty final fixed block.
  assert.deepEqual([...oursPgzip(-1, MiB, [])], [0x00, 0x00, 0x00, 0xff, 0xff, 0x03, 0x00]);
});

test("pgzip: small inputs around the fast encoders' thresholds", async () => {
  // storeFast: <= 32 bytes stored, < 128 Huffman only; encoders skip inputs < 13 bytes.
  const text = synthText(4000, 8);
  for (const n of [2, 12, 13, 14, 32, 33, 127, 128, 129, 1000, 4000]) {
    await compare(`text ${n}`, text.subarray(0, n), { levels: [-1, 1, 4, 6, 7, 9], blocks: [MiB], kflate: true });
  }
});

test("pgzip: sizes around the block size and the 16 KiB dictionary", async (t) => {
  const tar = await realTar(t, 3 * MiB);
  for (const block of BLOCKS) {
    const sizes = [block - 1, block, block + 1, 2 * block, block + 100, block + PGZIP_TAIL_SIZE - 1, block + PGZIP_TAIL_SIZE, block + PGZIP_TAIL_SIZE + 1, 2 * block + 40_000];
    for (const n of sizes) {
      await compare(`tar cut to ${n}`, tar.subarray(0, n), { levels: [-1], blocks: [block] });
    }
  }
  // Also text, where matches into the dictionary are frequent.
  const text = synthText(2 * MiB + 20_000, 12);
  for (const n of [MiB - 1, MiB, MiB + 1, MiB + 5000, MiB + 20_000, 2 * MiB, 2 * MiB + 20_000]) {
    await compare(`text ${n}`, text.subarray(0, n), { levels: [-1], blocks: [MiB] });
  }
});

test("pgzip and kflate: repetitive data (zeros, short periods, 258+ matches)", async () => {
  await compare("repetitive", repetitive(), { levels: ALL_LEVELS.filter((l) => l < 8), pieceMax: 70_000, kflate: true });
  await compare("repetitive, shorter runs", repetitive(0.05), { levels: [8, 9], kflate: true });
});

test("pgzip and kflate: random data (stored blocks)", async () => {
  const input = Buffer.concat([randomBytes(2 * MiB + 12_345, 5), synthText(50_000, 6), randomBytes(300_000, 7)]);
  await compare("random", input, { levels: [-2, -1, 0, 1, 3, 5, 6, 7], kflate: true });
});

test("pgzip and kflate: text (common licenses)", async () => {
  const input = Buffer.concat([licenses(), synthText(MiB, 3)]);
  await compare("licenses", input, { levels: ALL_LEVELS, pieceMax: 100_000, kflate: true });
});

test("pgzip and kflate: real binaries", async () => {
  const input = binaries(3 * MiB);
  await compare("binaries", input, { levels: [-2, -1, 0, 1, 2, 3, 4, 5, 6, 7], kflate: true });
  await compare("binaries", input.subarray(0, MiB + 70_000), { levels: [8, 9], kflate: true });
});

test("pgzip: a 20 MB real tar at level -1, both block sizes, in random pieces (and kflate 5)", async (t) => {
  const input = await realTar(t, 20 * MiB);
  assert.equal(input.length, 20 * MiB);
  await compare("tar", input, { levels: [-1], pieceMax: 3 * MiB });
  const want = await realKflate(5, input);
  assertSame(oursKflate(5, [input]), want, "tar: kflate level 5");
  // And it inflates back.
  assert.ok(inflateRawSync(oursPgzip(-1, MiB, [input])).equals(input));
});

test("pgzip and kflate: 4 MB of real tar at every level", async (t) => {
  const tar = await realTar(t, 20 * MiB);
  // Some of each part: docs, headers, /etc, libraries.
  const input = Buffer.concat([tar.subarray(0, MiB), tar.subarray(8 * MiB, 9 * MiB + MiB / 2), tar.subarray(16 * MiB, 16 * MiB + MiB / 2), tar.subarray(19 * MiB, 20 * MiB)]);
  await compare("tar 4 MB", input, { levels: ALL_LEVELS.filter((l) => l < 8), kflate: true });
  await compare("tar 1.5 MB", input.subarray(MiB, 2 * MiB + MiB / 2), { levels: [8, 9], kflate: true });
});

test("pgzip blocks are independent: encoded out of order, interleaved with other blocks, they concatenate to the stream", async (t) => {
  const input = await realTar(t, 5 * MiB + 3000);
  for (const [level, block] of [
    [-1, MiB],
    [-1, 256 << 10],
    [1, 256 << 10],
    [6, MiB],
    [9, 256 << 10],
  ] as const) {
    const streamed = oursPgzip(level, block, [input]);
    const blocks: Uint8Array[] = [];
    for (let at = 0; at < input.length; at += block) blocks.push(input.subarray(at, Math.min(input.length, at + block)));
    // A multiple of the block size ends with an empty last block.
    if (input.length % block === 0) blocks.push(new Uint8Array(0));
    const outs: Uint8Array[] = new Array(blocks.length);
    // Last first, then the others from the end, each after an unrelated block of the same encoder
    // (its compressor is reused, so this also checks that reuse leaves nothing behind).
    const encoder = new PgzipBlockEncoder(level);
    for (let k = blocks.length - 1; k >= 0; k--) {
      encoder.encode(randomBytes(70_000 + k, k), randomBytes(PGZIP_TAIL_SIZE, k + 1), k % 2 === 0);
      encoder.encode(randomBytes(50_000 + k, k + 2), new Uint8Array(0), true);
      const dict = k === 0 ? new Uint8Array(0) : pgzipTail(blocks[k - 1]!);
      outs[k] = encoder.encode(blocks[k]!, dict, k === blocks.length - 1);
    }
    assertSame(Buffer.concat(outs), streamed, `blocks of level ${level}, ${block >> 10} KiB, encoded independently`);
    assertSame(streamed, await realPgzip(level, block, input), `level ${level}, ${block >> 10} KiB`);
  }
});

test("a multiple of the block size ends with an empty last block primed with the tail", () => {
  const input = synthText(2 * (256 << 10), 21);
  const parts: Uint8Array[] = [];
  const enc = new PgzipBodyEncoder(-1, 256 << 10, (b) => parts.push(b));
  enc.write(input);
  assert.equal(parts.length, 2);
  enc.close();
  assert.equal(parts.length, 3);
  // Flush of nothing (empty stored block) and the final block.
  assert.deepEqual([...parts[2]!], [0x00, 0x00, 0x00, 0xff, 0xff, 0x03, 0x00]);
});

test("bad parameters are refused", () => {
  assert.throws(() => new PgzipBodyEncoder(-1, PGZIP_TAIL_SIZE, () => {}), RangeError);
  assert.throws(() => new PgzipBodyEncoder(10, MiB, () => {}), RangeError);
  assert.throws(() => new PgzipBlockEncoder(-3), RangeError);
  assert.throws(() => new KlauspostFlateEncoder(1.5, () => {}), RangeError);
});

test("KLAUSPOST_FLATE_FULL: a 50 MB tar at level -1 and the 20 MB tar at every level", { skip: !FULL }, async (t) => {
  const big = await realTar(t, 50 * MiB);
  await compare("tar 50 MB", big, { levels: [-1], kflate: true });
  const input = big.subarray(0, 20 * MiB);
  await compare("tar 20 MB", input, { levels: ALL_LEVELS, kflate: true });
});

test("KLAUSPOST_FLATE_HUGE: a 2.2 GB kflate stream (levels 5 and 1) past the offset rebase", { skip: !HUGE, timeout: 3_600_000 }, async (t) => {
  const tar = await realTar(t, 20 * MiB);
  const copies = 110;
  const input = Buffer.allocUnsafe(tar.length * copies);
  for (let k = 0; k < copies; k++) {
    tar.copy(input, k * tar.length);
    const at = k * tar.length + (k % 1000);
    input[at] = input[at]! ^ 0x55; // not quite the same each time
  }
  for (const level of [5, 1]) {
    const want = await realKflate(level, input);
    const pieces: Uint8Array[] = [];
    for (let at = 0; at < input.length; at += 16 * MiB) pieces.push(input.subarray(at, Math.min(input.length, at + 16 * MiB)));
    assertSame(oursKflate(level, pieces), want, `2.2 GB kflate level ${level}`);
  }
});
