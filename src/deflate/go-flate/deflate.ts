// Port of Go's compress/flate deflate.go (Go 1.8-1.26), levels -2..9. Copyright The Go Authors;
// BSD-style licence (see Go's LICENSE file).
//
// The output is byte-identical to Go's compress/flate Writer (and so to compress/gzip's deflate
// body) that was given the same input and closed without Flush. Additions that Go does not have:
// checkpoints (see checkpoint.ts) to re-create a long stream in independent segments.
//
// Write sizes. Go's Writer runs its "step" before every fill of its window; this encoder steps
// when its window is full, which is what Go does when it is given the input in large writes (one
// Write, or Writes of a multiple of 32 KiB). Our output does not depend on how the input is cut.
// Go's does in one rare corner at levels 2-9: see `write`, onWriteSizeSensitive and shiftEarlyAt.

import { HuffmanBitWriter } from "./huffman-bit-writer.js";
import { DeflateFast } from "./deflatefast.js";
import { type GoFlateCheckpoint, HISTORY_BITS } from "./checkpoint.js";
import {
  DEFAULT_COMPRESSION,
  HASH_SIZE,
  HASHMUL,
  HUFFMAN_ONLY,
  LENGTH_CODES,
  LEVELS,
  Lit,
  MAX_FLATE_BLOCK_TOKENS,
  MAX_HASH_OFFSET,
  MAX_INT32,
  MAX_STORE_BLOCK_SIZE,
  MIN_MATCH_LENGTH,
  NO_COMPRESSION,
  OFFSET_CODES,
  SKIP_NEVER,
  WINDOW_MASK,
  WINDOW_SIZE,
} from "./tables.js";

/** The class of encoder outputs this port reproduces: Go's compress/flate from Go 1.8 to Go 1.26. */
export const GO_FLATE_FAMILY = "go-flate-1.8..1.26";


const enum Mode {
  Store = 0,
  Huffman = 1,
  Fast = 2,
  Deflate = 3,
}

export interface GoFlateOptions {
  /**
   * Record a checkpoint at the first block boundary after every `checkpointEvery` bytes of input
   * (not in the final flush of close()). Levels 0 and -2 have a boundary every 65535 bytes, level 1
   * likewise, levels 2-9 whenever 16384 tokens have been collected.
   */
  checkpointEvery?: number;
  /** Receives the checkpoints as they are made. */
  onCheckpoint?: (checkpoint: GoFlateCheckpoint) => void;
  /**
   * Stop at this checkpoint of the same stream (a segment's end): emit the bytes before byte
   * floor(until.outputBits / 8), then `done` turns true and further input is ignored.
   */
  until?: GoFlateCheckpoint | null;
  /**
   * Levels 2-9. Go's output can depend on the sizes of its Write calls in one corner (see
   * `write`): called with the input offset of each position where it does for this input, i.e.
   * where processing that position after the window shift (as Go does when a short Write left its
   * window not full just there) would give other bits. Rare in real data.
   */
  onWriteSizeSensitive?: (inputOffset: number) => void;
  /**
   * Levels 2-9: input offsets (as reported by onWriteSizeSensitive) at which to behave like Go
   * whose window was not full there: shift the window before processing that position. Pass the
   * same set to resumeFrom when resuming.
   */
  shiftEarlyAt?: ReadonlySet<number>;
}

/** Go 1.8-1.26 compress/flate, byte for byte. Output goes to `sink` as produced; a view passed to the sink is valid only during the call (buffers are reused). */
export class GoFlateEncoder {
  readonly level: number;
  private readonly mode: Mode;
  private readonly good: number;
  private readonly lazy: number;
  private readonly nice: number;
  private readonly chain: number;
  private readonly fastSkipHashing: number;

  private readonly w: HuffmanBitWriter;
  private readonly bestSpeed: DeflateFast | null;

  // input window: unprocessed data is window[index:windowEnd]
  private readonly window: Uint8Array;
  private readonly windowView: DataView;
  private index = 0;
  private windowEnd = 0;
  private blockStart = 0; // window index where current tokens start
  private byteAvailable = false; // if true, still need to process window[index-1].
  /** Input offset of window[0] (levels 2-9), or of the block being collected (levels -2, 0, 1). */
  private windowBase = 0;

  // queued output tokens (one more entry of room for the end-of-block marker)
  private readonly tokens: Int32Array;
  private ntokens = 0;

  // deflate state
  private length = MIN_MATCH_LENGTH - 1;
  private offset = 0;

  // Input hash chains. hashHead[hashValue] contains the largest inputIndex with the specified
  // hash value. If hashHead[hashValue] is within the current window, then
  // hashPrev[hashHead[hashValue] & windowMask] contains the previous index with the same hash value.
  private chainHead = -1;
  private readonly hashHead: Int32Array;
  private readonly hashPrev: Int32Array;
  private hashOffset = 1;

  // findMatch results
  private mLength = 0;
  private mOffset = 0;

  private closed = false;

  // Write-size corner (see `write`)
  private readonly onWriteSizeSensitive: ((inputOffset: number) => void) | null;
  private readonly shiftEarlyAt: ReadonlySet<number> | null;
  /** The step stopped at Lit.Landing to shift the window first (shiftEarlyAt). */
  private earlyShift = false;

