// Port of Go's compress/flate deflatefast.go (Go 1.8-1.26; level 1, BestSpeed). Copyright The Go
// Authors; BSD-style licence (see Go's LICENSE file).
//
// This encoding algorithm, which prioritizes speed over output size, is based on Snappy's
// LZ77-style encoder: github.com/golang/snappy
//
// Go's table of tableEntry{val uint32, offset int32} is two Int32Arrays here (val as its int32 bit
// pattern, compared as such).
//
// Speed: encode reads Go's load32 as one little-endian DataView.getInt32 (the same int32 as the four
// bytes or-ed together), and its constants as literals (see Lit in tables.ts). Measured about 12-15%
// faster at level 1.

import {
  BUFFER_RESET,
  LENGTH_CODES,
  Lit,
  MAX_MATCH_OFFSET,
  MAX_STORE_BLOCK_SIZE,
  MIN_NON_LITERAL_BLOCK_SIZE,
  OFFSET_CODES,
  TABLE_SIZE,
} from "./tables.js";

/** deflateFast maintains the table for matches, and the previous byte block for cross block matching. */
export class DeflateFast {
  readonly tableVal = new Int32Array(TABLE_SIZE);
  readonly tableOffset = new Int32Array(TABLE_SIZE);
  /** Previous block, prev[0:prevLen]; zero length if unknown. */
  readonly prev = new Uint8Array(MAX_STORE_BLOCK_SIZE);
  prevLen = 0;
  /** Current match offset. */
  cur = MAX_STORE_BLOCK_SIZE;

  /** A DataView of the `src` passed to encode (always the same buffer, the compressor's window). */
  private view: DataView = new DataView(new ArrayBuffer(0));

  /**
   * encode encodes a block given in src[0:srcLen] and writes tokens to dst; returns the token
   * count. It also counts the tokens' symbols into litFreq (literals and length codes) and
   * offFreq (offset codes), cleared first, as the bit writer's indexTokens would.
   */
  encode(dst: Int32Array, src: Uint8Array, srcLen: number, litFreq: Int32Array, offFreq: Int32Array): number {
    litFreq.fill(0);
    offFreq.fill(0);
    if (this.view.buffer !== src.buffer || this.view.byteOffset !== src.byteOffset) this.view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    // Ensure that e.cur doesn't wrap.
    if (this.cur >= BUFFER_RESET) this.shiftOffsets();

    let nt = 0;
    // This check isn't in the Snappy implementation, but there, the caller instead of the callee
    // handles this case.
    if (srcLen < MIN_NON_LITERAL_BLOCK_SIZE) {
      this.cur += MAX_STORE_BLOCK_SIZE;
      this.prevLen = 0;
      for (let i = 0; i < srcLen; i++) {
        const b = src[i]!;
        dst[nt++] = b;
        litFreq[b]!++;
      }
      return nt;
    }

    const tableVal = this.tableVal;
    const tableOffset = this.tableOffset;
    const cur = this.cur;
    const dv = this.view;
    // Speed: the tables as locals, loaded once (see Lit in tables.ts).
    const lengthCodes = LENGTH_CODES;
    const offsetCodes = OFFSET_CODES;

    // sLimit is when to stop looking for offset/length copies. The inputMargin lets us use a fast
    // path for emitLiteral in the main loop, while we are looking for copies.
    const sLimit = srcLen - Lit.FastInputMargin;

    // nextEmit is where in src the next emitLiteral should start from.
    let nextEmit = 0;
    let s = 0;
    let cv = dv.getInt32(0, true);
    let nextHash = Math.imul(cv, Lit.HashMul) >>> Lit.FastTableShift;

    outer: for (;;) {
      // Copied from the C++ snappy implementation:
      //
      // Heuristic match skipping: If 32 bytes are scanned with no matches found, start looking
      // only at every other byte. If 32 more bytes are scanned (or skipped), look at every third
      // byte, etc.. When a match is found, immediately go back to looking at every byte. This is
      // a small loss (~5% performance, ~0.1% density) for compressible data due to more
      // bookkeeping, but for non-compressible data (such as JPEG) it's a huge win since the
      // compressor quickly "realizes" the data is incompressible and doesn't bother looking for
      // matches everywhere.
      //
      // The "skip" variable keeps track of how many bytes there are since the last match;
      // dividing it by 32 (ie. right-shifting by five) gives the number of bytes to move ahead
      // for each iteration.
      let skip = 32;

      let nextS = s;
      let candOffset = 0;
      for (;;) {
        s = nextS;
        const bytesBetweenHashLookups = skip >> 5;
        nextS = s + bytesBetweenHashLookups;
        skip += bytesBetweenHashLookups;
        if (nextS > sLimit) break outer; // goto emitRemainder
        candOffset = tableOffset[nextHash]!;
        const candVal = tableVal[nextHash]!;
        const now = dv.getInt32(nextS, true);
        tableOffset[nextHash] = s + cur;
        tableVal[nextHash] = cv;
        nextHash = Math.imul(now, Lit.HashMul) >>> Lit.FastTableShift;

        const offset = s - (candOffset - cur);
        if (offset > Lit.MaxMatchOffset || cv !== candVal) {
          // Out of range or not matched.
          cv = now;
          continue;
        }
        break;
      }

      // A 4-byte match has been found. We'll later see if more than 4 bytes match. But, prior to
      // the match, src[nextEmit:s] are unmatched. Emit them as literal bytes.
      while (nextEmit < s) {
        const b = src[nextEmit++]!;
        dst[nt++] = b;
        litFreq[b]!++;
      }

      // Call emitCopy, and then see if another emitCopy could be our next move. Repeat until we
      // find no match for the input immediately after what was consumed by the last emitCopy
      // call.
      //
      // If we exit this loop normally then we need to call emitLiteral next, though we don't yet
      // know how big the literal will be. We handle that by proceeding to the next iteration of
      // the main loop. We also can exit this loop via goto if we get close to exhausting the
      // input.
      for (;;) {
        // Invariant: we have a 4-byte match at s, and no need to emit any literal bytes prior to s.

        // Extend the 4-byte match as long as possible.
        s += 4;
        const t = candOffset - cur + 4;
        const l = this.matchLen(s, t, src, srcLen);

        // matchToken is flate's equivalent of Snappy's emitCopy. (length,offset)
        dst[nt++] = Lit.MatchType + ((l + 4 - Lit.BaseMatchLength) << Lit.LengthShift) + (s - t - Lit.BaseMatchOffset);
        litFreq[Lit.LengthCodesStart + lengthCodes[l + 4 - Lit.BaseMatchLength]!]!++;
        offFreq[offsetCodes[s - t - Lit.BaseMatchOffset]!]!++;
        s += l;
        nextEmit = s;
        if (s >= sLimit) break outer; // goto emitRemainder

        // We could immediately start working at s now, but to improve compression we first
        // update the hash table at s-1 and at s. If another emitCopy is not our next move, also
        // calculate nextHash at s+1.
        const x0 = dv.getInt32(s - 1, true);
        const prevHash = Math.imul(x0, Lit.HashMul) >>> Lit.FastTableShift;
        tableOffset[prevHash] = cur + s - 1;
        tableVal[prevHash] = x0;
        const x1 = dv.getInt32(s, true);
        const currHash = Math.imul(x1, Lit.HashMul) >>> Lit.FastTableShift;
        candOffset = tableOffset[currHash]!;
        const candVal = tableVal[currHash]!;
        tableOffset[currHash] = cur + s;
        tableVal[currHash] = x1;

        const offset = s - (candOffset - cur);
        if (offset > Lit.MaxMatchOffset || x1 !== candVal) {
          cv = dv.getInt32(s + 1, true);
          nextHash = Math.imul(cv, Lit.HashMul) >>> Lit.FastTableShift;
          s++;
          break;
        }
      }
    }

    // emitRemainder:
    while (nextEmit < srcLen) {
      const b = src[nextEmit++]!;
      dst[nt++] = b;
      litFreq[b]!++;
    }
    this.cur = cur + srcLen;
    this.prev.set(src.subarray(0, srcLen));
    this.prevLen = srcLen;
    return nt;
  }

