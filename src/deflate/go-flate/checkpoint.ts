// Checkpoints of a Go compress/flate stream (an addition; not in Go): the state of the encoder at
// a deflate block boundary, from which an encoder can resume and produce exactly the bits that the
// sequential encoder produced from there. See GoFlateEncoder.resumeFrom and encodeSegment.
//
// Taken right after a block was written (no tokens queued), at the end of a loop iteration:
// - output: the stream's bit position and the bits of its incomplete last byte, so a segment's
//   bytes can be spliced by plain concatenation (each segment starts with that partial byte);
// - levels 2-9 (deflate.go): the window alignment (window index of the boundary; window[0] sits at
//   a multiple of 32 KiB of input, so the shift timing and the stored-block eligibility that
//   depends on blockStart repeat), index (the boundary, or one past it when a literal is pending:
//   byteAvailable), the lazy-match state (length/offset found at index-1), and hashOffset (the
//   stored chain values are index + hashOffset). The hash chains are rebuilt by re-inserting the
//   positions index-32768 .. index-1 that Go had inserted, in order, from the 32 KiB of input
//   before the boundary: findMatch only follows positions >= index - 32768 (older heads and
//   stale hashPrev slots read as "out of range" both ways), so entries for older positions do
//   not matter. Levels 4-9 insert every position; levels 2-3 skip the inside of matches longer
//   than fastSkipHashing, so they carry a bitmap of the inserted positions (recovered at the
//   checkpoint from hashHead/hashPrev, see insertedPositions in deflate.ts).
// - level 1 (deflatefast.go): blocks are exactly 65535 bytes; `cur` and the table entries that
//   can still match (offsets within 32 KiB of cur), as a bitmap of positions: each entry holds
//   the 4 bytes at its position and sits in their hash's bucket, so positions rebuild it. `prev`
//   is the input of the previous block, of which only the last 32 KiB can be read.
// - levels 0 and -2: only the output position (blocks of 65535 bytes, no history).
// The chosen behaviour at Go's Write-size corner (shiftEarlyAt) is not state: pass the same set to
// every segment.

/** Positions of history a checkpoint describes: the 32 KiB window before the resume point. */
export const HISTORY_BITS = 1 << 15;

export interface GoFlateCheckpoint {
  /** The compression level (-1 is stored as 6). */
  level: number;
  /** Input bytes before the block boundary. */
  inputOffset: number;
  /** Deflate-stream bits before the block boundary. */
  outputBits: number;
  /** The outputBits % 8 bits of the last, incomplete output byte (low bits first). */
  pendingBits: number;

  // Levels 2-9: the window and the lazy-match state (deflate.go's compressor).
  /** Window index of inputOffset (blockStart); window[0] is input byte inputOffset - windowStart. */
  windowStart: number;
  /** Window index of the next position to process: windowStart, or windowStart + 1 when byteAvailable. */
  index: number;
  hashOffset: number;
  byteAvailable: boolean;
  /** The match found at index - 1 (levels 4-9: the next step's prevLength/prevOffset). */
  length: number;
  offset: number;

  // Level 1 (deflatefast.go).
  cur: number;

  /**
   * Levels 2-3: bitmap of the positions index-32768 .. index-1 in the hash chains (null for levels
   * 4-9, which insert every position). Level 1: bitmap of the live table entries, by offset - cur +
   * 32768. 4096 bytes when present.
   */
  history: Uint8Array | null;
}

const MAGIC0 = 0x47; // 'G'
const MAGIC1 = 0x46; // 'F'
const VERSION = 1;
const HISTORY_NONE = 0;
const HISTORY_RAW = 1;
const HISTORY_RUNS = 2;

class Out {
  bytes = new Uint8Array(64);
  n = 0;
  byte(b: number): void {
    if (this.n === this.bytes.length) {
      const grown = new Uint8Array(this.bytes.length * 2);
      grown.set(this.bytes);
      this.bytes = grown;
    }
    this.bytes[this.n++] = b;
  }
  /** Unsigned LEB128 of a safe integer (arithmetic, not 32-bit operators). */
  uint(v: number): void {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`go-flate checkpoint: bad field ${v}`);
    while (v >= 0x80) {
      this.byte((v % 0x80) + 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }
  raw(b: Uint8Array): void {
    for (const x of b) this.byte(x);
  }
}

class In {
  at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  byte(): number {
    if (this.at >= this.bytes.length) throw new RangeError("go-flate checkpoint: truncated");
    return this.bytes[this.at++]!;
  }
  uint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError("go-flate checkpoint: bad number");
    }
  }
}