  // checkpoints
  private readonly checkpointEvery: number;
  private readonly onCheckpoint: ((checkpoint: GoFlateCheckpoint) => void) | null;
  private nextCheckpointAt: number;

  // resumption (see resumeFrom)
  /** Positions to re-insert into the hash chains before the first step: a bitmap, or "all". */
  private pendingHistory: Uint8Array | "all" | null = null;
  private suppressShift = false;
  private stopBit = Number.POSITIVE_INFINITY;
  private stopInput = Number.POSITIVE_INFINITY;
  private finished = false;

  constructor(level: number, sink: (bytes: Uint8Array) => void, options: GoFlateOptions = {}) {
    if (level === DEFAULT_COMPRESSION) level = 6;
    if (!Number.isInteger(level) || level < HUFFMAN_ONLY || level > 9) throw new RangeError(`flate: invalid compression level ${level}: want value in range [-2, 9]`);
    this.level = level;
    this.w = new HuffmanBitWriter(sink);
    const params = LEVELS[level < 0 ? 0 : level]!;
    this.good = params[1];
    this.lazy = params[2];
    this.nice = params[3];
    this.chain = params[4];
    this.fastSkipHashing = params[5];
    this.bestSpeed = null;
    if (level === NO_COMPRESSION || level === HUFFMAN_ONLY) {
      this.mode = level === NO_COMPRESSION ? Mode.Store : Mode.Huffman;
      this.window = new Uint8Array(MAX_STORE_BLOCK_SIZE);
      this.tokens = new Int32Array(0);
      this.hashHead = new Int32Array(0);
      this.hashPrev = new Int32Array(0);
    } else if (level === 1) {
      this.mode = Mode.Fast;
      this.window = new Uint8Array(MAX_STORE_BLOCK_SIZE);
      this.bestSpeed = new DeflateFast();
      this.tokens = new Int32Array(MAX_STORE_BLOCK_SIZE + 1);
      this.hashHead = new Int32Array(0);
      this.hashPrev = new Int32Array(0);
    } else {
      this.mode = Mode.Deflate;
      this.window = new Uint8Array(2 * WINDOW_SIZE);
      this.tokens = new Int32Array(MAX_FLATE_BLOCK_TOKENS + 1);
      this.hashHead = new Int32Array(HASH_SIZE);
      this.hashPrev = new Int32Array(WINDOW_SIZE);
    }
    this.windowView = new DataView(this.window.buffer, this.window.byteOffset, this.window.byteLength);
    this.checkpointEvery = options.checkpointEvery ?? 0;
    this.onCheckpoint = options.onCheckpoint ?? null;
    this.nextCheckpointAt = this.checkpointEvery;
    this.onWriteSizeSensitive = options.onWriteSizeSensitive ?? null;
    this.shiftEarlyAt = options.shiftEarlyAt ?? null;
    const until = options.until ?? null;
    if (until !== null) {
      if (until.level !== level) throw new RangeError("go-flate: `until` is a checkpoint of another level");
      this.stopBit = until.outputBits;
      this.stopInput = until.inputOffset;
      this.w.stopByte = Math.floor(until.outputBits / 8);
    }
  }

  /** Input bytes taken so far. */
  get inputOffset(): number {
    return this.windowBase + this.windowEnd;
  }

  /** True once a resumed segment has produced all its output (see resumeFrom); later input is ignored. */
  get done(): boolean {
    return this.finished;
  }

  /**
   * Compresses `input`; the output does not depend on how the input is cut into writes.
   *
   * Go's Write runs its step before every fill of the window; this encoder steps when the window
   * is full, which is what Go does for any write pattern that fills the window before it steps
   * (one big Write, Writes of a multiple of 32 KiB, ...). Go with other Write sizes differs in one
   * corner (levels 2-9): its step stops once fewer than 262 bytes are left to look ahead, and the
   * next fill shifts the window if the position reached is >= 65274. So if a step ends exactly at
   * window index 65274 while the window is not yet full (a short Write), Go shifts the window
   * before it processes that position, while with a full window it processes it before the shift.
   * After the shift, candidates at distances 32507..32768 are out of reach, and the block start
   * may be forgotten; if that changes the match chosen there, the output differs. Such positions
   * come about every 64 KiB, but the match changes rarely: none in 80 MB of real tars, at every
   * level; a crafted input shows it (the best match at exactly that position 32600 bytes back).
   * onWriteSizeSensitive reports these positions and shiftEarlyAt reproduces Go's other order.
   */
  write(input: Uint8Array): void {
    if (this.closed) throw new Error("flate: write after close");
    const n = input.length;
    let off = 0;
    const cap = this.window.length;
    let stalled = false;
    while (off < n && !this.finished) {
      const k = this.mode === Mode.Deflate ? this.fillDeflate(input, off) : this.fillStore(input, off);
      if (k === 0) {
        // A full window that neither the step nor the shift emptied: a bug, not a state to spin in.
        if (stalled) throw new Error("go-flate: internal error: the window does not drain");
        stalled = true;
      } else stalled = false;
      off += k;
      if (this.windowEnd === cap) this.step(false);
    }
  }

