// The Go 1.8-1.26 compress/flate port against the real thing (Go 1.26's compress/gzip, via
// scripts/gzip-vectors), byte for byte, and its checkpoints: segments re-encoded independently
// from checkpoints and spliced must equal the sequential stream.
//
// The "real tar" is `tar -c /usr/share/doc` cut to size (synthetic tar-like data where there is too
// little). GO_FLATE_FULL=1 runs the 20 MB tar at every level (else levels 1, 6 and 9);
// GO_FLATE_HUGE=1 adds a 2.2 GB level-1 stream (past deflatefast's 2 GiB offset reset), ~1 min.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { inflateRawSync } from "node:zlib";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  encodeSegment,
  GO_FLATE_FAMILY,
  GoFlateEncoder,
  type GoFlateCheckpoint,
} from "../../src/deflate/go-flate/index.js";
import { randomBytes, randomPieces } from "../helpers.js";
import { gzipperPath, gzipWith } from "./gzipper.js";
import { assertSame as assertSameAs, encodeAll } from "./compare.js";

const ALL_LEVELS = [-2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

/** The deflate body of Go 1.26's compress/gzip output. */
async function goBody(level: number, input: Uint8Array): Promise<Buffer> {
  const gz = await gzipWith({ encoder: "stdlib", level }, input);
  return gz.subarray(10, gz.length - 8);
}

/** Our stream, written in the given pieces. */
function ours(level: number, pieces: Iterable<Uint8Array>): Buffer {
  return encodeAll((sink) => new GoFlateEncoder(level, sink), pieces);
}


const assertSame = (actual: Uint8Array, expected: Uint8Array, what: string) => assertSameAs(actual, expected, what, "Go's");

/** Compares one input at the given levels, in one piece and in random pieces. */
async function compareLevels(name: string, input: Uint8Array, levels: number[], pieceMax: number | null): Promise<void> {
  for (const level of levels) {
    const want = await goBody(level, input);
    assertSame(ours(level, [input]), want, `${name} at level ${level}, one piece`);
    if (pieceMax !== null) assertSame(ours(level, randomPieces(input, pieceMax, level + 11)), want, `${name} at level ${level}, pieces of 1..${pieceMax}`);
  }
}

// ---- inputs ------------------------------------------------------------------------------------

function licenses(): Buffer {
  const dir = "/usr/share/common-licenses";
  if (!existsSync(dir)) return Buffer.from(synthText(300_000, 5));
  const parts = readdirSync(dir)
    .sort()
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f));
  return Buffer.concat(parts);
}

/** Word salad with a Zipf-like vocabulary: compressible like text, deterministic. */
function synthText(length: number, seed: number): Buffer {
  const rnd = randomBytes(length + 64, seed);
  const words: string[] = [];
  for (let i = 0; i < 2000; i++) {
    let w = "";
    const len = 2 + (rnd[i]! % 9);
    for (let k = 0; k < len; k++) w += String.fromCharCode(97 + (rnd[(i * 7 + k * 13) % rnd.length]! % 26));
    words.push(w);
  }
  let s = "";
  let i = 0;
  while (s.length < length) {
    const r = rnd[i++ % rnd.length]! * 256 + rnd[i++ % rnd.length]!;
    s += words[Math.floor(2000 * (r / 65536) ** 3)]! + (r % 17 === 0 ? ".\n" : " ");
  }
  return Buffer.from(s.slice(0, length), "latin1");
}

/** Text, random bytes and zeros in turn (exercises stored, fixed and dynamic blocks). */
function mixed(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  const text = synthText(Math.min(length, 40_000), seed);
  const rnd = randomBytes(length, seed + 1);
  let at = 0;
  let k = 0;
  while (at < length) {
    const n = Math.min(length - at, 3000 + ((k * 7919) % 20000));
    if (k % 3 === 0) text.copy(out, at, (k * 101) % 1000, ((k * 101) % 1000) + n);
    else if (k % 3 === 1) rnd.copy(out, at, at, at + n);
    k++;
    at += n;
  }
  return out;
}

