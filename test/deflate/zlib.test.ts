// The zlib encoder (src/deflate/zlib, pako 3.0.3 with zlib's hash) against real zlib, byte for byte:
// CPython's zlib module, which links the system libz (Debian 12: zlib 1.2.13), as raw deflate at levels
// 1-9 (memLevel 8, and 9 as Perl's Compress::Raw::Zlib uses) and as gzip.compress / gzip.GzipFile write
// them; every input in one piece and in pieces of random sizes.
//
// ZLIB_FULL=1 adds the 20 MB tar at every level (in pieces too) and a 50 MB tar at levels 1, 6 and 9.
// ZLIB_VECTOR_LIBS=dir1:dir2 also compares with the libz.so.1 in each dir (python3 with LD_LIBRARY_PATH=dir),
// e.g. the upstream builds of zlib 1.3.1 and 1.3.2 in the cmeel-zlib wheels from PyPI.

import assert from "node:assert/strict";
import { test } from "node:test";
import { inflateRawSync } from "node:zlib";
import { ZLIB_DEFAULT_MEM_LEVEL, ZLIB_FAMILY, ZlibEncoder, zlibDeflateRaw } from "../../src/deflate/zlib/index.js";
import { randomBytes, randomPieces, tempDir } from "../helpers.js";
import { binaries, licenses, realTar, repetitive, synthText } from "./zlib-inputs.js";
import { zlibRaw, zlibRuntimeVersion, zlibVectors } from "./zlib-vectors.js";
import { assertSame as assertSameAs, encodeAll } from "./compare.js";

const FULL = process.env.ZLIB_FULL === "1";
const EXTRA_LIBS = (process.env.ZLIB_VECTOR_LIBS ?? "").split(":").filter((d) => d !== "");
const MiB = 1 << 20;
const LEVELS = [1, 2, 3, 4, 5, 6, 7, 8, 9];

/** Our encoder over `pieces`, output copied out of the sink's views. */
function ours(level: number, pieces: Iterable<Uint8Array>, memLevel = ZLIB_DEFAULT_MEM_LEVEL): Buffer {
  return encodeAll((sink) => new ZlibEncoder(level, sink, { memLevel }), pieces);
}


const assertSame = (actual: Uint8Array, expected: Uint8Array, what: string) => assertSameAs(actual, expected, what, "real zlib's");

/**
 * Raw deflate at each level against real zlib: in one piece, and also in random pieces of 1..pieceMax
 * bytes if asked (a different cut for each level).
 */
async function compare(name: string, input: Uint8Array, opts: { levels?: number[]; pieceMax?: number; memLevel?: number; lib?: string } = {}): Promise<void> {
  const levels = opts.levels ?? LEVELS;
  const memLevel = opts.memLevel ?? ZLIB_DEFAULT_MEM_LEVEL;
  const wants = await zlibRaw(levels, input, { memLevel, ...(opts.lib === undefined ? {} : { lib: opts.lib }) });
  levels.forEach((level, i) => {
    const want = wants[i]!;
    const what = `${name} (${input.length} bytes): level ${level}${memLevel === 8 ? "" : `, memLevel ${memLevel}`}`;
    assertSame(ours(level, [input], memLevel), want, what);
    if (opts.pieceMax !== undefined) assertSame(ours(level, randomPieces(input, opts.pieceMax, level * 31 + memLevel), memLevel), want, `${what}, pieces of 1..${opts.pieceMax}`);
  });
}

/** The deflate body of a gzip member (header parsed per RFC 1952; trailer 8 bytes). */
function gzipParts(gz: Uint8Array): { header: Buffer; body: Buffer; trailer: Buffer } {
  const b = Buffer.from(gz.buffer, gz.byteOffset, gz.length);
  assert.equal(b.readUInt16BE(0), 0x1f8b);
  assert.equal(b[2], 8);
  const flags = b[3]!;
  let at = 10;
  if (flags & 4) at += 2 + b.readUInt16LE(at);
  if (flags & 8) at = b.indexOf(0, at) + 1;
  if (flags & 16) at = b.indexOf(0, at) + 1;
  if (flags & 2) at += 2;
  return { header: b.subarray(0, at), body: b.subarray(at, b.length - 8), trailer: b.subarray(b.length - 8) };
}

// ---- tests -------------------------------------------------------------------------------------

test("python3 links a vanilla zlib (not zlib-ng), and the family id names the verified versions", async (t) => {
  const version = await zlibRuntimeVersion();
  t.diagnostic(`python3 zlib.ZLIB_RUNTIME_VERSION = ${version}`);
  assert.match(version, /^1\.(2\.1[1-3]|3(\.\d+)?)$/, `python3 links zlib ${version}: these tests want vanilla zlib 1.2.11..1.3.x`);
  assert.equal(ZLIB_FAMILY, "zlib-1.2.13..1.3.2");
});