  /** Writes the final block and flushes the last partial byte. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.finished) return;
    // Go's short write that stopped the step at Lit.Landing was followed by a fill, which shifted.
    if (this.earlyShift) this.shiftWindow();
    this.step(true);
    if (this.finished) return;
    this.w.writeStoredHeader(0, true);
    this.w.flush();
  }

  private step(sync: boolean): void {
    switch (this.mode) {
      case Mode.Deflate:
        // A resumed encoder: its first step is on the window as Go had it (full, or the last),
        // before any shift; rebuild the hash chains in these window coordinates.
        if (this.pendingHistory !== null) this.rebuildHashChains();
        this.suppressShift = false;
        for (;;) {
          if (this.fastSkipHashing === SKIP_NEVER) this.deflateLazy(sync);
          else this.deflateGreedy(sync);
          // Stopped at Lit.Landing to shift first: without more input (sync), shift and go on; else
          // the next fill shifts.
          if (!this.earlyShift || !sync) break;
          this.shiftWindow();
        }
        break;
      case Mode.Fast:
        this.encSpeed(sync);
        break;
      case Mode.Store:
        this.store(sync);
        break;
      case Mode.Huffman:
        this.storeHuff(sync);
        break;
    }
  }

  private fillStore(b: Uint8Array, off: number): number {
    let n = this.window.length - this.windowEnd;
    if (n > b.length - off) n = b.length - off;
    this.window.set(n === b.length ? b : b.subarray(off, off + n), this.windowEnd);
    this.windowEnd += n;
    return n;
  }

  private fillDeflate(b: Uint8Array, off: number): number {
    if (this.index >= Lit.Landing && !this.suppressShift) this.shiftWindow();
    return this.fillStore(b, off);
  }

  private shiftWindow(): void {
    this.earlyShift = false;
    // shift the window by windowSize
    this.window.copyWithin(0, WINDOW_SIZE, 2 * WINDOW_SIZE);
    this.index -= WINDOW_SIZE;
    this.windowEnd -= WINDOW_SIZE;
    this.windowBase += WINDOW_SIZE;
    if (this.blockStart >= WINDOW_SIZE) this.blockStart -= WINDOW_SIZE;
    else this.blockStart = MAX_INT32;
    this.hashOffset += WINDOW_SIZE;
    if (this.hashOffset > MAX_HASH_OFFSET) {
      const delta = this.hashOffset - 1;
      this.hashOffset -= delta;
      this.chainHead -= delta;
      const hashPrev = this.hashPrev;
      for (let i = 0; i < hashPrev.length; i++) {
        const v = hashPrev[i]!;
        hashPrev[i] = v > delta ? v - delta : 0;
      }
      const hashHead = this.hashHead;
      for (let i = 0; i < hashHead.length; i++) {
        const v = hashHead[i]!;
        hashHead[i] = v > delta ? v - delta : 0;
      }
    }
  }

  /**
   * The step is at window index Lit.Landing (see `write`). Reports whether processing it after the
   * window shift would change the output, and returns true to stop the step there (shiftEarlyAt).
   * `nt`, `length` and `chainHead` are the step's: tokens so far, the lazy-match length carried
   * into this position (levels 4-9), and the last chain head.
   */
  private landing(nt: number, length: number, chainHead: number): boolean {
    const at = this.windowBase + Lit.Landing;
    if (this.shiftEarlyAt !== null && this.shiftEarlyAt.has(at)) {
      this.earlyShift = true;
      return true;
    }
    if (this.onWriteSizeSensitive === null) return false;
    const win = this.window;
    const index = Lit.Landing;
    const lookahead = this.windowEnd - index;
    let sensitive = false;
    // A block written in this iteration would lose its stored option after the shift.
    if (nt === MAX_FLATE_BLOCK_TOKENS - 1 && this.blockStart < WINDOW_SIZE) sensitive = true;
    if (index < this.windowEnd - (MIN_MATCH_LENGTH - 1)) {
      const h = Math.imul(win[index + 3]! | (win[index + 2]! << 8) | (win[index + 1]! << 16) | (win[index]! << 24), HASHMUL) >>> Lit.HashShift;
      chainHead = this.hashHead[h]!;
    }
    const head = chainHead - this.hashOffset;
    const searches = this.fastSkipHashing === SKIP_NEVER ? lookahead > length && length < this.lazy : lookahead > MIN_MATCH_LENGTH - 1;
    if (!sensitive && searches && head >= index - WINDOW_SIZE) {
      // Before the shift (the canonical order) and after it (no candidate below old index 32768).
      const a = this.findMatch(index, head, MIN_MATCH_LENGTH - 1, lookahead, 0);
      const aLength = this.mLength;
      const aOffset = this.mOffset;
      const b = head >= WINDOW_SIZE && this.findMatch(index, head, MIN_MATCH_LENGTH - 1, lookahead, WINDOW_SIZE);
      if (a !== b || (a && (aLength !== this.mLength || aOffset !== this.mOffset))) sensitive = true;
    }
    if (sensitive) this.onWriteSizeSensitive(at);
    return false;
  }

