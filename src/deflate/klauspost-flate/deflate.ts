// Port of github.com/klauspost/compress v1.15.12 flate/deflate.go (the compressor: window handling, the
// level dispatch, levels 0, -2 and the lazy matcher of levels 7-9). Copyright The Go Authors and
// Klaus Post; BSD-style licence (see the LICENSE file of github.com/klauspost/compress).

import { FastEnc } from "./fast-encoder.js";
import { HuffmanBitWriter } from "./huffman-bit-writer.js";
import { HuffmanEncoder } from "./huffman-code.js";
import { FastEncL1, FastEncL2 } from "./level1.js";
import { FastEncL3, FastEncL4 } from "./level3.js";
import { FastEncL5 } from "./level5.js";
import { FastEncL6 } from "./level6.js";
import { Tokens } from "./token.js";
import {
  HASH_SIZE,
  lengthCodes,
  lengthExtraBits,
  MAX_FLATE_BLOCK_TOKENS,
  MAX_HASH_OFFSET,
  MAX_MATCH_LENGTH,
  MAX_MATCH_OFFSET,
  MAX_STORE_BLOCK_SIZE,
  MIN_MATCH_LENGTH,
  offsetCode,
  offsetExtraBits,
  WINDOW_MASK,
  WINDOW_SIZE,
} from "./tables.js";

const enum Mode {
  Store,
  Huffman,
  Fast,
  Lazy,
}

/** lazy, nice, chain of levels 7-9 (deflate.go levels; their "good" is not used by this matcher). */
const LAZY_LEVELS: Record<number, [number, number, number]> = {
  7: [12, 16, 24],
  8: [30, 40, 64],
  9: [258, 258, 1024],
};

const PRIME4 = 0x9e3779b1;

/** hash4u(u, hashBits): (u * prime4bytes) >> (32 - 17). */
function hash4u(u: number): number {
  return Math.imul(u, PRIME4) >>> 15;
}

function newFastEnc(level: number): FastEnc {
  switch (level) {
    case 1:
      return new FastEncL1();
    case 2:
      return new FastEncL2();
    case 3:
      return new FastEncL3();
    case 4:
      return new FastEncL4();
    case 5:
      return new FastEncL5();
    case 6:
      return new FastEncL6();
    default:
      throw new Error("invalid level specified");
  }
}

/**
 * A klauspost flate compressor (deflate.go compressor + Writer). The compressed bytes collect in `w`
 * (take them with `w.take()`); nothing here does I/O.
 */
export class Compressor {
  readonly level: number;
  private readonly mode: Mode;
  readonly w: HuffmanBitWriter;
  private readonly fast: FastEnc | null = null;
  private readonly window: Uint8Array;
  private windowEnd = 0;
  private readonly tokens = new Tokens();
  private sync = false;

  // Levels 7-9 (advancedState and the lazy parameters).
  private readonly lazy: number = 0;
  private readonly nice: number = 0;
  private readonly chain: number = 0;
  private blockStart = 0;
  private byteAvailable = false;
  private h: HuffmanEncoder | null = null;
  private length = MIN_MATCH_LENGTH - 1;
  private offset = 0;
  private maxInsertIndex = 0;
  private chainHead = -1;
  private hashOffset = 1;
  private ii = 0;
  private index = 0;
  private readonly hashMatch: Uint32Array | null = null;
  private readonly hashHead: Uint32Array | null = null;
  private readonly hashPrev: Uint32Array | null = null;
  /** The distance of the match findMatch found. */
  private fmOffset = 0;