test("empty input, 1 byte and tiny inputs, every level, memLevel 8 and 9", async () => {
  // The empty raw stream is one empty final fixed block.
  assert.deepEqual([...ours(6, [])], [0x03, 0x00]);
  assert.deepEqual([...ours(6, [new Uint8Array(0), new Uint8Array(0)])], [0x03, 0x00]);
  const text = synthText(1000, 8);
  for (const memLevel of [8, 9]) {
    await compare("empty", new Uint8Array(0), { memLevel });
    await compare("1 byte", Buffer.from([0x61]), { memLevel });
  }
  // Around MIN_MATCH (3), MAX_MATCH (258) and MIN_LOOKAHEAD (262).
  for (const n of [2, 3, 4, 5, 6, 257, 258, 259, 261, 262, 263, 264, 520, 1000]) {
    await compare("text", text.subarray(0, n), { pieceMax: 7 });
  }
  await compare("zeros", new Uint8Array(1000), { levels: [1, 4, 6, 9] });
});

test("sizes around the window (32 KiB), the window slide (64 KiB - 262) and the block's symbol buffer", async (t) => {
  const tar = await realTar(await tempDir(t), 2 * MiB);
  const text = synthText(300_000, 11);
  const W = 32_768;
  const sizes = [W - 1, W, W + 1, 2 * W - 262 - 1, 2 * W - 262, 2 * W - 262 + 1, 2 * W - 1, 2 * W, 2 * W + 1, 3 * W - 262, 3 * W, 4 * W + 1, 5 * W + 100];
  for (const n of sizes) {
    await compare("tar", tar.subarray(0, n), n % 2 === 1 ? { pieceMax: 5000 } : {});
    await compare("text", text.subarray(0, n), n % 2 === 0 ? { pieceMax: 300 } : {});
  }
  // Random bytes come out as stored blocks; a block ends after 16383 symbols (memLevel 8) or 32767 (9).
  for (const n of [16_383, 16_384, 16_385, 32_767, 32_768, 32_769, 65_535, 65_536, 65_537]) {
    await compare("random", randomBytes(n, n), { levels: [1, 6, 9] });
    await compare("random", randomBytes(n, n), { levels: [1, 6, 9], memLevel: 9 });
  }
});

test("repetitive data (zeros, short periods, 258+ matches, repeats at the window's distance)", async () => {
  await compare("repetitive", repetitive(), { pieceMax: 70_000 });
});

test("random data (stored blocks) with text in between", async () => {
  const input = Buffer.concat([randomBytes(MiB + 12_345, 5), synthText(50_000, 6), randomBytes(300_000, 7)]);
  await compare("random", input, { pieceMax: 200_000 });
});

test("text (common licenses, word salad), in large and in tiny pieces", async () => {
  const input = Buffer.concat([licenses(), synthText(MiB, 3)]);
  await compare("licenses", input, { pieceMax: 100_000 });
  await compare("licenses", input.subarray(0, 300_000), { levels: [1, 6, 9], pieceMax: 40 });
});

test("real binaries (.so)", async () => {
  await compare("binaries", binaries(2 * MiB), { pieceMax: MiB });
});

test("memLevel 9 (Perl's Compress::Raw::Zlib) at every level, and memLevels 1-7 at levels 1, 6 and 9", async (t) => {
  const tar = await realTar(await tempDir(t), 20 * MiB);
  const input = Buffer.concat([tar.subarray(0, 600_000), tar.subarray(16 * MiB, 16 * MiB + 600_000), licenses()]);
  await compare("mixed", input, { memLevel: 9, pieceMax: 50_000 });
  for (const memLevel of [1, 2, 3, 4, 5, 6, 7]) await compare("mixed", input.subarray(500_000, 1_100_000), { levels: [1, 6, 9], memLevel });
});

test("gzip.compress (default level 9, and 6) and gzip.GzipFile streaming: the deflate body", async (t) => {
  const tar = await realTar(await tempDir(t), 20 * MiB);
  const input = Buffer.concat([tar.subarray(0, MiB), tar.subarray(9 * MiB, 10 * MiB), tar.subarray(17 * MiB, 18 * MiB)]);
  const [gz9, gz6, file6, file9, file1] = await zlibVectors(
    [
      { kind: "gzip" },
      { kind: "gzip", level: 6 },
      { kind: "gzipfile", level: 6, piece: 16_384 },
      { kind: "gzipfile", level: 9, piece: 10_240 },
      { kind: "gzipfile", level: 1, piece: 512 },
    ],
    input,
  );
  for (const [gz, level, what] of [
    [gz9!, 9, "gzip.compress default level"],
    [gz6!, 6, "gzip.compress compresslevel=6"],
    [file6!, 6, "GzipFile level 6, 16 KiB writes"],
    [file9!, 9, "GzipFile level 9, 10 KiB writes"],
    [file1!, 1, "GzipFile level 1, 512-byte writes"],
  ] as const) {
    const { header, body, trailer } = gzipParts(gz);
    t.diagnostic(`${what}: header ${header.toString("hex")}`);
    assertSame(ours(level, [input]), body, what);
    assertSame(ours(level, randomPieces(input, 64 << 10, level)), body, `${what}, our pieces`);
    assert.equal(trailer.readUInt32LE(4), input.length);
  }
});