  /** The tokens' symbols were counted into the bit writer's literalFreq/offsetFreq as they were made; cleared here for the next block. */
  private writeBlock(nt: number, index: number): void {
    if (index > 0) {
      const input = this.blockStart <= index ? this.window.subarray(this.blockStart, index) : null;
      this.blockStart = index;
      this.w.writeBlock(this.tokens, nt, false, input, true);
    }
    this.w.literalFreq.fill(0);
    this.w.offsetFreq.fill(0);
  }

  /**
   * Try to find a match starting at pos whose length is greater than prevLength. We only look at
   * chainCount possibilities before giving up. Sets mLength and mOffset.
   */
  private findMatch(pos: number, prevHead: number, prevLength: number, lookahead: number, floor: number): boolean {
    const win = this.window;
    const dv = this.windowView;
    const hashPrev = this.hashPrev;
    // Speed: `| 0` on the fields read here makes them int32 for V8; without it the chain walk below
    // kept them (and the phis they flow into, like nice) as tagged small integers, untagging them
    // at every step.
    const hashOffset = this.hashOffset | 0;
    const minMatchLook = lookahead < Lit.MaxMatchLength ? lookahead : Lit.MaxMatchLength;

    // We quit when we get a match that's at least nice long
    const niceLength = this.nice | 0;
    const nice = niceLength < minMatchLook ? niceLength : minMatchLook;

    // If we've got a match that's good enough, only look in 1/4 the chain.
    let tries = this.chain | 0;
    let length = prevLength;
    if (length >= (this.good | 0)) tries >>= 2;

    // Go compares wEnd = win[pos+length] first. Comparing the 4 bytes that end there is a stronger
    // filter with the same outcome: a candidate can only be taken if its first length+1 bytes
    // match (length >= 3 here).
    let wEnd = dv.getInt32(pos + length - 3, true);
    const minIndex = pos - Lit.WindowSize;
    // Candidates below this end the walk: older than the window, or below `floor`.
    const lowest = floor > minIndex ? floor : minIndex;
    let offset = 0;

    for (let i = prevHead; tries > 0; tries--) {
      if (wEnd === dv.getInt32(i + length - 3, true)) {
        // matchLen(win[i:], win[pos:], minMatchLook), 4 bytes at a time
        let n = 0;
        while (n <= minMatchLook - 4 && dv.getInt32(i + n, true) === dv.getInt32(pos + n, true)) n += 4;
        while (n < minMatchLook && win[i + n] === win[pos + n]) n++;
        if (n > length && (n > Lit.MinMatchLength || pos - i <= 4096)) {
          length = n;
          offset = pos - i;
          // The match is good enough that we don't try to find a better one.
          if (n >= nice) break;
          wEnd = dv.getInt32(pos + n - 3, true);
        }
      }
      // hashPrev[i & windowMask] has already been overwritten, so stop now.
      if (i === minIndex) break;
      i = hashPrev[i & Lit.WindowMask]! - hashOffset;
      if (i < lowest) break;
    }
    this.mLength = length;
    this.mOffset = offset;
    // A match has offset >= 1.
    return offset !== 0;
  }