function sharedLibraries(max: number): Buffer {
  for (const dir of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib", "/lib"]) {
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir)
      .filter((f) => /\.so(\.|$)/.test(f))
      .sort()
      .map((f) => join(dir, f))
      .filter((f) => {
        const s = statSync(f, { throwIfNoEntry: false });
        return s !== undefined && s.isFile() && s.size > 50_000 && s.size < 2_000_000;
      });
    const parts: Buffer[] = [];
    let total = 0;
    for (const f of files) {
      if (total >= max) break;
      const b = readFileSync(f);
      parts.push(b);
      total += b.length;
    }
    if (total > 0) return Buffer.concat(parts).subarray(0, max);
  }
  return mixed(max, 99);
}

/** About `size` bytes of a real tar of /usr/share/doc (synthetic tar-like data if there is too little). */
async function realTar(size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  if (existsSync("/usr/share/doc")) {
    await new Promise<void>((resolve, reject) => {
      const child = spawn("tar", ["-c", "--sort=name", "-f", "-", "/usr/share/doc"], { stdio: ["ignore", "pipe", "ignore"] });
      child.stdout.on("data", (b: Buffer) => {
        if (total >= size) return;
        parts.push(b);
        total += b.length;
        if (total >= size) child.kill();
      });
      child.on("error", reject);
      child.on("close", () => resolve());
    });
  }
  if (total >= size) return Buffer.concat(parts).subarray(0, size);
  // Synthetic: 512-byte headers, then text, binary or random contents, padded to 512.
  const out = Buffer.alloc(size);
  const libs = sharedLibraries(2_000_000);
  const text = synthText(2_000_000, 3);
  const rnd = randomBytes(1_000_000, 4);
  let at = 0;
  for (let k = 0; at < size; k++) {
    out.write(`usr/share/doc/package-${k}/file-${k}.txt`.padEnd(100, "\0") + "0000644\0" + "0000000\0".repeat(2), at, "latin1");
    at += 512;
    const n = Math.min(size - at, 200 + ((k * 2654435761) >>> 0) % 60_000);
    const src = k % 4 === 3 ? rnd : k % 4 === 2 ? libs : text;
    const from = (k * 7919) % (src.length - n);
    src.copy(out, at, from, from + n);
    at += Math.ceil(n / 512) * 512;
  }
  return out;
}

// ---- byte-identity ------------------------------------------------------------------------------

test("go-flate: the family id", () => {
  assert.equal(GO_FLATE_FAMILY, "go-flate-1.8..1.26");
});

test("go-flate: tiny inputs and the small-block paths, all levels", async () => {
  const text = licenses();
  for (const n of [0, 1, 2, 3, 4, 5, 16, 17, 18, 127, 128, 129, 258, 262, 263, 1000]) {
    await compareLevels(`text[${n}]`, text.subarray(0, n), ALL_LEVELS, null);
    await compareLevels(`random[${n}]`, randomBytes(n, n + 1), ALL_LEVELS, null);
  }
});

test("go-flate: sizes around the window and block boundaries, all levels", async () => {
  const sizes = [32767, 32768, 32769, 65273, 65274, 65275, 65535, 65536, 65537, 65536 + 262, 2 * 65536 - 300, 2 * 65536 + 300, 3 * 65535 + 1];
  for (const n of sizes) await compareLevels(`mixed[${n}]`, mixed(n, n), ALL_LEVELS, n > 100_000 ? 5000 : null);
});

test("go-flate: repetitive data (zeros, short periods, long matches), all levels", async () => {
  const periods = [1, 2, 3, 4, 5, 7, 13, 255, 256, 257, 258, 259, 1000, 32767, 32768, 32769];
  for (const p of periods) {
    const unit = randomBytes(p, p);
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = unit[i % p]!;
    await compareLevels(`period ${p}`, data, ALL_LEVELS, p === 7 || p === 1000 ? 4000 : null);
  }
  // Long matches separated by short literal runs; matches of exactly 258 and longer.
  const block = randomBytes(5000, 77);
  const parts: Buffer[] = [];
  for (let k = 0; k < 120; k++) {
    parts.push(block.subarray((k * 37) % 4000, ((k * 37) % 4000) + 200 + ((k * 53) % 700)));
    parts.push(randomBytes(k % 9, k));
  }
  await compareLevels("long matches", Buffer.concat(parts), ALL_LEVELS, 3000);
  // Fibonacci symbol frequencies, shuffled: Huffman depth 21 without the 15-bit limit.
  const symbols: number[] = [];
  let [a, b] = [1, 1];
  for (let i = 0; i < 22; i++) {
    for (let k = 0; k < a; k++) symbols.push(3 + i * 11);
    [a, b] = [b, a + b];
  }
  const order = randomBytes(symbols.length * 4, 17);
  for (let i = symbols.length - 1; i > 0; i--) {
    const j = order.readUInt32LE(i * 4) % (i + 1);
    [symbols[i], symbols[j]] = [symbols[j]!, symbols[i]!];
  }
  await compareLevels("skewed frequencies", Buffer.from(symbols), ALL_LEVELS, null);
});