test("a 20 MB real tar at levels 1, 6 and 9 (6 also in random pieces); 4 MB of it at every other level", async (t) => {
  const tar = await realTar(await tempDir(t), 20 * MiB);
  assert.equal(tar.length, 20 * MiB);
  await compare("tar", tar, { levels: [1, 9] });
  await compare("tar", tar, { levels: [6], pieceMax: 3 * MiB });
  assert.ok(inflateRawSync(zlibDeflateRaw(tar, 6)).equals(tar));
  // Some of each part: docs, headers, /etc, libraries.
  const input = Buffer.concat([tar.subarray(0, MiB), tar.subarray(8 * MiB, 9 * MiB + MiB / 2), tar.subarray(16 * MiB, 16 * MiB + MiB / 2), tar.subarray(19 * MiB, 20 * MiB)]);
  await compare("tar 4 MB", input, { levels: [2, 3, 4, 5, 7, 8] });
});

test("encoders are independent: interleaved at different levels, each gives its own stream", () => {
  const a = synthText(400_000, 21);
  const b = binaries(400_000);
  const outA: Buffer[] = [];
  const outB: Buffer[] = [];
  const encA = new ZlibEncoder(9, (x) => outA.push(Buffer.from(x)));
  const encB = new ZlibEncoder(1, (x) => outB.push(Buffer.from(x)), { memLevel: 9 });
  const pa = randomPieces(a, 30_000, 1);
  const pb = randomPieces(b, 30_000, 2);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (i < pa.length) encA.write(pa[i]!);
    if (i < pb.length) encB.write(pb[i]!);
  }
  encB.close();
  encA.close();
  assertSame(Buffer.concat(outA), zlibDeflateRaw(a, 9), "interleaved level 9");
  assertSame(Buffer.concat(outB), zlibDeflateRaw(b, 1, { memLevel: 9 }), "interleaved level 1, memLevel 9");
});

test("the sink gets views of a reused buffer, up to 64 KiB each, in order", () => {
  const input = randomBytes(3 * MiB, 9); // incompressible: plenty of output
  const copies: Buffer[] = [];
  const views: Uint8Array[] = [];
  const enc = new ZlibEncoder(6, (x) => {
    assert.ok(x.length > 0 && x.length <= 1 << 16);
    views.push(x);
    copies.push(Buffer.from(x));
  });
  enc.write(input);
  enc.close();
  assert.ok(views.length > 40);
  assert.equal(views[0]!.buffer, views[1]!.buffer);
  assert.ok(inflateRawSync(Buffer.concat(copies)).equals(input));
});

test("bad parameters are refused; write after close throws; close twice is harmless", () => {
  for (const level of [0, 10, -1, 1.5, Number.NaN]) assert.throws(() => new ZlibEncoder(level, () => {}), RangeError, `level ${level}`);
  for (const memLevel of [0, 10, 8.5]) assert.throws(() => new ZlibEncoder(6, () => {}, { memLevel }), RangeError, `memLevel ${memLevel}`);
  const enc = new ZlibEncoder(6, () => {});
  enc.write(Buffer.from("abc"));
  enc.close();
  enc.close();
  assert.throws(() => enc.write(Buffer.from("x")), /write after close/);
});

test("ZLIB_FULL: the 20 MB tar at every level in pieces, and a 50 MB tar at levels 1, 6 and 9", { skip: !FULL, timeout: 3_600_000 }, async (t) => {
  const big = await realTar(await tempDir(t), 50 * MiB);
  assert.equal(big.length, 50 * MiB);
  await compare("tar 20 MB", big.subarray(0, 20 * MiB), { pieceMax: 3 * MiB });
  await compare("tar 50 MB", big, { levels: [1, 6, 9] });
  await compare("tar 20 MB", big.subarray(20 * MiB, 40 * MiB), { levels: [1, 6, 9], memLevel: 9 });
});

test("ZLIB_VECTOR_LIBS: other zlib builds give the same bytes", { skip: EXTRA_LIBS.length === 0, timeout: 3_600_000 }, async (t) => {
  const tar = await realTar(await tempDir(t), 20 * MiB);
  const input = Buffer.concat([tar.subarray(0, 2 * MiB), tar.subarray(8 * MiB, 10 * MiB), tar.subarray(16 * MiB, 18 * MiB), licenses(), repetitive()]);
  for (const lib of EXTRA_LIBS) {
    const version = await zlibRuntimeVersion(lib);
    t.diagnostic(`${lib}: zlib ${version}`);
    await compare(`zlib ${version}`, input, { lib });
    await compare(`zlib ${version}`, input, { lib, memLevel: 9 });
    await compare(`zlib ${version}, tiny`, synthText(300, 1), { lib });
    await compare(`zlib ${version}, empty`, new Uint8Array(0), { lib });
  }
});