  /** deflate() for levels 4-9 (lazy matching; fastSkipHashing == skipNever). */
  private deflateLazy(sync: boolean): void {
    if (this.windowEnd - this.index < Lit.MinMatchLength + Lit.MaxMatchLength && !sync) return;

    const windowEnd = this.windowEnd | 0;
    const maxInsertIndex = windowEnd - (Lit.MinMatchLength - 1);
    const win = this.window;
    const hashHead = this.hashHead;
    const hashPrev = this.hashPrev;
    const tokens = this.tokens;
    const litFreq = this.w.literalFreq;
    const offFreq = this.w.offsetFreq;
    // Speed: the tables as locals, loaded once (see Lit in tables.ts).
    const lengthCodes = LENGTH_CODES;
    const offsetCodes = OFFSET_CODES;
    // Speed: `| 0` keeps the fields (and the loop phis they flow into) int32 in V8 (see findMatch).
    const hashOffset = this.hashOffset | 0;
    const lazy = this.lazy | 0;
    let index = this.index | 0;
    let length = this.length | 0;
    let offset = this.offset | 0;
    let byteAvailable = this.byteAvailable;
    let nt = this.ntokens | 0;
    let chainHead = this.chainHead | 0;
    // The 4 bytes at index-1, big-endian: every position is hashed in order (hash4 of Go), so the
    // hash input rolls one byte at a time (reloaded after a skipped long match).
    let hb = ((win[index - 1] ?? 0) << 24) | (win[index]! << 16) | (win[index + 1]! << 8) | win[index + 2]!;

    for (;;) {
      if (index === Lit.Landing && this.landing(nt, length, chainHead)) break;
      const lookahead = windowEnd - index;
      if (lookahead < Lit.MinMatchLength + Lit.MaxMatchLength) {
        if (!sync) break;
        if (lookahead === 0) {
          // Flush current output block if any.
          if (byteAvailable) {
            // There is still one pending token that needs to be flushed
            tokens[nt++] = win[index - 1]!;
            litFreq[win[index - 1]!]!++;
            byteAvailable = false;
          }
          if (nt > 0) {
            this.writeBlock(nt, index);
            nt = 0;
          }
          break;
        }
      }
      if (index < maxInsertIndex) {
        // Update the hash
        hb = (hb << 8) | win[index + 3]!;
        const h = Math.imul(hb, Lit.HashMul) >>> Lit.HashShift;
        chainHead = hashHead[h]!;
        hashPrev[index & Lit.WindowMask] = chainHead;
        hashHead[h] = index + hashOffset;
      }
      const prevLength = length;
      const prevOffset = offset;
      length = Lit.MinMatchLength - 1;
      offset = 0;
      const minIndex = index > Lit.WindowSize ? index - Lit.WindowSize : 0;

      if (chainHead - hashOffset >= minIndex && lookahead > prevLength && prevLength < lazy) {
        if (this.findMatch(index, chainHead - hashOffset, Lit.MinMatchLength - 1, lookahead, 0)) {
          length = this.mLength | 0;
          offset = this.mOffset | 0;
        }
      }
      if (prevLength >= Lit.MinMatchLength && length <= prevLength) {
        // There was a match at the previous step, and the current match is not better. Output
        // the previous match.
        tokens[nt++] = Lit.MatchType + ((prevLength - Lit.BaseMatchLength) << Lit.LengthShift) + (prevOffset - Lit.BaseMatchOffset);
        litFreq[Lit.LengthCodesStart + lengthCodes[prevLength - Lit.BaseMatchLength]!]!++;
        offFreq[offsetCodes[prevOffset - Lit.BaseMatchOffset]!]!++;
        // Insert in the hash table all strings up to the end of the match. index and index-1 are
        // already inserted. If there is not enough lookahead, the last two strings are not
        // inserted into the hash table.
        const newIndex = index + prevLength - 1;
        const insertEnd = newIndex < maxInsertIndex ? newIndex : maxInsertIndex;
        for (index++; index < insertEnd; index++) {
          hb = (hb << 8) | win[index + 3]!;
          const h = Math.imul(hb, Lit.HashMul) >>> Lit.HashShift;
          // Get previous value with the same hash. Our chain should point to the previous value.
          hashPrev[index & Lit.WindowMask] = hashHead[h]!;
          // Set the head of the hash chain to us.
          hashHead[h] = index + hashOffset;
        }
        index = newIndex;
        byteAvailable = false;
        length = Lit.MinMatchLength - 1;
        if (nt === Lit.MaxFlateBlockTokens) {
          // The block includes the current character
          this.writeBlock(nt, index);
          nt = 0;
          this.index = index;
          this.length = length;
          this.offset = offset;
          this.byteAvailable = byteAvailable;
          this.ntokens = 0;
          this.chainHead = chainHead;
          this.afterBlock(sync);
          if (this.finished) return;
        }
      } else {
        let wrote = false;
        if (byteAvailable) {
          const i = index - 1;
          const b = win[i]!;
          tokens[nt++] = b;
          litFreq[b]!++;
          if (nt === Lit.MaxFlateBlockTokens) {
            this.writeBlock(nt, i + 1);
            nt = 0;
            wrote = true;
          }
        }
        index++;
        byteAvailable = true;
        if (wrote) {
          this.index = index;
          this.length = length;
          this.offset = offset;
          this.byteAvailable = byteAvailable;
          this.ntokens = 0;
          this.chainHead = chainHead;
          this.afterBlock(sync);
          if (this.finished) return;
        }
      }
    }
    this.index = index;
    this.length = length;
    this.offset = offset;
    this.byteAvailable = byteAvailable;
    this.ntokens = nt;
    this.chainHead = chainHead;
  }

