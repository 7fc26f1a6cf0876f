// Port of github.com/klauspost/compress v1.15.12 flate/level1.go and level2.go. Copyright The Go Authors
// and Klaus Post; BSD-style licence (see the LICENSE file of github.com/klauspost/compress).
//
// Speed (level 1): hash5 (fast-encoder.ts), matchLen and addMatchLong (token.ts) are written out
// inline in FastEncL1.encode, with the constants as literals (see Lit in tables.ts). hash5's carry,
// ((lo & 0xff) * P5Lo) >> 8, is worked out in int32 arithmetic rather than through a double product:
// with P5Lo = 256 * P5LoHigh24 + P5LoLow8 it is exactly (lo & 0xff) * P5LoHigh24 + (((lo & 0xff) *
// P5LoLow8) >> 8), both terms far below 2^31.

import { FastGen, hash5, matchLen } from "./fast-encoder.js";
import { addMatchLong, type Tokens } from "./token.js";
import { B_TABLE_BITS, B_TABLE_SIZE, lengthCodes1, Lit, MAX_MATCH_OFFSET, offsetCode, TABLE_SIZE } from "./tables.js";

/** Level 1: one 5-byte hash table (2^15 entries), skipping ahead faster on misses. */
export class FastEncL1 extends FastGen {
  readonly table = new Int32Array(TABLE_SIZE);

  encode(dst: Tokens, src: Uint8Array): void {
    this.rebase([this.table], [], false);
    let s = this.addBlock(src);
    if (src.length < Lit.MinNonLiteralBlockSize) {
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
    // Speed: the tables as locals, loaded once (see Lit in tables.ts).
    const lengthCodes = lengthCodes1;
    const offsetCodeOf = offsetCode;
    let n = dst.n;

    let nextEmit = s;
    const sLimit = histLen - Lit.InputMargin;
    let cvLo = dv.getInt32(s, true);
    let cvHi = dv.getInt32(s + 4, true);

    search: for (;;) {
      // skipLog = 5, doEvery = 2
      let nextS = s;
      let candidate = 0;
      for (;;) {
        let nextHash = ((((Math.imul((cvHi << 24) | (cvLo >>> 8), Lit.P5Lo) + Math.imul(cvLo << 24, Lit.P5Hi)) | 0) + (Math.imul(cvLo & 0xff, Lit.P5LoHigh24) + (((cvLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift15);
        candidate = table[nextHash]!;
        nextS = s + 2 + ((s - nextEmit) >> 5);
        if (nextS > sLimit) break search;

        let nowLo = dv.getInt32(nextS, true);
        let nowHi = dv.getInt32(nextS + 4, true);
        table[nextHash] = s + cur;
        nextHash = ((((Math.imul((nowHi << 24) | (nowLo >>> 8), Lit.P5Lo) + Math.imul(nowLo << 24, Lit.P5Hi)) | 0) + (Math.imul(nowLo & 0xff, Lit.P5LoHigh24) + (((nowLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift15);

        let offset = s - (candidate - cur);
        if (offset < Lit.MaxMatchOffset && cvLo === dv.getInt32(candidate - cur, true)) {
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
        if (offset < Lit.MaxMatchOffset && cvLo === dv.getInt32(candidate - cur, true)) {
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
            toks[n++] = Lit.MatchType | (xl << Lit.LengthShift) | xoffset;
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
            table[((((Math.imul((hi << 24) | (lo >>> 8), Lit.P5Lo) + Math.imul(lo << 24, Lit.P5Hi)) | 0) + (Math.imul(lo & 0xff, Lit.P5LoHigh24) + (((lo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift15)] = s + cur;
          }
          break search;
        }

        // We could immediately start working at s now, but to improve compression we first update the
        // hash table at s-2 and at s.
        let xLo = dv.getInt32(s - 2, true);
        let xHi = dv.getInt32(s + 2, true);
        const o = cur + s - 2;
        table[((((Math.imul((xHi << 24) | (xLo >>> 8), Lit.P5Lo) + Math.imul(xLo << 24, Lit.P5Hi)) | 0) + (Math.imul(xLo & 0xff, Lit.P5LoHigh24) + (((xLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift15)] = o;
        // x >>= 16
        xLo = (xLo >>> 16) | (xHi << 16);
        xHi >>>= 16;
        const currHash = ((((Math.imul((xHi << 24) | (xLo >>> 8), Lit.P5Lo) + Math.imul(xLo << 24, Lit.P5Hi)) | 0) + (Math.imul(xLo & 0xff, Lit.P5LoHigh24) + (((xLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift15);
        candidate = table[currHash]!;
        table[currHash] = o + 2;

        const offset = s - (candidate - cur);
        if (offset > Lit.MaxMatchOffset || xLo !== dv.getInt32(candidate - cur, true)) {
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
    if (src.length < Lit.MinNonLiteralBlockSize) {
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
    const sLimit = histLen - Lit.InputMargin;
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