  /** level: -2 (Huffman only), -1 (default, = 5), 0 (stored) or 1-9. `outputCapacity`: initial output buffer size. */
  constructor(level: number, outputCapacity = 1 << 16) {
    this.w = new HuffmanBitWriter(outputCapacity);
    if (level === 0) {
      this.mode = Mode.Store;
      this.window = new Uint8Array(MAX_STORE_BLOCK_SIZE);
    } else if (level === -2) {
      this.mode = Mode.Huffman;
      this.w.logNewTablePenalty = 10;
      this.window = new Uint8Array(32 << 10);
    } else if (level === -1 || (level >= 1 && level <= 6)) {
      if (level === -1) level = 5;
      this.mode = Mode.Fast;
      this.w.logNewTablePenalty = 7;
      this.fast = newFastEnc(level);
      this.window = new Uint8Array(MAX_STORE_BLOCK_SIZE);
    } else if (level >= 7 && level <= 9) {
      this.mode = Mode.Lazy;
      this.w.logNewTablePenalty = 8;
      [this.lazy, this.nice, this.chain] = LAZY_LEVELS[level]!;
      this.hashMatch = new Uint32Array(MAX_MATCH_LENGTH + MIN_MATCH_LENGTH);
      this.hashHead = new Uint32Array(HASH_SIZE);
      this.hashPrev = new Uint32Array(WINDOW_SIZE);
      this.window = new Uint8Array(2 * WINDOW_SIZE + 8);
    } else {
      throw new RangeError(`flate: invalid compression level ${level}: want value in range [-2, 9]`);
    }
    this.level = level;
  }

  /** Writer.ResetDict: discards the state and primes the window with dict (as pgzip does for each block). */
  resetDict(dict: Uint8Array): void {
    this.reset();
    this.fillWindow(dict);
  }

  /** compressor.reset. */
  reset(): void {
    this.w.reset();
    this.sync = false;
    if (this.fast !== null) {
      this.fast.reset();
      this.windowEnd = 0;
      this.tokens.reset();
      return;
    }
    if (this.mode !== Mode.Lazy) {
      this.windowEnd = 0;
      return;
    }
    this.chainHead = -1;
    this.hashHead!.fill(0);
    this.hashPrev!.fill(0);
    this.hashOffset = 1;
    this.index = 0;
    this.windowEnd = 0;
    this.blockStart = 0;
    this.byteAvailable = false;
    this.tokens.reset();
    this.length = MIN_MATCH_LENGTH - 1;
    this.offset = 0;
    this.ii = 0;
    this.maxInsertIndex = 0;
  }

  /** Compresses b (all of it; output may be held back until more input, a flush or close). */
  write(b: Uint8Array): void {
    let off = 0;
    while (off < b.length) {
      if (this.windowEnd === this.windowCapacity() || this.sync) this.step();
      off += this.mode === Mode.Lazy ? this.fillDeflate(b, off) : this.fillBlock(b, off);
    }
  }

  /** Writer.Flush: the pending data, then an empty stored block (the sync marker 00 00 ff ff). */
  syncFlush(): void {
    this.sync = true;
    this.step();
    this.w.writeStoredHeader(0, false);
    this.w.flush();
    this.sync = false;
  }

  /** Writer.Close: the pending data, then the final (empty, fixed) block. */
  close(): void {
    this.sync = true;
    this.step();
    this.w.writeStoredHeader(0, true);
    this.w.flush();
    this.w.reset();
  }

  private windowCapacity(): number {
    return this.window.length - (this.mode === Mode.Lazy ? 8 : 0);
  }

  private step(): void {
    switch (this.mode) {
      case Mode.Fast:
        return this.storeFast();
      case Mode.Lazy:
        return this.deflateLazy();
      case Mode.Store:
        return this.store();
      case Mode.Huffman:
        return this.storeHuff();
    }
  }