  /** deflate() for levels 2-3 (no lazy matching; long matches are not inserted into the hash chains). */
  private deflateGreedy(sync: boolean): void {
    if (this.windowEnd - this.index < Lit.MinMatchLength + Lit.MaxMatchLength && !sync) return;

    const windowEnd = this.windowEnd | 0;
    const maxInsertIndex = windowEnd - (Lit.MinMatchLength - 1);
    const win = this.window;
    const hashHead = this.hashHead;
    const hashPrev = this.hashPrev;
    const tokens = this.tokens;
    const litFreq = this.w.literalFreq;
    const offFreq = this.w.offsetFreq;
    // Speed: the tables as locals, loaded once (see Lit in tables.ts).
    const lengthCodes = LENGTH_CODES;
    const offsetCodes = OFFSET_CODES;
    // Speed: `| 0` keeps the fields (and the loop phis they flow into) int32 in V8 (see findMatch).
    const hashOffset = this.hashOffset | 0;
    const fastSkipHashing = this.fastSkipHashing | 0;
    let index = this.index | 0;
    let length = this.length | 0;
    let offset = this.offset | 0;
    let nt = this.ntokens | 0;
    let chainHead = this.chainHead | 0;
    // The 4 bytes at index-1, big-endian: every position is hashed in order (hash4 of Go), so the
    // hash input rolls one byte at a time (reloaded after a skipped long match).
    let hb = ((win[index - 1] ?? 0) << 24) | (win[index]! << 16) | (win[index + 1]! << 8) | win[index + 2]!;

    for (;;) {
      if (index === Lit.Landing && this.landing(nt, length, chainHead)) break;
      const lookahead = windowEnd - index;
      if (lookahead < Lit.MinMatchLength + Lit.MaxMatchLength) {
        if (!sync) break;
        if (lookahead === 0) {
          if (nt > 0) {
            this.writeBlock(nt, index);
            nt = 0;
          }
          break;
        }
      }
      if (index < maxInsertIndex) {
        hb = (hb << 8) | win[index + 3]!;
        const h = Math.imul(hb, Lit.HashMul) >>> Lit.HashShift;
        chainHead = hashHead[h]!;
        hashPrev[index & Lit.WindowMask] = chainHead;
        hashHead[h] = index + hashOffset;
      }
      length = Lit.MinMatchLength - 1;
      offset = 0;
      const minIndex = index > Lit.WindowSize ? index - Lit.WindowSize : 0;

      if (chainHead - hashOffset >= minIndex && lookahead > Lit.MinMatchLength - 1) {
        if (this.findMatch(index, chainHead - hashOffset, Lit.MinMatchLength - 1, lookahead, 0)) {
          length = this.mLength | 0;
          offset = this.mOffset | 0;
        }
      }
      let wrote = false;
      if (length >= Lit.MinMatchLength) {
        tokens[nt++] = Lit.MatchType + ((length - Lit.BaseMatchLength) << Lit.LengthShift) + (offset - Lit.BaseMatchOffset);
        litFreq[Lit.LengthCodesStart + lengthCodes[length - Lit.BaseMatchLength]!]!++;
        offFreq[offsetCodes[offset - Lit.BaseMatchOffset]!]!++;
        if (length <= fastSkipHashing) {
          const newIndex = index + length;
          for (index++; index < newIndex; index++) {
            if (index < maxInsertIndex) {
              hb = (hb << 8) | win[index + 3]!;
              const h = Math.imul(hb, Lit.HashMul) >>> Lit.HashShift;
              hashPrev[index & Lit.WindowMask] = hashHead[h]!;
              hashHead[h] = index + hashOffset;
            }
          }
        } else {
          // For matches this long, we don't bother inserting each individual item into the table.
          index += length;
          hb = (win[index - 1]! << 24) | (win[index]! << 16) | (win[index + 1]! << 8) | win[index + 2]!;
        }
        if (nt === Lit.MaxFlateBlockTokens) {
          // The block includes the current character
          this.writeBlock(nt, index);
          nt = 0;
          wrote = true;
        }
      } else {
        const b = win[index]!;
        tokens[nt++] = b;
        litFreq[b]!++;
        if (nt === Lit.MaxFlateBlockTokens) {
          this.writeBlock(nt, index + 1);
          nt = 0;
          wrote = true;
        }
        index++;
      }
      if (wrote) {
        this.index = index;
        this.length = length;
        this.offset = offset;
        this.ntokens = 0;
        this.chainHead = chainHead;
        this.afterBlock(sync);
        if (this.finished) return;
      }
    }
    this.index = index;
    this.length = length;
    this.offset = offset;
    this.ntokens = nt;
    this.chainHead = chainHead;
  }

  private writeStoredBlock(buf: Uint8Array): void {
    this.w.writeStoredHeader(buf.length, false);
    this.w.writeBytes(buf);
  }

  /** encSpeed will compress and store the currently added data, if enough has been accumulated or we are at the end of the stream. */
  private encSpeed(sync: boolean): void {
    const bestSpeed = this.bestSpeed!;
    const windowEnd = this.windowEnd;
    // We only compress if we have maxStoreBlockSize.
    if (windowEnd < MAX_STORE_BLOCK_SIZE) {
      if (!sync) return;
      // Handle small sizes.
      if (windowEnd < 128) {
        if (windowEnd === 0) return;
        if (windowEnd <= 16) this.writeStoredBlock(this.window.subarray(0, windowEnd));
        else this.w.writeBlockHuff(false, this.window.subarray(0, windowEnd));
        this.windowBase += windowEnd;
        this.windowEnd = 0;
        bestSpeed.reset();
        this.afterBlock(sync);
        return;
      }
    }
    // Encode the block.
    const nt = bestSpeed.encode(this.tokens, this.window, windowEnd, this.w.literalFreq, this.w.offsetFreq);
    // If we removed less than 1/16th, Huffman compress the block.
    if (nt > windowEnd - (windowEnd >> 4)) this.w.writeBlockHuff(false, this.window.subarray(0, windowEnd));
    else this.w.writeBlockDynamic(this.tokens, nt, false, this.window.subarray(0, windowEnd), true);
    this.windowBase += windowEnd;
    this.windowEnd = 0;
    this.afterBlock(sync);
  }

  private store(sync: boolean): void {
    if (this.windowEnd > 0 && (this.windowEnd === MAX_STORE_BLOCK_SIZE || sync)) {
      this.writeStoredBlock(this.window.subarray(0, this.windowEnd));
      this.windowBase += this.windowEnd;
      this.windowEnd = 0;
      this.afterBlock(sync);
    }
  }

