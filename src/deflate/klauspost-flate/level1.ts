// Port of github.com/klauspost/compress v1.15.12 flate/level1.go and level2.go. Copyright The Go Authors
// and Klaus Post; BSD-style licence (see the LICENSE file of github.com/klauspost/compress).

//
// Speed (level 1): hash5 (fast-encoder.ts), matchLen and addMatchLong (token.ts) are written out inline
// in FastEncL1.encode, with the constants as literals (see K); hash5's carry is worked out in int32
// arithmetic rather than through a double product (the same value; checked at load).

import { FastGen, hash5, matchLen } from "./fast-encoder.js";
import { addMatchLong, type Tokens } from "./token.js";
import { B_TABLE_BITS, B_TABLE_SIZE, LENGTH_SHIFT, lengthCodes1, MATCH_TYPE, MAX_MATCH_OFFSET, offsetCode, TABLE_BITS, TABLE_SIZE } from "./tables.js";

const INPUT_MARGIN = 12 - 1;
const MIN_NON_LITERAL_BLOCK_SIZE = 1 + 1 + INPUT_MARGIN;

/**
 * Speed: the constants of level 1's hot loop as literals. V8's optimized code reads an imported binding
 * or a module-level const from its cell, with a hole (TDZ) check, at every use; tsc writes const enum
 * members in as numbers (as in level5.ts; checked against the originals below).
 */
const enum K {
  InputMargin = 12 - 1,
  MinNonLiteralBlockSize = 1 + 1 + InputMargin,
  /** hashLen(u, tableBits, 5): 32 - 15. */
  Shift5 = 32 - 15,
  /** prime5bytes = 0xcf_1bbcdcbb, low and high 32 bits. */
  P5Lo = 0x1bbcdcbb,
  P5Hi = 0xcf,
  /**
   * mulhi(lo << 24, P5Lo) = ((lo & 0xff) * P5Lo) >> 8, split so that it stays in int32 arithmetic:
   * (lo & 0xff) * (P5Lo >> 8) + (((lo & 0xff) * (P5Lo & 0xff)) >> 8).
   */
  P5LoHigh24 = 0x1bbcdc,
  P5LoLow8 = 0xbb,
  MaxMatchOffset = 1 << 15,
  MatchType = 1 << 30,
  LengthShift = 22,
}
{
  // hash5 of fast-encoder.ts keeps its primes to itself: compare the inlined expression on words with
  // every low byte (the carry term depends on it alone).
  let sameHash5 = true;
  for (let b = 0; b < 256; b++) {
    const lo = (Math.imul(b, 0x01010101) ^ 0x5a3c9600) | b;
    const hi = Math.imul(b + 1, 0x9e3779b1);
    const inlined = (((Math.imul((hi << 24) | (lo >>> 8), K.P5Lo) + Math.imul(lo << 24, K.P5Hi)) | 0) + (Math.imul(lo & 0xff, K.P5LoHigh24) + (((lo & 0xff) * K.P5LoLow8) >>> 8))) >>> K.Shift5;
    if (inlined !== hash5(lo, hi, K.Shift5)) sameHash5 = false;
  }
  if (
    !sameHash5 ||
    K.P5LoHigh24 !== K.P5Lo >>> 8 ||
    K.P5LoLow8 !== (K.P5Lo & 0xff) ||
    K.InputMargin !== INPUT_MARGIN ||
    K.MinNonLiteralBlockSize !== MIN_NON_LITERAL_BLOCK_SIZE ||
    K.Shift5 !== 32 - TABLE_BITS ||
    K.MaxMatchOffset !== MAX_MATCH_OFFSET ||
    K.MatchType !== MATCH_TYPE ||
    K.LengthShift !== LENGTH_SHIFT
  ) {
    throw new Error("klauspost-flate: level1.ts's constants K are out of step with tables.ts and fast-encoder.ts");
  }
}

/** Level 1: one 5-byte hash table (2^15 entries), skipping ahead faster on misses. */
export class FastEncL1 extends FastGen {
  readonly table = new Int32Array(TABLE_SIZE);