test("go-flate: random (stored blocks), text and binaries, all levels, whole and in pieces", async () => {
  await compareLevels("random", randomBytes(400_000, 5), ALL_LEVELS, 70_000);
  await compareLevels("licenses", licenses(), ALL_LEVELS, 1000);
  if (existsSync("/usr/share/dict/words")) await compareLevels("dict", readFileSync("/usr/share/dict/words"), [1, 6, 9], 20_000);
  await compareLevels("shared libraries", sharedLibraries(3_000_000), ALL_LEVELS, 100_000);
});

test("go-flate: a 20 MB real tar, whole and in random pieces", async () => {
  const tar = await realTar(20_000_000);
  const levels = process.env.GO_FLATE_FULL === "1" ? ALL_LEVELS : [1, 6, 9];
  for (const level of levels) {
    const want = await goBody(level, tar);
    assertSame(ours(level, [tar]), want, `tar at level ${level}`);
    if (level === 6 || level === 1 || process.env.GO_FLATE_FULL === "1") assertSame(ours(level, randomPieces(tar, 150_000, 3)), want, `tar at level ${level} in pieces`);
    if (level === 6) assert.deepEqual(inflateRawSync(want), tar);
  }
});

test("go-flate: a 2.2 GB level-1 stream (deflatefast's offset reset)", { skip: process.env.GO_FLATE_HUGE !== "1" }, async () => {
  const total = 2_200_000_000;
  const chunk = mixed(8 << 20, 1234);
  const bin = await gzipperPath();
  const child = spawn(bin, ["-encoder", "stdlib", "-level", "1"], { stdio: ["pipe", "pipe", "inherit"] });
  const goHash = createHash("sha256");
  let skipped = 0;
  let held = Buffer.alloc(0); // the last 8 bytes are the gzip trailer
  child.stdout.on("data", (b: Buffer) => {
    let data = Buffer.concat([held, b]);
    if (skipped < 10) {
      const s = Math.min(10 - skipped, data.length);
      data = data.subarray(s);
      skipped += s;
    }
    const keep = Math.min(8, data.length);
    goHash.update(data.subarray(0, data.length - keep));
    held = Buffer.from(data.subarray(data.length - keep));
  });
  const closed = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const ourHash = createHash("sha256");
  const enc = new GoFlateEncoder(1, (b) => ourHash.update(b));
  for (let at = 0; at < total; at += chunk.length) {
    const piece = chunk.subarray(0, Math.min(chunk.length, total - at));
    // Vary the data a little per chunk so that matches across chunks are not all identical.
    piece[at % 4096] = (at >>> 20) & 0xff;
    enc.write(piece);
    if (!child.stdin.write(Buffer.from(piece))) await new Promise((r) => child.stdin.once("drain", r));
  }
  enc.close();
  child.stdin.end();
  await closed;
  assert.equal(ourHash.digest("hex"), goHash.digest("hex"));
});

/**
 * Go's output depends on its Write sizes in one corner (GoFlateEncoder.write): a step that ends at
 * window index 65274 while the window is not full makes Go shift before processing that position.
 * The input: 64 symbols of random text, with 100-byte matches planted at 65274 (32600 back) and
 * 130810 (32700 back), reachable only before the shift. The hashes are the first 8 bytes of the
 * sha256 of Go 1.26's compress/flate stream written as [65535, 1, rest] and as [65535, 1, 65535,
 * 1000, rest]; gzipper has no option for Write sizes, so they were made once with
 *
 *	w, _ := flate.NewWriter(&buf, level)
 *	for _, n := range sizes { w.Write(data[at : at+n]); at += n }
 *	w.Write(data[at:]); w.Close(); fmt.Printf("%x", sha256.Sum256(buf.Bytes())[:8])
 *
 * (the same for every level 2-9 here). A single Write gives our canonical stream (checked live).
 */