  /** storeHuff compresses and stores the currently added data when the window is full or we are at the end of the stream. */
  private storeHuff(sync: boolean): void {
    if ((this.windowEnd < this.window.length && !sync) || this.windowEnd === 0) return;
    this.w.writeBlockHuff(false, this.window.subarray(0, this.windowEnd));
    this.windowBase += this.windowEnd;
    this.windowEnd = 0;
    this.afterBlock(sync);
  }

  // ---- checkpoints -------------------------------------------------------------------------

  /** Input offset of the block boundary just written. */
  private boundaryOffset(): number {
    return this.mode === Mode.Deflate ? this.windowBase + this.blockStart : this.windowBase;
  }

  /** Called right after a block was written, with the encoder state at a loop-iteration boundary. */
  private afterBlock(sync: boolean): void {
    const bits = this.w.bitsWritten();
    if (bits >= this.stopBit) {
      if (bits !== this.stopBit || this.boundaryOffset() !== this.stopInput) {
        throw new Error(`go-flate: resumed segment overran its end (bit ${bits} at input ${this.boundaryOffset()}, expected bit ${this.stopBit} at input ${this.stopInput})`);
      }
      this.finished = true;
      // Everything before the end's partial byte (which the next segment starts with) is final.
      this.w.flush();
      return;
    }
    if (sync || this.checkpointEvery <= 0 || this.onCheckpoint === null) return;
    const at = this.boundaryOffset();
    if (at < this.nextCheckpointAt) return;
    this.nextCheckpointAt = at + this.checkpointEvery;
    this.onCheckpoint(this.checkpoint());
  }

  /** The encoder state at the block boundary just written (see checkpoint.ts). */
  private checkpoint(): GoFlateCheckpoint {
    const cp: GoFlateCheckpoint = {
      level: this.level,
      inputOffset: this.boundaryOffset(),
      outputBits: this.w.bitsWritten(),
      pendingBits: this.w.pendingBits(),
      windowStart: 0,
      index: 0,
      hashOffset: 0,
      byteAvailable: false,
      length: 0,
      offset: 0,
      cur: 0,
      history: null,
    };
    if (this.mode === Mode.Deflate) {
      cp.windowStart = this.blockStart;
      cp.index = this.index;
      cp.hashOffset = this.hashOffset;
      cp.byteAvailable = this.byteAvailable;
      cp.length = this.length;
      cp.offset = this.offset;
      cp.history = this.insertedPositions();
    } else if (this.mode === Mode.Fast) {
      cp.cur = this.bestSpeed!.cur;
      cp.history = this.liveTableEntries();
    }
    return cp;
  }

  /**
   * Which of the positions index-32768 .. index-1 are in the hash chains: bit (q - (index - 32768)).
   * A position q was inserted iff hashHead or hashPrev refers to it: hashHead holds the last
   * inserted position of each hash, and the next inserted position r with the same hash (r < index)
   * has hashPrev[r & windowMask] = q, a slot no later position has overwritten (that would be
   * >= r + 32768 >= index). Slots of positions that were not inserted hold positions older than
   * index - 32768. Levels 4-9 insert every position (the bitmap is then all ones and not stored);
   * levels 2-3 skip the inside of matches longer than fastSkipHashing.
   */
  private insertedPositions(): Uint8Array | null {
    const bits = new Uint8Array(HISTORY_BITS / 8);
    const lo = this.index - WINDOW_SIZE + this.hashOffset; // as stored values
    const hi = this.index + this.hashOffset;
    const floor = this.hashOffset; // position 0
    const mark = (v: number): void => {
      if (v >= lo && v < hi && v >= floor) {
        const b = v - lo;
        bits[b >> 3]! |= 1 << (b & 7);
      }
    };
    const hashHead = this.hashHead;
    for (let i = 0; i < hashHead.length; i++) mark(hashHead[i]!);
    const hashPrev = this.hashPrev;
    for (let i = 0; i < hashPrev.length; i++) mark(hashPrev[i]!);
    // Every position >= 0 inserted: no need to store the bitmap.
    const first = Math.max(0, WINDOW_SIZE - this.index);
    for (let b = first; b < HISTORY_BITS; b++) {
      if ((bits[b >> 3]! & (1 << (b & 7))) === 0) return bits;
    }
    return null;
  }

  /**
   * Level 1: which table entries can still match, as bit (offset - cur + 32768) for the entries
   * with cur - 32768 <= offset < cur (a lookup at s >= 0 of the next block only accepts
   * s - (offset - cur) <= maxMatchOffset). Each entry holds the 4 bytes at its own position and
   * sits in the bucket of their hash, so the positions alone rebuild it.
   */
  private liveTableEntries(): Uint8Array {
    const bits = new Uint8Array(HISTORY_BITS / 8);
    const bs = this.bestSpeed!;
    const tableOffset = bs.tableOffset;
    const cur = bs.cur;
    for (let i = 0; i < tableOffset.length; i++) {
      const rel = tableOffset[i]! - cur;
      if (rel >= -WINDOW_SIZE && rel < 0) {
        const b = rel + WINDOW_SIZE;
        bits[b >> 3]! |= 1 << (b & 7);
      }
    }
    return bits;
  }