  encode(dst: Tokens, src: Uint8Array): void {
    this.rebase([this.table], [], false);
    let s = this.addBlock(src);
    if (src.length < K.MinNonLiteralBlockSize) {
      dst.n = src.length;
      return;
    }
    const hist = this.hist;
    const dv = this.dv;
    const cur = this.cur;
    const table = this.table;
    const histLen = this.histLen;
    const toks = dst.tokens;
    const lhist = dst.hist;
    const offHist = dst.offHist;
    // Speed: the tables as locals, loaded once (see K).
    const lengthCodes = lengthCodes1;
    const offsetCodeOf = offsetCode;
    let n = dst.n;

    let nextEmit = s;
    const sLimit = histLen - K.InputMargin;
    let cvLo = dv.getInt32(s, true);
    let cvHi = dv.getInt32(s + 4, true);

    search: for (;;) {
      // skipLog = 5, doEvery = 2
      let nextS = s;
      let candidate = 0;
      for (;;) {
        let nextHash = ((((Math.imul((cvHi << 24) | (cvLo >>> 8), K.P5Lo) + Math.imul(cvLo << 24, K.P5Hi)) | 0) + (Math.imul(cvLo & 0xff, K.P5LoHigh24) + (((cvLo & 0xff) * K.P5LoLow8) >>> 8))) >>> K.Shift5);
        candidate = table[nextHash]!;
        nextS = s + 2 + ((s - nextEmit) >> 5);
        if (nextS > sLimit) break search;

        let nowLo = dv.getInt32(nextS, true);
        let nowHi = dv.getInt32(nextS + 4, true);
        table[nextHash] = s + cur;
        nextHash = ((((Math.imul((nowHi << 24) | (nowLo >>> 8), K.P5Lo) + Math.imul(nowLo << 24, K.P5Hi)) | 0) + (Math.imul(nowLo & 0xff, K.P5LoHigh24) + (((nowLo & 0xff) * K.P5LoLow8) >>> 8))) >>> K.Shift5);

        let offset = s - (candidate - cur);
        if (offset < K.MaxMatchOffset && cvLo === dv.getInt32(candidate - cur, true)) {
          table[nextHash] = nextS + cur;
          break;
        }

        // Do one right away...
        cvLo = nowLo;
        cvHi = nowHi;
        s = nextS;
        nextS++;
        candidate = table[nextHash]!;
        nowLo = (nowLo >>> 8) | (nowHi << 24);
        nowHi >>>= 8;
        table[nextHash] = s + cur;

        offset = s - (candidate - cur);
        if (offset < K.MaxMatchOffset && cvLo === dv.getInt32(candidate - cur, true)) {
          table[nextHash] = nextS + cur;
          break;
        }
        cvLo = nowLo;
        cvHi = nowHi;
        s = nextS;
      }

      // A 4-byte match has been found. We'll later see if more than 4 bytes match.
      for (;;) {
        // Invariant: we have a 4-byte match at s, and no need to emit any literal bytes prior to s.
        let t = candidate - cur;
        let l = 0;
        {
          // matchLen(s + 4, t + 4, max) inlined
          const ma = s + 4;
          const mb = t + 4;
          const max = histLen - s - 4;
          let m = 0;
          for (;;) {
            if (m + 4 > max) {
              while (m < max && hist[ma + m] === hist[mb + m]) m++;
              break;
            }
            const x = dv.getInt32(ma + m, true) ^ dv.getInt32(mb + m, true);
            if (x !== 0) {
              m += (31 - Math.clz32(x & -x)) >>> 3;
              break;
            }
            m += 4;
          }
          l = 4 + m;
        }

        // Extend backwards
        while (t > 0 && s > nextEmit && hist[t - 1] === hist[s - 1]) {
          s--;
          t--;
          l++;
        }
        for (let i = nextEmit; i < s; i++) {
          const v = hist[i]!;
          toks[n++] = v;
          lhist[v]!++;
        }
        // Save the match found
        // n = addMatchLong(toks, lhist, offHist, n, l, s - t - 1) inlined
        {
          let xoffset = s - t - 1;
          const oc = offsetCodeOf(xoffset);
          xoffset |= oc << 16;
          let xlength = l;
          while (xlength > 0) {
            let xl = xlength;
            if (xl > 258) {
              // We need to have at least baseMatchLength left over for next loop.
              xl = xl > 258 + 3 ? 258 : 258 - 3;
            }
            xlength -= xl;
            xl -= 3;
            lhist[256 + lengthCodes[xl]!]!++;
            offHist[oc]!++;
            toks[n++] = K.MatchType | (xl << K.LengthShift) | xoffset;
          }
        }
        s += l;
        nextEmit = s;
        if (nextS >= s) s = nextS + 1;
        if (s >= sLimit) {
          // Index first pair after match end.
          if (s + l + 8 < histLen) {
            const lo = dv.getInt32(s, true);
            const hi = dv.getInt32(s + 4, true);
            table[((((Math.imul((hi << 24) | (lo >>> 8), K.P5Lo) + Math.imul(lo << 24, K.P5Hi)) | 0) + (Math.imul(lo & 0xff, K.P5LoHigh24) + (((lo & 0xff) * K.P5LoLow8) >>> 8))) >>> K.Shift5)] = s + cur;
          }
          break search;
        }

        // We could immediately start working at s now, but to improve compression we first update the
        // hash table at s-2 and at s.
        let xLo = dv.getInt32(s - 2, true);
        let xHi = dv.getInt32(s + 2, true);
        const o = cur + s - 2;
        table[((((Math.imul((xHi << 24) | (xLo >>> 8), K.P5Lo) + Math.imul(xLo << 24, K.P5Hi)) | 0) + (Math.imul(xLo & 0xff, K.P5LoHigh24) + (((xLo & 0xff) * K.P5LoLow8) >>> 8))) >>> K.Shift5)] = o;
        // x >>= 16
        xLo = (xLo >>> 16) | (xHi << 16);
        xHi >>>= 16;
        const currHash = ((((Math.imul((xHi << 24) | (xLo >>> 8), K.P5Lo) + Math.imul(xLo << 24, K.P5Hi)) | 0) + (Math.imul(xLo & 0xff, K.P5LoHigh24) + (((xLo & 0xff) * K.P5LoLow8) >>> 8))) >>> K.Shift5);
        candidate = table[currHash]!;
        table[currHash] = o + 2;

        const offset = s - (candidate - cur);
        if (offset > K.MaxMatchOffset || xLo !== dv.getInt32(candidate - cur, true)) {
          cvLo = (xLo >>> 8) | (xHi << 24);
          cvHi = xHi >>> 8;
          s++;
          break;
        }
      }
    }

    if (nextEmit < histLen) {
      // If nothing was added, don't encode literals.
      if (n === 0) return;
      for (let i = nextEmit; i < histLen; i++) {
        const v = hist[i]!;
        toks[n++] = v;
        lhist[v]!++;
      }
    }
    dst.n = n;
  }
}