  /**
   * matchLen returns the match length between src[s:] and src[t:]. t can be negative to indicate
   * the match is starting in e.prev. We assume that src[s-4:s] and src[t-4:t] already match.
   */
  private matchLen(s: number, t: number, src: Uint8Array, srcLen: number): number {
    let s1 = s + Lit.MaxMatchLength - 4;
    if (s1 > srcLen) s1 = srcLen;

    // If we are inside the current block
    if (t >= 0) {
      const max = s1 - s;
      let i = 0;
      // Extend the match to be as long as possible (4 bytes at a time, then bytes). Speed: at the
      // first unequal word, its lowest differing byte is the match's end (no byte-by-byte walk).
      const dv = this.view;
      while (i <= max - 4) {
        const x = dv.getInt32(t + i, true) ^ dv.getInt32(s + i, true);
        if (x !== 0) return i + ((31 - Math.clz32(x & -x)) >>> 3);
        i += 4;
      }
      while (i < max && src[t + i] === src[s + i]) i++;
      return i;
    }

    // We found a match in the previous block.
    const tp = this.prevLen + t;
    if (tp < 0) return 0;

    // Extend the match to be as long as possible.
    const prev = this.prev;
    let m = this.prevLen - tp;
    if (m > s1 - s) m = s1 - s;
    for (let i = 0; i < m; i++) {
      if (src[s + i] !== prev[tp + i]) return i;
    }

    // If we reached our limit, we matched everything we are allowed to in the previous block and
    // we return.
    const n = m;
    if (s + n === s1) return n;

    // Continue looking for more matches in the current block.
    const max = s1 - (s + n);
    let i = 0;
    while (i < max && src[s + n + i] === src[i]) i++;
    return i + n;
  }

  /** Reset resets the encoding history. This ensures that no matches are made to the previous block. */
  reset(): void {
    this.prevLen = 0;
    // Bump the offset, so all matches will fail distance check. Nothing should be >= e.cur in the table.
    this.cur += MAX_MATCH_OFFSET;
    // Protect against e.cur wraparound.
    if (this.cur >= BUFFER_RESET) this.shiftOffsets();
  }

  /**
   * shiftOffsets will shift down all match offset. This is only called in rare situations to
   * prevent integer overflow. See https://golang.org/issue/18636 and
   * https://github.com/golang/go/issues/34121.
   */
  shiftOffsets(): void {
    if (this.prevLen === 0) {
      // We have no history; just clear the table.
      this.tableVal.fill(0);
      this.tableOffset.fill(0);
      this.cur = MAX_MATCH_OFFSET + 1;
      return;
    }
    // Shift down everything in the table that isn't already too far away.
    const tableOffset = this.tableOffset;
    const cur = this.cur;
    for (let i = 0; i < TABLE_SIZE; i++) {
      let v = tableOffset[i]! - cur + MAX_MATCH_OFFSET + 1;
      // We want to reset e.cur to maxMatchOffset + 1, so we need to shift all table entries down
      // by (e.cur - (maxMatchOffset + 1)). Because we ignore matches > maxMatchOffset, we can cap
      // any negative offsets at 0.
      if (v < 0) v = 0;
      tableOffset[i] = v;
    }
    this.cur = MAX_MATCH_OFFSET + 1;
  }
}