  private rebuildHashChains(): void {
    const history = this.pendingHistory;
    this.pendingHistory = null;
    const win = this.window;
    const hashHead = this.hashHead;
    const hashPrev = this.hashPrev;
    const hashOffset = this.hashOffset;
    const base = this.index - WINDOW_SIZE;
    for (let q = base < 0 ? 0 : base; q < this.index; q++) {
      if (history !== "all") {
        const b = q - base;
        if ((history![b >> 3]! & (1 << (b & 7))) === 0) continue;
      }
      const h = Math.imul(win[q + 3]! | (win[q + 2]! << 8) | (win[q + 1]! << 16) | (win[q]! << 24), HASHMUL) >>> Lit.HashShift;
      hashPrev[q & WINDOW_MASK] = hashHead[h]!;
      hashHead[h] = q + hashOffset;
    }
  }

  /**
   * An encoder that continues a stream from `checkpoint` (made by an encoder of the same level
   * with `checkpointEvery`). `preceding` is the input just before checkpoint.inputOffset, at least
   * min(32768, checkpoint.inputOffset) bytes of it (more is ignored). Write it the input from
   * checkpoint.inputOffset on. Its output starts at byte floor(checkpoint.outputBits / 8) of the
   * stream, the partial byte included (it carries the checkpoint's pending bits).
   *
   * `options` as for the constructor (shiftEarlyAt must be the sequential encoder's). With
   * options.until (a later checkpoint of the same stream), it stops at that checkpoint's block
   * boundary: it emits the bytes before byte floor(until.outputBits / 8) (the partial byte is the
   * next segment's first) and `done` turns true; it needs the input up to about 33 KiB past
   * until.inputOffset (at most 64 KiB; input written after `done` is ignored). Without `until`,
   * write the rest of the input and close it. Segments spliced in order equal the sequential output.
   */
  static resumeFrom(checkpoint: GoFlateCheckpoint, preceding: Uint8Array, sink: (bytes: Uint8Array) => void, options: GoFlateOptions = {}): GoFlateEncoder {
    const cp = checkpoint;
    const until = options.until ?? null;
    if (until !== null && (until.inputOffset <= cp.inputOffset || until.outputBits <= cp.outputBits)) throw new RangeError("go-flate: `until` is not a later checkpoint of the same stream");
    const e = new GoFlateEncoder(cp.level, sink, options);
    const need = Math.min(WINDOW_SIZE, cp.inputOffset);
    if (preceding.length < need) throw new RangeError(`go-flate: resuming at ${cp.inputOffset} needs the ${need} preceding bytes, got ${preceding.length}`);
    e.w.resumeAt(cp.outputBits, cp.pendingBits);
    const tail = preceding.subarray(preceding.length - need);
    switch (e.mode) {
      case Mode.Deflate: {
        e.windowBase = cp.inputOffset - cp.windowStart;
        if (e.windowBase < 0 || e.windowBase % WINDOW_SIZE !== 0 || cp.windowStart > 2 * WINDOW_SIZE || cp.index < cp.windowStart) throw new RangeError("go-flate: bad checkpoint");
        const k = Math.min(need, cp.windowStart);
        e.window.set(tail.subarray(tail.length - k), cp.windowStart - k);
        e.windowEnd = cp.windowStart;
        e.blockStart = cp.windowStart;
        e.index = cp.index;
        e.hashOffset = cp.hashOffset;
        e.byteAvailable = cp.byteAvailable;
        e.length = cp.length;
        e.offset = cp.offset;
        e.pendingHistory = cp.history ?? "all";
        // Go took this checkpoint in a step on a full window, and fills it before the next
        // shift: fill up to the end of the window first, as it had.
        e.suppressShift = true;
        break;
      }
      case Mode.Fast: {
        const bs = e.bestSpeed!;
        e.windowBase = cp.inputOffset;
        bs.cur = cp.cur;
        if (cp.inputOffset % MAX_STORE_BLOCK_SIZE !== 0 || cp.history === null) throw new RangeError("go-flate: bad checkpoint");
        // The previous block (always a full one at a checkpoint); only its last 32 KiB are read.
        bs.prev.set(tail, MAX_STORE_BLOCK_SIZE - tail.length);
        bs.prevLen = MAX_STORE_BLOCK_SIZE;
        const prev = bs.prev;
        const history = cp.history;
        for (let b = 0; b < HISTORY_BITS; b++) {
          if ((history[b >> 3]! & (1 << (b & 7))) === 0) continue;
          const rel = b - WINDOW_SIZE;
          const p = MAX_STORE_BLOCK_SIZE + rel;
          const v = prev[p]! | (prev[p + 1]! << 8) | (prev[p + 2]! << 16) | (prev[p + 3]! << 24);
          const h = Math.imul(v, HASHMUL) >>> (32 - 14);
          bs.tableVal[h] = v;
          bs.tableOffset[h] = cp.cur + rel;
        }
        break;
      }
      default:
        e.windowBase = cp.inputOffset;
    }
    e.nextCheckpointAt = e.checkpointEvery > 0 ? cp.inputOffset + e.checkpointEvery : Number.POSITIVE_INFINITY;
    return e;
  }
}