/** Level 2: as level 1 with a bigger (2^17) table and more positions indexed after each match. */
export class FastEncL2 extends FastGen {
  readonly table = new Int32Array(B_TABLE_SIZE);

  encode(dst: Tokens, src: Uint8Array): void {
    this.rebase([this.table], [], false);
    let s = this.addBlock(src);
    if (src.length < MIN_NON_LITERAL_BLOCK_SIZE) {
      dst.n = src.length;
      return;
    }
    const SHIFT = 32 - B_TABLE_BITS;
    const hist = this.hist;
    const dv = this.dv;
    const cur = this.cur;
    const table = this.table;
    const histLen = this.histLen;
    const toks = dst.tokens;
    const lhist = dst.hist;
    const offHist = dst.offHist;
    let n = dst.n;

    let nextEmit = s;
    const sLimit = histLen - INPUT_MARGIN;
    let cvLo = dv.getInt32(s, true);
    let cvHi = dv.getInt32(s + 4, true);

    search: for (;;) {
      // When should we start skipping if we haven't found matches in a long while. skipLog = 5, doEvery = 2
      let nextS = s;
      let candidate = 0;
      for (;;) {
        let nextHash = hash5(cvLo, cvHi, SHIFT);
        s = nextS;
        nextS = s + 2 + ((s - nextEmit) >> 5);
        if (nextS > sLimit) break search;
        candidate = table[nextHash]!;
        let nowLo = dv.getInt32(nextS, true);
        let nowHi = dv.getInt32(nextS + 4, true);
        table[nextHash] = s + cur;
        nextHash = hash5(nowLo, nowHi, SHIFT);

        let offset = s - (candidate - cur);
        if (offset < MAX_MATCH_OFFSET && cvLo === dv.getInt32(candidate - cur, true)) {
          table[nextHash] = nextS + cur;
          break;
        }

        // Do one right away...
        cvLo = nowLo;
        cvHi = nowHi;
        s = nextS;
        nextS++;
        candidate = table[nextHash]!;
        nowLo = (nowLo >>> 8) | (nowHi << 24);
        nowHi >>>= 8;
        table[nextHash] = s + cur;

        offset = s - (candidate - cur);
        if (offset < MAX_MATCH_OFFSET && cvLo === dv.getInt32(candidate - cur, true)) break;
        cvLo = nowLo;
        cvHi = nowHi;
      }

      // A 4-byte match has been found. Call emitCopy, and then see if another emitCopy could be our next move.
      for (;;) {
        // Invariant: we have a 4-byte match at s, and no need to emit any literal bytes prior to s.
        let t = candidate - cur;
        let l = matchLen(hist, dv, s + 4, t + 4, histLen - s - 4) + 4;

        // Extend backwards
        while (t > 0 && s > nextEmit && hist[t - 1] === hist[s - 1]) {
          s--;
          t--;
          l++;
        }
        for (let i = nextEmit; i < s; i++) {
          const v = hist[i]!;
          toks[n++] = v;
          lhist[v]!++;
        }
        n = addMatchLong(toks, lhist, offHist, n, l, s - t - 1);
        s += l;
        nextEmit = s;
        if (nextS >= s) s = nextS + 1;

        if (s >= sLimit) {
          // Index first pair after match end.
          if (s + l + 8 < histLen) {
            table[hash5(dv.getInt32(s, true), dv.getInt32(s + 4, true), SHIFT)] = s + cur;
          }
          break search;
        }

        // Store every second hash in-between, but offset by 1.
        for (let i = s - l + 2; i < s - 5; i += 7) {
          let xLo = dv.getInt32(i, true);
          let xHi = dv.getInt32(i + 4, true);
          table[hash5(xLo, xHi, SHIFT)] = cur + i;
          // Skip one
          xLo = (xLo >>> 16) | (xHi << 16);
          xHi >>>= 16;
          table[hash5(xLo, xHi, SHIFT)] = cur + i + 2;
          // Skip one
          xLo = (xLo >>> 16) | (xHi << 16);
          xHi >>>= 16;
          table[hash5(xLo, xHi, SHIFT)] = cur + i + 4;
        }

        // We could immediately start working at s now, but to improve compression we first update the
        // hash table at s-2 to s.
        const xLo = dv.getInt32(s - 2, true);
        const xHi = dv.getInt32(s + 2, true);
        const o = cur + s - 2;
        const prevHash = hash5(xLo, xHi, SHIFT);
        const prevHash2 = hash5((xLo >>> 8) | (xHi << 24), xHi >>> 8, SHIFT);
        table[prevHash] = o;
        table[prevHash2] = o + 1;
        const x16Lo = (xLo >>> 16) | (xHi << 16);
        const x16Hi = xHi >>> 16;
        const currHash = hash5(x16Lo, x16Hi, SHIFT);
        candidate = table[currHash]!;
        table[currHash] = o + 2;

        const offset = s - (candidate - cur);
        if (offset > MAX_MATCH_OFFSET || x16Lo !== dv.getInt32(candidate - cur, true)) {
          cvLo = (xLo >>> 24) | (xHi << 8);
          cvHi = xHi >>> 24;
          s++;
          break;
        }
      }
    }

    if (nextEmit < histLen) {
      if (n === 0) return;
      for (let i = nextEmit; i < histLen; i++) {
        const v = hist[i]!;
        toks[n++] = v;
        lhist[v]!++;
      }
    }
    dst.n = n;
  }
}