/** Run lengths of a bitmap, alternating clear and set runs, starting with clear. */
function runs(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  let value = 0;
  let run = 0;
  for (let b = 0; b < HISTORY_BITS; b++) {
    const bit = (bitmap[b >> 3]! >> (b & 7)) & 1;
    if (bit === value) run++;
    else {
      out.push(run);
      value = bit;
      run = 1;
    }
  }
  out.push(run);
  return out;
}

/** The checkpoint as bytes (a few dozen for levels 0 and 4-9; up to 4 KiB more for levels 1-3). */
export function encodeCheckpoint(cp: GoFlateCheckpoint): Uint8Array {
  const o = new Out();
  o.byte(MAGIC0);
  o.byte(MAGIC1);
  o.byte(VERSION);
  o.byte(cp.level + 2);
  o.uint(cp.inputOffset);
  o.uint(cp.outputBits);
  o.byte(cp.pendingBits);
  if (cp.level >= 2) {
    o.uint(cp.windowStart);
    o.uint(cp.index - cp.windowStart);
    o.uint(cp.hashOffset);
    o.byte(cp.byteAvailable ? 1 : 0);
    o.uint(cp.length);
    o.uint(cp.offset);
  } else if (cp.level === 1) {
    o.uint(cp.cur);
  }
  if (cp.history === null) o.byte(HISTORY_NONE);
  else {
    const r = runs(cp.history);
    const enc = new Out();
    for (const x of r) enc.uint(x);
    if (enc.n < cp.history.length) {
      o.byte(HISTORY_RUNS);
      o.uint(enc.n);
      o.raw(enc.bytes.subarray(0, enc.n));
    } else {
      o.byte(HISTORY_RAW);
      o.raw(cp.history);
    }
  }
  return o.bytes.slice(0, o.n);
}

export function decodeCheckpoint(bytes: Uint8Array): GoFlateCheckpoint {
  const i = new In(bytes);
  if (i.byte() !== MAGIC0 || i.byte() !== MAGIC1) throw new RangeError("go-flate checkpoint: bad magic");
  const version = i.byte();
  if (version !== VERSION) throw new RangeError(`go-flate checkpoint: unknown version ${version}`);
  const level = i.byte() - 2;
  if (level < -2 || level > 9 || level === -1) throw new RangeError(`go-flate checkpoint: bad level ${level}`);
  const cp: GoFlateCheckpoint = {
    level,
    inputOffset: i.uint(),
    outputBits: i.uint(),
    pendingBits: i.byte(),
    windowStart: 0,
    index: 0,
    hashOffset: 0,
    byteAvailable: false,
    length: 0,
    offset: 0,
    cur: 0,
    history: null,
  };
  if (level >= 2) {
    cp.windowStart = i.uint();
    cp.index = cp.windowStart + i.uint();
    cp.hashOffset = i.uint();
    cp.byteAvailable = i.byte() !== 0;
    cp.length = i.uint();
    cp.offset = i.uint();
  } else if (level === 1) {
    cp.cur = i.uint();
  }
  const kind = i.byte();
  if (kind === HISTORY_RAW) {
    const h = new Uint8Array(HISTORY_BITS / 8);
    for (let k = 0; k < h.length; k++) h[k] = i.byte();
    cp.history = h;
  } else if (kind === HISTORY_RUNS) {
    const n = i.uint();
    const end = i.at + n;
    const h = new Uint8Array(HISTORY_BITS / 8);
    let b = 0;
    let value = 0;
    while (i.at < end) {
      const run = i.uint();
      if (b + run > HISTORY_BITS) throw new RangeError("go-flate checkpoint: bad history");
      if (value === 1) for (let k = b; k < b + run; k++) h[k >> 3]! |= 1 << (k & 7);
      b += run;
      value ^= 1;
    }
    if (b !== HISTORY_BITS || i.at !== end) throw new RangeError("go-flate checkpoint: bad history");
    cp.history = h;
  } else if (kind !== HISTORY_NONE) throw new RangeError("go-flate checkpoint: bad history kind");
  if (i.at !== bytes.length) throw new RangeError("go-flate checkpoint: trailing bytes");
  return cp;
}