const WRITE_SIZE_CORNER = { first: "0bc652a733a816dd", both: "ac272a018b4deb1b" };

function writeSizeCornerInput(): Buffer {
  const data = Buffer.from(randomBytes(200_000, 42).map((b) => 32 + (b & 0x3f)));
  data.copy(data, 65274, 65274 - 32600, 65274 - 32600 + 100);
  data.copy(data, 65274 + 65536, 65274 + 65536 - 32700, 65274 + 65536 - 32700 + 100);
  return data;
}

const sha8 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex").slice(0, 16);

test("go-flate: the Write-size corner is reported, and shiftEarlyAt reproduces Go's short-write output", async () => {
  const data = writeSizeCornerInput();
  for (let level = 2; level <= 9; level++) {
    const reported: number[] = [];
    const parts: Buffer[] = [];
    const enc = new GoFlateEncoder(level, (b) => parts.push(Buffer.from(b)), { onWriteSizeSensitive: (at) => reported.push(at) });
    for (const p of randomPieces(data, 9000, level)) enc.write(p);
    enc.close();
    assertSame(Buffer.concat(parts), await goBody(level, data), `level ${level}, canonical`);
    assert.deepEqual(reported, [65274, 130810], `level ${level}`);
    assert.equal(sha8(ours(level, [data])), sha8(Buffer.concat(parts)));
    const early = (offsets: number[]): string => {
      const out: Buffer[] = [];
      const e = new GoFlateEncoder(level, (b) => out.push(Buffer.from(b)), { shiftEarlyAt: new Set(offsets) });
      for (const p of randomPieces(data, 7000, level + 1)) e.write(p);
      e.close();
      return sha8(Buffer.concat(out));
    };
    assert.equal(early([65274]), WRITE_SIZE_CORNER.first, `level ${level}, Go's writes [65535, 1, rest]`);
    assert.equal(early([65274, 130810]), WRITE_SIZE_CORNER.both, `level ${level}, Go's writes [65535, 1, 65535, 1000, rest]`);
    // Checkpoints carry on with the same choice.
    const checkpoints: GoFlateCheckpoint[] = [];
    const seq: Buffer[] = [];
    const shiftEarlyAt = new Set([65274, 130810]);
    const s = new GoFlateEncoder(level, (b) => seq.push(Buffer.from(b)), { shiftEarlyAt, checkpointEvery: 20_000, onCheckpoint: (cp) => checkpoints.push(cp) });
    s.write(data);
    s.close();
    assert.equal(sha8(Buffer.concat(seq)), WRITE_SIZE_CORNER.both);
    assert.ok(checkpoints.length >= 3, `${checkpoints.length} checkpoints`);
    const out: Buffer[] = [];
    for (let k = 0; k <= checkpoints.length; k++) {
      const from = k === 0 ? null : checkpoints[k - 1]!;
      const to = k === checkpoints.length ? null : checkpoints[k]!;
      encodeSegment(level, data, 0, from, to, (b) => out.push(Buffer.from(b)), { shiftEarlyAt });
    }
    assert.equal(sha8(Buffer.concat(out)), WRITE_SIZE_CORNER.both);
  }
  // Real data: none reported.
  const reported: number[] = [];
  const tar = await realTar(6_000_000);
  for (const level of [2, 6, 9]) {
    const e = new GoFlateEncoder(level, () => {}, { onWriteSizeSensitive: (at) => reported.push(at) });
    e.write(tar);
    e.close();
  }
  assert.deepEqual(reported, []);
});

// ---- checkpoints -------------------------------------------------------------------------------

interface Run {
  stream: Buffer;
  checkpoints: GoFlateCheckpoint[];
}

function sequential(level: number, input: Uint8Array, every: number, pieceMax: number): Run {
  const parts: Buffer[] = [];
  const checkpoints: GoFlateCheckpoint[] = [];
  const enc = new GoFlateEncoder(level, (b) => parts.push(Buffer.from(b)), { checkpointEvery: every, onCheckpoint: (cp) => checkpoints.push(cp) });
  for (const p of randomPieces(input, pieceMax, 5)) enc.write(p);
  enc.close();
  return { stream: Buffer.concat(parts), checkpoints };
}

