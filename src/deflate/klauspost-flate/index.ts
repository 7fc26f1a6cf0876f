// Port of the block framing of github.com/klauspost/pgzip v1.2.5 (gzip.go) over klauspost/compress
// v1.15.12 flate, and of klauspost/compress/gzip's single-stream use of it. Copyright The Go Authors
// and Klaus Post; BSD-style licence (see the LICENSE files of github.com/klauspost/pgzip and
// github.com/klauspost/compress). Pure: no I/O.
//
// pgzip cuts the input into blocks of blockSize bytes. Each block is compressed by a flate.Writer
// (taken from a pool and ResetDict'ed: the same output as a fresh one) primed with the last 16 KiB
// (tailSize) of the previous block as dictionary, or with none when the previous block was not longer
// than 16 KiB (or there is none). Each block ends with Flush() (a sync marker, so it is byte-aligned);
// the block compressed at Close() also gets Close() (an empty final fixed block, 03 00). A block is
// compressed as soon as it is full, so an input that is a multiple of blockSize ends with an empty
// last block (with the previous tail as dictionary); an empty input is one empty last block.

import { Compressor } from "./deflate.js";

/**
 * The klauspost/compress versions whose pgzip/flate output this port (of v1.15.12) reproduces at the
 * default level 5 (measured: shared/research/gzip-reproduction.md section 3). Other levels have narrower
 * ranges: see KLAUSPOST_LEVEL_VERSIONS.
 */
export const KLAUSPOST_FAMILY = "klauspost-flate-1.15.10..1.18.0";

/**
 * The klauspost/compress versions that gave this port's output, per level (pgzip at 1 MiB blocks, on
 * 4.3 MB of tar and text; a larger corpus could only narrow a range). Tried: v1.15.9 to v1.15.15, v1.16.0,
 * v1.17.0, v1.17.8, v1.17.10, v1.17.11 and v1.18.0; 1.15.9 as a lower bound means "or older, not tried".
 * Levels 1-3 changed in v1.15.11, 5 and 6 in v1.15.10, the lazy matcher of 7-9 in v1.15.15, 4 in v1.18.0.
 */
export const KLAUSPOST_LEVEL_VERSIONS: Readonly<Record<number, string>> = {
  [-2]: "1.15.9..1.18.0",
  [-1]: "1.15.10..1.18.0",
  0: "1.15.9..1.18.0",
  1: "1.15.11..1.18.0",
  2: "1.15.11..1.18.0",
  3: "1.15.11..1.18.0",
  4: "1.15.9..1.17.11",
  5: "1.15.10..1.18.0",
  6: "1.15.10..1.18.0",
  7: "1.15.9..1.15.14",
  8: "1.15.9..1.15.14",
  9: "1.15.9..1.15.14",
};

/** pgzip's tailSize: the dictionary is the last 16 KiB of the previous block. */
export const PGZIP_TAIL_SIZE = 16384;
/** pgzip's default block size (since v1.2.2; 256 KiB before, and as umoci 0.4.7 sets). */
export const PGZIP_DEFAULT_BLOCK_SIZE = 1 << 20;

function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < -2 || level > 9) throw new RangeError(`klauspost flate: invalid compression level ${level}: want -2..9`);
}

/**
 * Encodes pgzip blocks at one level, reusing one compressor (about 2 MB of tables) from block to
 * block as pgzip's pool does: reuse gives the same bytes as a fresh writer, as everything from
 * before a reset is out of reach of the matchers.
 */
export class PgzipBlockEncoder {
  private readonly compressor: Compressor;

  constructor(readonly level: number) {
    checkLevel(level);
    this.compressor = new Compressor(level, 1 << 20);
  }

  /**
   * One pgzip block: klauspost flate over `input`, primed with `dictionary` (the previous block's
   * tail, or empty), ending with a sync flush, or with the final block when `last`. A function of
   * its arguments alone, so blocks can be encoded in parallel, each thread with an encoder of its own.
   */
  encode(input: Uint8Array, dictionary: Uint8Array, last: boolean): Uint8Array {
    const c = this.compressor;
    c.resetDict(dictionary);
    c.w.ensure(input.length + (input.length >> 4) + 64);
    c.write(input);
    c.syncFlush();
    if (last) c.close();
    return c.w.take();
  }
}

/** The dictionary pgzip gives the block after `block`: its last 16 KiB, or none if it is not longer. */
export function pgzipTail(block: Uint8Array): Uint8Array {
  return block.length > PGZIP_TAIL_SIZE ? block.subarray(block.length - PGZIP_TAIL_SIZE) : new Uint8Array(0);
}

/**
 * The whole deflate body of a pgzip stream (blocks of blockSize), streamed: output to sink as
 * produced. Started with the previous block's `dictionary`, it encodes a part of a stream that
 * begins at a block boundary (what follows the first block, in parallel): such a part that is
 * not the stream's end is not closed, its blocks all end with their sync flush.
 */
export class PgzipBodyEncoder {
  private readonly blocks: PgzipBlockEncoder;
  private readonly buffer: Uint8Array;
  private filled = 0;
  private tail: Uint8Array;
  private closed = false;

  constructor(
    level: number,
    private readonly blockSize: number,
    private readonly sink: (bytes: Uint8Array) => void,
    dictionary: Uint8Array = new Uint8Array(0),
  ) {
    this.tail = dictionary;
    this.blocks = new PgzipBlockEncoder(level);
    if (!Number.isInteger(blockSize) || blockSize <= PGZIP_TAIL_SIZE) throw new RangeError(`pgzip: block size must be an integer > ${PGZIP_TAIL_SIZE}, got ${blockSize}`);
    this.buffer = new Uint8Array(blockSize);
  }

  write(input: Uint8Array): void {
    if (this.closed) throw new Error("pgzip: write after close");
    let off = 0;
    while (off < input.length) {
      const n = Math.min(this.blockSize - this.filled, input.length - off);
      this.buffer.set(input.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.blockSize) this.compressCurrent(false);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.compressCurrent(true);
  }

  private compressCurrent(last: boolean): void {
    const block = this.buffer.subarray(0, this.filled);
    const out = this.blocks.encode(block, this.tail, last);
    this.tail = pgzipTail(block).slice();
    this.filled = 0;
    this.sink(out);
  }
}

/**
 * klauspost/compress/gzip's deflate body: one flate stream at `level` (no blocks, no flushes), as
 * `kgzip.NewWriterLevel(w, level)`, Write..., Close().
 */
export class KlauspostFlateEncoder {
  private readonly c: Compressor;
  private closed = false;

  constructor(
    level: number,
    private readonly sink: (bytes: Uint8Array) => void,
  ) {
    checkLevel(level);
    this.c = new Compressor(level, 1 << 20);
  }

  write(input: Uint8Array): void {
    if (this.closed) throw new Error("klauspost flate: write after close");
    // Bounded pieces keep the output buffer small; the output does not depend on how input is split.
    for (let off = 0; off < input.length; off += 1 << 20) {
      this.c.write(input.subarray(off, Math.min(input.length, off + (1 << 20))));
      if (this.c.w.pos >= 1 << 16) this.sink(this.c.w.take());
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.c.close();
    this.sink(this.c.w.take());
  }
}