  /** fillWindow: primes the history with a dictionary (encoding it and discarding the tokens). */
  private fillWindow(b: Uint8Array): void {
    // Do not fill window if we are in store-only or huffman mode.
    if (this.mode === Mode.Store || this.mode === Mode.Huffman) return;
    if (this.fast !== null) {
      // encode the last data, but discard the result
      if (b.length > MAX_MATCH_OFFSET) b = b.subarray(b.length - MAX_MATCH_OFFSET);
      this.fast.encode(this.tokens, b);
      this.tokens.reset();
      return;
    }
    // If we are given too much, cut it.
    if (b.length > WINDOW_SIZE) b = b.subarray(b.length - WINDOW_SIZE);
    // Add all to window.
    const window = this.window;
    const n = Math.min(b.length, this.windowCapacity() - this.windowEnd);
    window.set(b.subarray(0, n), this.windowEnd);
    const hashHead = this.hashHead!;
    const hashPrev = this.hashPrev!;
    const dst = this.hashMatch!;
    // Calculate 256 hashes at the time (more L1 cache hits)
    const loops = Math.trunc((n + 256 - MIN_MATCH_LENGTH) / 256);
    for (let j = 0; j < loops; j++) {
      const startindex = j * 256;
      let end = startindex + 256 + MIN_MATCH_LENGTH - 1;
      if (end > n) end = n;
      const dstSize = end - startindex - MIN_MATCH_LENGTH + 1;
      if (dstSize <= 0) continue;
      bulkHash4(window, startindex, end, dst);
      for (let i = 0; i < dstSize; i++) {
        const di = i + startindex;
        const newH = dst[i]!;
        // Get previous value with the same hash. Our chain should point to the previous value.
        hashPrev[di & WINDOW_MASK] = hashHead[newH]!;
        // Set the head of the hash chain to us.
        hashHead[newH] = di + this.hashOffset;
      }
    }
    // Update window information.
    this.windowEnd += n;
    this.index = n;
  }

  private fillBlock(b: Uint8Array, off: number): number {
    const n = Math.min(this.window.length - this.windowEnd, b.length - off);
    this.window.set(b.subarray(off, off + n), this.windowEnd);
    this.windowEnd += n;
    return n;
  }

  private writeStoredBlock(buf: Uint8Array): void {
    this.w.writeStoredHeader(buf.length, false);
    this.w.writeBytes(buf);
  }

  /** Level 0: stored blocks of 65535 bytes. */
  private store(): void {
    if (this.windowEnd > 0 && (this.windowEnd === MAX_STORE_BLOCK_SIZE || this.sync)) {
      this.writeStoredBlock(this.window.subarray(0, this.windowEnd));
      this.windowEnd = 0;
    }
  }

  /** Level -2: Huffman-only blocks of 32 KiB. */
  private storeHuff(): void {
    if ((this.windowEnd < this.window.length && !this.sync) || this.windowEnd === 0) return;
    this.w.writeBlockHuff(false, this.window.subarray(0, this.windowEnd), this.sync);
    this.windowEnd = 0;
  }

  /** Levels 1-6: encodes the window (65535 bytes, or less at a flush) with the fast encoder. */
  private storeFast(): void {
    const window = this.window;
    const windowEnd = this.windowEnd;
    // We only compress if we have maxStoreBlockSize.
    if (windowEnd < window.length) {
      if (!this.sync) return;
      // Handle extremely small sizes.
      if (windowEnd < 128) {
        if (windowEnd === 0) return;
        if (windowEnd <= 32) this.writeStoredBlock(window.subarray(0, windowEnd));
        else this.w.writeBlockHuff(false, window.subarray(0, windowEnd), true);
        this.tokens.reset();
        this.windowEnd = 0;
        this.fast!.reset();
        return;
      }
    }
    const input = window.subarray(0, windowEnd);
    this.fast!.encode(this.tokens, input);
    // If we made zero matches, store the block as is.
    if (this.tokens.n === 0) {
      this.writeStoredBlock(input);
      // If we removed less than 1/16th, huffman compress the block.
    } else if (this.tokens.n > windowEnd - (windowEnd >> 4)) {
      this.w.writeBlockHuff(false, input, this.sync);
    } else {
      this.w.writeBlockDynamic(this.tokens, false, input, this.sync);
    }
    this.tokens.reset();
    this.windowEnd = 0;
  }

  // ---- Levels 7-9 ----