/** Each segment from its own serialized checkpoint and only its own slice of the input. */
function spliced(level: number, input: Uint8Array, checkpoints: GoFlateCheckpoint[]): Buffer {
  const cps = checkpoints.map((cp) => decodeCheckpoint(encodeCheckpoint(cp)));
  const out: Buffer[] = [];
  for (let k = 0; k <= cps.length; k++) {
    const from = k === 0 ? null : cps[k - 1]!;
    const to = k === cps.length ? null : cps[k]!;
    const lo = from === null ? 0 : Math.max(0, from.inputOffset - 32768);
    const hi = to === null ? input.length : Math.min(input.length, to.inputOffset + 65536);
    const parts: Buffer[] = [];
    encodeSegment(level, input.subarray(lo, hi), lo, from, to, (b) => parts.push(Buffer.from(b)));
    const seg = Buffer.concat(parts);
    const start = from === null ? 0 : Math.floor(from.outputBits / 8);
    if (to !== null) assert.equal(seg.length, Math.floor(to.outputBits / 8) - start, `segment ${k} length`);
    out.push(seg);
  }
  return Buffer.concat(out);
}

test("go-flate checkpoints: segments re-encoded independently splice into the sequential stream, all levels", async () => {
  const tar = await realTar(6_000_000);
  const inputs: [string, Buffer, number][] = [
    ["tar", tar, 200_000],
    ["text", synthText(2_500_000, 8), 150_000],
    ["mixed", mixed(1_500_000, 9), 100_000],
    ["zeros", Buffer.alloc(1_500_000), 100_000],
    ["random", randomBytes(700_000, 10), 100_000],
  ];
  let greedyWithHistory = 0;
  let lazyLiteralCheckpoints = 0;
  let matchCheckpoints = 0;
  for (const [name, input, every] of inputs) {
    for (const level of ALL_LEVELS) {
      const run = sequential(level, input, every, 70_000);
      // Recording checkpoints changes nothing, and the stream is Go's.
      const want = await goBody(level, input);
      assertSame(run.stream, want, `${name} at level ${level} with checkpoints`);
      if (name !== "zeros" && name !== "random") assert.ok(run.checkpoints.length >= 3, `${name} at level ${level}: ${run.checkpoints.length} checkpoints`);
      for (let k = 1; k < run.checkpoints.length; k++) assert.ok(run.checkpoints[k]!.inputOffset - run.checkpoints[k - 1]!.inputOffset >= every);
      for (const cp of run.checkpoints) {
        if (level >= 4) {
          if (cp.byteAvailable) lazyLiteralCheckpoints++;
          else matchCheckpoints++;
          assert.equal(cp.history, null, "levels 4-9 insert every position");
          assert.ok(encodeCheckpoint(cp).length < 64, `checkpoint of ${encodeCheckpoint(cp).length} bytes`);
        }
        if (level === 0 || level === -2) assert.ok(encodeCheckpoint(cp).length < 32);
        // Level 1 always has a table; levels 2-3 skip the inside of long matches.
        if (level === 1) assert.notEqual(cp.history, null);
        if (level === 2 || level === 3) greedyWithHistory += cp.history === null ? 0 : 1;
      }
      assertSame(spliced(level, input, run.checkpoints), run.stream, `${name} at level ${level}: ${run.checkpoints.length + 1} segments spliced`);
    }
  }
  // Both kinds of block end of the lazy levels were exercised: after a literal (the next byte
  // pending, byteAvailable) and after a match.
  assert.ok(lazyLiteralCheckpoints > 0 && matchCheckpoints > 0, `${lazyLiteralCheckpoints} / ${matchCheckpoints}`);
  // Levels 2-3 needed their bitmap of skipped positions, and it was exact.
  assert.ok(greedyWithHistory >= 10, `${greedyWithHistory}`);
});

