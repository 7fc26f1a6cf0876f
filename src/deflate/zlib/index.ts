// Vanilla zlib's raw deflate (levels 1-9), through pako 3.0.3, a JavaScript port of zlib (MIT and zlib
// licences). Pure: no I/O.
//
// pako 3's default hash is NOT zlib's: it uses a multiplicative hash ("ANZAC++", close to what recent
// Chromium zlib and so node:zlib do) unless `legacyHash` is set. With legacyHash it is zlib's Rabin-Karp
// rolling hash and the output is zlib's, byte for byte (test/deflate/zlib.test.ts checks it against the
// zlib that CPython links). Never use node:zlib to encode: it is Chromium's zlib, whose output differs
// from vanilla zlib, changed across Node releases and in older ones depended on the CPU.
//
// zlib's output for levels 1-9 does not depend on how the input is cut into deflate() calls with
// Z_NO_FLUSH (matching only runs with MIN_LOOKAHEAD bytes ahead or at the end, and blocks end when the
// symbol buffer is full), so pieces of any size give the same bytes. Level 0 is left out on purpose: since
// zlib 1.2.9 its stored blocks depend on the sizes of the caller's input and output buffers.

import { ZStream, Z_BUF_ERROR, Z_DEFAULT_STRATEGY, Z_FINISH, Z_NO_FLUSH, Z_OK, Z_STREAM_END, zlibDeflate, zlibDeflateEnd, zlibDeflateInit2 } from "pako";

/**
 * The zlib versions whose raw deflate this encoder was checked against, byte for byte, at levels 1-9 and
 * memLevel 8 and 9: 1.2.13 (Debian 12's libz, linked by CPython), 1.3.1 and 1.3.2 (upstream builds from
 * the cmeel-zlib wheels). Not tried: 1.2.11 and older, 1.3.0. Not covered at all: zlib-ng (Fedora 40's
 * system zlib), Chromium's zlib (node:zlib), Intel's and Cloudflare's forks, GNU gzip, pigz.
 */
export const ZLIB_FAMILY = "zlib-1.2.13..1.3.2";

/** zlib's default memLevel (deflateInit, and what Python, Java, libarchive and pigz's zlib use). */
export const ZLIB_DEFAULT_MEM_LEVEL = 8;

export interface ZlibEncoderOptions {
  /**
   * zlib's memLevel, 1-9 (default 8): sets the hash table size (2^(memLevel+7) entries) and the symbols
   * per block (2^(memLevel+6) - 1), so it changes the output. 9 is Perl Compress::Raw::Zlib's default
   * (pristine-gz's "--quirk perl").
   */
  memLevel?: number;
}

const OUTPUT_BUFFER = 1 << 16;
const EMPTY = new Uint8Array(0);

/**
 * Vanilla zlib's raw deflate (windowBits 15, default strategy) at `level` (1-9), streamed: output goes to
 * `sink` as produced; a view is valid only during the call (the buffer behind it is reused). The output is
 * identical whatever the sizes of the pieces written.
 */
export class ZlibEncoder {
  private readonly strm = new ZStream();
  private readonly out = new Uint8Array(OUTPUT_BUFFER);
  private closed = false;

  constructor(
    level: number,
    private readonly sink: (bytes: Uint8Array) => void,
    options: ZlibEncoderOptions = {},
  ) {
    if (!Number.isInteger(level) || level < 1 || level > 9) throw new RangeError(`zlib: invalid compression level ${level}: want 1..9`);
    const memLevel = options.memLevel ?? ZLIB_DEFAULT_MEM_LEVEL;
    if (!Number.isInteger(memLevel) || memLevel < 1 || memLevel > 9) throw new RangeError(`zlib: invalid memLevel ${memLevel}: want 1..9`);
    // Raw deflate (negative windowBits), 32 KiB window; the last argument is pako's legacyHash.
    const status = zlibDeflateInit2(this.strm, level, 8, -15, memLevel, Z_DEFAULT_STRATEGY, true);
    if (status !== Z_OK) throw new Error(`zlib: deflateInit2 failed (${status}): ${this.strm.msg}`);
    this.strm.output = this.out;
  }

  write(input: Uint8Array): void {
    if (this.closed) throw new Error("zlib: write after close");
    if (input.length === 0) return; // deflate() would answer Z_BUF_ERROR: no progress possible
    const strm = this.strm;
    strm.input = input;
    strm.next_in = 0;
    strm.avail_in = input.length;
    // deflate() returns when the input is used up or the output buffer is full.
    do {
      if (this.run(Z_NO_FLUSH) === Z_BUF_ERROR && strm.avail_in > 0) throw new Error("zlib: deflate made no progress");
    } while (strm.avail_in > 0 || strm.avail_out === 0);
    strm.input = EMPTY; // keep no reference to the caller's buffer
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const strm = this.strm;
    strm.input = EMPTY;
    strm.next_in = 0;
    strm.avail_in = 0;
    while (this.run(Z_FINISH) !== Z_STREAM_END);
    zlibDeflateEnd(strm);
  }

  private run(flush: typeof Z_NO_FLUSH | typeof Z_FINISH): number {
    const strm = this.strm;
    strm.next_out = 0;
    strm.avail_out = this.out.length;
    const status = zlibDeflate(strm, flush);
    // Z_BUF_ERROR only means "no progress possible" (e.g. called again after the output buffer was
    // filled exactly), as in zlib: not an error.
    if (status !== Z_OK && status !== Z_STREAM_END && status !== Z_BUF_ERROR) throw new Error(`zlib: deflate failed (${status}): ${strm.msg}`);
    if (strm.next_out > 0) this.sink(this.out.subarray(0, strm.next_out));
    return status;
  }
}

/** Vanilla zlib's raw deflate of `input` at `level`, in one piece. */
export function zlibDeflateRaw(input: Uint8Array, level: number, options: ZlibEncoderOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const enc = new ZlibEncoder(
    level,
    (b) => {
      parts.push(b.slice());
      size += b.length;
    },
    options,
  );
  enc.write(input);
  enc.close();
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