  private fillDeflate(b: Uint8Array, off: number): number {
    if (this.index >= 2 * WINDOW_SIZE - (MIN_MATCH_LENGTH + MAX_MATCH_LENGTH)) {
      // shift the window by windowSize
      this.window.copyWithin(0, WINDOW_SIZE, 2 * WINDOW_SIZE);
      this.index -= WINDOW_SIZE;
      this.windowEnd -= WINDOW_SIZE;
      if (this.blockStart >= WINDOW_SIZE) this.blockStart -= WINDOW_SIZE;
      else this.blockStart = 0x7fffffff;
      this.hashOffset += WINDOW_SIZE;
      if (this.hashOffset > MAX_HASH_OFFSET) {
        const delta = this.hashOffset - 1;
        this.hashOffset -= delta;
        this.chainHead -= delta;
        const hashPrev = this.hashPrev!;
        for (let i = 0; i < hashPrev.length; i++) {
          const v = hashPrev[i]!;
          hashPrev[i] = v > delta ? v - delta : 0;
        }
        const hashHead = this.hashHead!;
        for (let i = 0; i < hashHead.length; i++) {
          const v = hashHead[i]!;
          hashHead[i] = v > delta ? v - delta : 0;
        }
      }
    }
    const n = Math.min(2 * WINDOW_SIZE - this.windowEnd, b.length - off);
    this.window.set(b.subarray(off, off + n), this.windowEnd);
    this.windowEnd += n;
    return n;
  }

  private writeBlock(index: number, eof: boolean): void {
    if (index > 0 || eof) {
      let window: Uint8Array | null = null;
      if (this.blockStart <= index) window = this.window.subarray(this.blockStart, index);
      this.blockStart = index;
      this.w.writeBlockDynamic(this.tokens, eof, window, this.sync);
    }
  }

  /** hash4 of the 4 bytes at i of the window. */
  private hash4At(i: number): number {
    const w = this.window;
    return hash4u(w[i]! | (w[i + 1]! << 8) | (w[i + 2]! << 16) | (w[i + 3]! << 24));
  }

  /**
   * The longest match at pos longer than minMatchLength - 1, following the hash chain from prevHead; for
   * chains >= 100 (level 9) a match must also gain bits by an estimate. Returns its length (0 if none) and
   * sets this.fmOffset to its distance.
   */
  private findMatch(pos: number, prevHead: number, lookahead: number): number {
    let minMatchLook = MAX_MATCH_LENGTH;
    if (lookahead < minMatchLook) minMatchLook = lookahead;
    const win = this.window;
    const winLen = pos + minMatchLook;
    // We quit when we get a match that's at least nice long
    let nice = winLen - pos;
    if (this.nice < nice) nice = this.nice;
    // If we've got a match that's good enough, only look in 1/4 the chain.
    let tries = this.chain;
    let length = MIN_MATCH_LENGTH - 1;
    let wEnd = win[pos + length]!;
    let minIndex = pos - WINDOW_SIZE;
    if (minIndex < 0) minIndex = 0;
    let offset = 0;
    let ok = false;
    const hashPrev = this.hashPrev!;
    const hashOffset = this.hashOffset;

    if (this.chain < 100) {
      for (let i = prevHead; tries > 0; tries--) {
        if (wEnd === win[i + length]) {
          const n = matchLenBytes(win, i, pos, minMatchLook);
          if (n > length) {
            length = n;
            offset = pos - i;
            ok = true;
            if (n >= nice) break; // The match is good enough that we don't try to find a better one.
            wEnd = win[pos + n]!;
          }
        }
        if (i <= minIndex) break; // hashPrev[i & windowMask] has already been overwritten, so stop now.
        i = hashPrev[i & WINDOW_MASK]! - hashOffset;
        if (i < minIndex) break;
      }
      this.fmOffset = offset;
      return ok ? length : 0;
    }

    // Some like it higher (CSV), some like it lower (JSON)
    const baseCost = 6;
    let cGain = 0;
    const h = this.h!;
    for (let i = prevHead; tries > 0; tries--) {
      if (wEnd === win[i + length]) {
        const n = matchLenBytes(win, i, pos, minMatchLook);
        if (n > length) {
          // Calculate gain. Estimate
          const newGain = h.bitLengthRaw(win, pos, pos + n) - offsetExtraBits[offsetCode(pos - i)]! - baseCost - lengthExtraBits[lengthCodes[(n - 3) & 255]!]!;
          if (newGain > cGain) {
            length = n;
            offset = pos - i;
            cGain = newGain;
            ok = true;
            if (n >= nice) break;
            wEnd = win[pos + n]!;
          }
        }
      }
      if (i <= minIndex) break;
      i = hashPrev[i & WINDOW_MASK]! - hashOffset;
      if (i < minIndex) break;
    }
    this.fmOffset = offset;
    return ok ? length : 0;
  }