test("go-flate checkpoints: blocks ending at the window's shift point (index >= 65274)", async () => {
  // Zeros then random bytes: the zero run's length sets which literal is the 16384th token of a
  // block, so these put block ends at window index 65274 and 65275 (just past the shift point,
  // where the resumed encoder's first step does nothing and the window shifts first).
  const rnd = randomBytes(150_000, 3);
  const atShift = new Set<number>();
  for (const zeros of [16185, 16186, 16187]) {
    const input = Buffer.alloc(zeros + rnd.length);
    rnd.copy(input, zeros);
    for (let level = 2; level <= 9; level++) {
      const run = sequential(level, input, 1, 40_000);
      assertSame(run.stream, await goBody(level, input), `zeros ${zeros} at level ${level}`);
      for (const cp of run.checkpoints) if (cp.index >= 65274) atShift.add(level * 100000 + cp.index);
      assertSame(spliced(level, input, run.checkpoints), run.stream, `zeros ${zeros} at level ${level}: ${run.checkpoints.length + 1} segments`);
    }
  }
  for (let level = 2; level <= 9; level++) assert.ok(atShift.has(level * 100000 + 65275), `level ${level}: ${[...atShift].join(" ")}`);
});

test("go-flate checkpoints: a resumed segment stops exactly at its end checkpoint", () => {
  const input = synthText(1_200_000, 21);
  for (const level of [1, 2, 6]) {
    const run = sequential(level, input, 300_000, 1 << 20);
    const [a, b] = [run.checkpoints[0]!, run.checkpoints[1]!];
    const parts: Buffer[] = [];
    const enc = GoFlateEncoder.resumeFrom(a, input.subarray(0, a.inputOffset), (x) => parts.push(Buffer.from(x)), { until: b });
    enc.write(input.subarray(a.inputOffset)); // more than needed: the rest is ignored
    assert.ok(enc.done);
    enc.close();
    assertSame(Buffer.concat(parts), run.stream.subarray(Math.floor(a.outputBits / 8), Math.floor(b.outputBits / 8)), `level ${level}`);
    // Without an end, a resumed encoder finishes the stream.
    const tail: Buffer[] = [];
    const rest = GoFlateEncoder.resumeFrom(b, input.subarray(b.inputOffset - 40_000, b.inputOffset), (x) => tail.push(Buffer.from(x)));
    rest.write(input.subarray(b.inputOffset));
    rest.close();
    assertSame(Buffer.concat(tail), run.stream.subarray(Math.floor(b.outputBits / 8)), `level ${level}, to the end`);
    assert.throws(() => GoFlateEncoder.resumeFrom(b, input.subarray(0, 1000), () => {}), /preceding bytes/);
  }
});

test("go-flate checkpoints: level 1 resumed across deflatefast's offset reset (cur near 2^31)", () => {
  // shiftOffsets (when cur reaches bufferReset, after ~2 GiB) only drops entries that can no
  // longer match, so the bits do not depend on cur's absolute value: a checkpoint with cur moved up
  // to just below the reset must give the same segment, through the reset.
  const input = mixed(1_500_000, 41);
  const run = sequential(1, input, 200_000, 1 << 20);
  const cp = run.checkpoints[0]!;
  const bufferReset = 0x7fffffff - 2 * 65535;
  for (const cur of [bufferReset - 65535, bufferReset - 1, bufferReset]) {
    const moved = decodeCheckpoint(encodeCheckpoint({ ...cp, cur }));
    const parts: Buffer[] = [];
    const enc = GoFlateEncoder.resumeFrom(moved, input.subarray(0, cp.inputOffset), (b) => parts.push(Buffer.from(b)));
    enc.write(input.subarray(cp.inputOffset));
    enc.close();
    assertSame(Buffer.concat(parts), run.stream.subarray(Math.floor(cp.outputBits / 8)), `cur ${cur}`);
  }
});

test("go-flate checkpoints: serialization round trip and rejection of damaged bytes", () => {
  const input = mixed(900_000, 31);
  for (const level of ALL_LEVELS) {
    for (const cp of sequential(level, input, 100_000, 1 << 20).checkpoints) {
      const bytes = encodeCheckpoint(cp);
      assert.deepEqual(decodeCheckpoint(bytes), cp);
      assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1)));
      assert.throws(() => decodeCheckpoint(Uint8Array.of(0x47, 0x46, 9, ...bytes.subarray(3))));
    }
  }
});