  /** Inserts the hashes of positions [startindex, end - 3) into the chains. */
  private insertHashes(startindex: number, end: number): void {
    const dstSize = end - startindex - MIN_MATCH_LENGTH + 1;
    if (dstSize <= 0) return;
    const dst = this.hashMatch!;
    bulkHash4(this.window, startindex, end, dst);
    const hashHead = this.hashHead!;
    const hashPrev = this.hashPrev!;
    const hashOffset = this.hashOffset;
    for (let i = 0; i < dstSize; i++) {
      const di = i + startindex;
      const newH = dst[i]!;
      hashPrev[di & WINDOW_MASK] = hashHead[newH]!;
      hashHead[newH] = di + hashOffset;
    }
  }

  private flushTokensIfFull(): void {
    if (this.tokens.n === MAX_FLATE_BLOCK_TOKENS) {
      this.writeBlock(this.index, false);
      this.tokens.reset();
    }
  }

  /** deflateLazy: levels 7-9, lazy matching over hash chains. */
  private deflateLazy(): void {
    const win = this.window;
    const tokens = this.tokens;
    const hashHead = this.hashHead!;
    const hashPrev = this.hashPrev!;
    if (this.windowEnd - this.index < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH && !this.sync) return;
    if (this.windowEnd !== this.index && this.chain > 100) {
      // Get literal huffman coder.
      if (this.h === null) this.h = new HuffmanEncoder(MAX_FLATE_BLOCK_TOKENS);
      const tmp = new Uint16Array(256);
      for (let i = this.index; i < this.windowEnd; i++) tmp[win[i]!]!++;
      this.h.generate(tmp, 256, 15);
    }

    this.maxInsertIndex = this.windowEnd - (MIN_MATCH_LENGTH - 1);

    for (;;) {
      const lookahead = this.windowEnd - this.index;
      if (lookahead < MIN_MATCH_LENGTH + MAX_MATCH_LENGTH) {
        if (!this.sync) return;
        if (lookahead === 0) {
          // Flush current output block if any.
          if (this.byteAvailable) {
            // There is still one pending token that needs to be flushed
            tokens.addLiteral(win[this.index - 1]!);
            this.byteAvailable = false;
          }
          if (tokens.n > 0) {
            this.writeBlock(this.index, false);
            tokens.reset();
          }
          return;
        }
      }
      if (this.index < this.maxInsertIndex) {
        // Update the hash
        const hash = this.hash4At(this.index);
        const ch = hashHead[hash]!;
        this.chainHead = ch;
        hashPrev[this.index & WINDOW_MASK] = ch;
        hashHead[hash] = this.index + this.hashOffset;
      }
      let prevLength = this.length;
      let prevOffset = this.offset;
      this.length = MIN_MATCH_LENGTH - 1;
      this.offset = 0;
      let minIndex = this.index - WINDOW_SIZE;
      if (minIndex < 0) minIndex = 0;

      if (this.chainHead - this.hashOffset >= minIndex && lookahead > prevLength && prevLength < this.lazy) {
        const newLength = this.findMatch(this.index, this.chainHead - this.hashOffset, lookahead);
        if (newLength !== 0) {
          this.length = newLength;
          this.offset = this.fmOffset;
        }
      }

      if (prevLength >= MIN_MATCH_LENGTH && this.length <= prevLength) {
        // Check for better match at end...
        //
        // checkOff must be >=2 since we otherwise risk checking s.index
        // Offset of 2 seems to yield best results.
        const checkOff = 2;
        const prevIndex = this.index - 1;
        if (prevIndex + prevLength + checkOff < this.maxInsertIndex) {
          let end = lookahead;
          if (lookahead > MAX_MATCH_LENGTH) end = MAX_MATCH_LENGTH;
          end += prevIndex;
          const idx = prevIndex + prevLength - (4 - checkOff);
          const h = this.hash4At(idx);
          const ch2 = hashHead[h]! - this.hashOffset - prevLength + (4 - checkOff);
          if (ch2 > minIndex) {
            const length = matchLenBytes(win, ch2, prevIndex, end - prevIndex);
            // It seems like a pure length metric is best.
            if (length > prevLength) {
              prevLength = length;
              prevOffset = prevIndex - ch2;
            }
          }
        }
        // There was a match at the previous step, and the current match is
        // not better. Output the previous match.
        tokens.addMatch(prevLength - 3, prevOffset - 1);

        // Insert in the hash table all strings up to the end of the match.
        // index and index-1 are already inserted. If there is not enough
        // lookahead, the last two strings are not inserted into the hash
        // table.
        const newIndex = this.index + prevLength - 1;
        // Calculate missing hashes
        let end = newIndex;
        if (end > this.maxInsertIndex) end = this.maxInsertIndex;
        end += MIN_MATCH_LENGTH - 1;
        let startindex = this.index + 1;
        if (startindex > this.maxInsertIndex) startindex = this.maxInsertIndex;
        this.insertHashes(startindex, end);

        this.index = newIndex;
        this.byteAvailable = false;
        this.length = MIN_MATCH_LENGTH - 1;
        this.flushTokensIfFull();
        this.ii = 0;
      } else {
        // Reset, if we got a match this run.
        if (this.length >= MIN_MATCH_LENGTH) this.ii = 0;
        // We have a byte waiting. Emit it.
        if (this.byteAvailable) {
          this.ii = (this.ii + 1) & 0xffff;
          tokens.addLiteral(win[this.index - 1]!);
          this.flushTokensIfFull();
          this.index++;

          // If we have a long run of no matches, skip additional bytes
          // Resets when s.ii overflows after 64KB.
          let n = this.ii - this.chain;
          if (n > 0) {
            n = 1 + (n >> 6);
            for (let j = 0; j < n; j++) {
              if (this.index >= this.windowEnd - 1) break;
              tokens.addLiteral(win[this.index - 1]!);
              this.flushTokensIfFull();
              // Index...
              if (this.index < this.maxInsertIndex) {
                const h = this.hash4At(this.index);
                const ch = hashHead[h]!;
                this.chainHead = ch;
                hashPrev[this.index & WINDOW_MASK] = ch;
                hashHead[h] = this.index + this.hashOffset;
              }
              this.index++;
            }
            // Flush last byte
            tokens.addLiteral(win[this.index - 1]!);
            this.byteAvailable = false;
            this.flushTokensIfFull();
          }
        } else {
          this.index++;
          this.byteAvailable = true;
        }
      }
    }
  }
}

/** bulkHash4: hash4 of each position in b[start:end) that has 4 bytes, into dst[0..). */
function bulkHash4(b: Uint8Array, start: number, end: number, dst: Uint32Array): void {
  if (end - start < 4) return;
  let hb = b[start]! | (b[start + 1]! << 8) | (b[start + 2]! << 16) | (b[start + 3]! << 24);
  dst[0] = hash4u(hb);
  const last = end - start - 4 + 1;
  for (let i = 1; i < last; i++) {
    hb = (hb >>> 8) | (b[start + i + 3]! << 24);
    dst[i] = hash4u(hb);
  }
}

/** matchLen(a[0:max], b): equal bytes at a and b of win, at most max. */
function matchLenBytes(win: Uint8Array, a: number, b: number, max: number): number {
  let i = 0;
  while (i < max && win[a + i] === win[b + i]) i++;
  return i;
}
