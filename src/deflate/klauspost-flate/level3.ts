// Port of github.com/klauspost/compress v1.15.12 flate/level3.go and level4.go. Copyright The Go Authors
// and Klaus Post; BSD-style licence (see the LICENSE file of github.com/klauspost/compress).
//
// Speed (level 3): hash5 (fast-encoder.ts), matchLen and addMatchLong (token.ts) are written out
// inline in FastEncL3.encode, with the constants as literals (see Lit in tables.ts). hash5's carry,
// ((lo & 0xff) * P5Lo) >> 8, is worked out in int32 arithmetic rather than through a double product:
// with P5Lo = 256 * P5LoHigh24 + P5LoLow8 it is exactly (lo & 0xff) * P5LoHigh24 + (((lo & 0xff) *
// P5LoLow8) >> 8), both terms far below 2^31.

import { FastGen, hash4, hash5, hash7, matchLen } from "./fast-encoder.js";
import { addMatchLong, type Tokens } from "./token.js";
import { lengthCodes1, Lit, MAX_MATCH_OFFSET, offsetCode, TABLE_SIZE } from "./tables.js";

/** Level 3: a 5-byte hash table of 2^16 buckets with two entries (Cur, Prev) each. */
export class FastEncL3 extends FastGen {
  /** Cur at [2h], Prev at [2h + 1] (interleaved as Go's tableEntryPrev). */
  readonly table = new Int32Array(2 << 16);

  encode(dst: Tokens, src: Uint8Array): void {
    this.rebase([], [this.table], true);
    let s = this.addBlock(src);
    // Skip if too small.
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
      // skipLog = 7
      let nextS = s;
      let candidate = 0;
      for (;;) {
        const nextHash = ((((Math.imul((cvHi << 24) | (cvLo >>> 8), Lit.P5Lo) + Math.imul(cvLo << 24, Lit.P5Hi)) | 0) + (Math.imul(cvLo & 0xff, Lit.P5LoHigh24) + (((cvLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift16);
        s = nextS;
        nextS = s + 1 + ((s - nextEmit) >> 7);
        if (nextS > sLimit) break search;
        const cCur = table[nextHash << 1]!;
        const cPrev = table[(nextHash << 1) + 1]!;
        const nowLo = dv.getInt32(nextS, true);
        const nowHi = dv.getInt32(nextS + 4, true);

        // Safe offset distance until s + 4...
        const minOffset = cur + s - (Lit.MaxMatchOffset - 4);
        table[(nextHash << 1) + 1] = cCur;
        table[nextHash << 1] = s + cur;

        // Check both candidates
        candidate = cCur;
        if (candidate < minOffset) {
          cvLo = nowLo;
          cvHi = nowHi;
          // Previous will also be invalid, we have nothing.
          continue;
        }

        if (cvLo === dv.getInt32(candidate - cur, true)) {
          if (cPrev < minOffset || cvLo !== dv.getInt32(cPrev - cur, true)) break;
          // Both match and are valid, pick longest.
          const offset = s - (candidate - cur);
          const o2 = s - (cPrev - cur);
          let l1 = 0;
          // matchLen(s + 4, s - offset + 4, max) inlined
          {
            const ma = s + 4;
            const mb = s - offset + 4;
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
            l1 = m;
          }
          let l2 = 0;
          // matchLen(s + 4, s - o2 + 4, max) inlined
          {
            const ma = s + 4;
            const mb = s - o2 + 4;
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
            l2 = m;
          }
          if (l2 > l1) candidate = cPrev;
          break;
        } else {
          // We only check if value mismatches. Offset will always be invalid in other cases.
          candidate = cPrev;
          if (candidate > minOffset && cvLo === dv.getInt32(candidate - cur, true)) break;
        }
        cvLo = nowLo;
        cvHi = nowHi;
      }

      // Call emitCopy, and then see if another emitCopy could be our next move.
      for (;;) {
        // Invariant: we have a 4-byte match at s, and no need to emit any literal bytes prior to s.
        let t = candidate - cur;
        let l = 0;
        // matchLen(s + 4, t + 4, max) inlined
        {
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
          l = m + 4;
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
          t += l;
          // Index first pair after match end.
          if (t + 8 < histLen && t > 0) {
            const lo = dv.getInt32(t, true);
            const hi = dv.getInt32(t + 4, true);
            const h = ((((Math.imul((hi << 24) | (lo >>> 8), Lit.P5Lo) + Math.imul(lo << 24, Lit.P5Hi)) | 0) + (Math.imul(lo & 0xff, Lit.P5LoHigh24) + (((lo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift16);
            table[(h << 1) + 1] = table[h << 1]!;
            table[h << 1] = cur + t;
          }
          break search;
        }

        // Store every 5th hash in-between.
        for (let i = s - l + 2; i < s - 5; i += 6) {
          const lo = dv.getInt32(i, true);
          const hi = dv.getInt32(i + 4, true);
          const h = ((((Math.imul((hi << 24) | (lo >>> 8), Lit.P5Lo) + Math.imul(lo << 24, Lit.P5Hi)) | 0) + (Math.imul(lo & 0xff, Lit.P5LoHigh24) + (((lo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift16);
          table[(h << 1) + 1] = table[h << 1]!;
          table[h << 1] = cur + i;
        }
        // We could immediately start working at s now, but to improve compression we first update the
        // hash table at s-2 to s.
        let xLo = dv.getInt32(s - 2, true);
        let xHi = dv.getInt32(s + 2, true);
        let h = ((((Math.imul((xHi << 24) | (xLo >>> 8), Lit.P5Lo) + Math.imul(xLo << 24, Lit.P5Hi)) | 0) + (Math.imul(xLo & 0xff, Lit.P5LoHigh24) + (((xLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift16);
        table[(h << 1) + 1] = table[h << 1]!;
        table[h << 1] = cur + s - 2;
        xLo = (xLo >>> 8) | (xHi << 24);
        xHi >>>= 8;
        h = ((((Math.imul((xHi << 24) | (xLo >>> 8), Lit.P5Lo) + Math.imul(xLo << 24, Lit.P5Hi)) | 0) + (Math.imul(xLo & 0xff, Lit.P5LoHigh24) + (((xLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift16);
        table[(h << 1) + 1] = table[h << 1]!;
        table[h << 1] = cur + s - 1;
        xLo = (xLo >>> 8) | (xHi << 24);
        xHi >>>= 8;
        const currHash = ((((Math.imul((xHi << 24) | (xLo >>> 8), Lit.P5Lo) + Math.imul(xLo << 24, Lit.P5Hi)) | 0) + (Math.imul(xLo & 0xff, Lit.P5LoHigh24) + (((xLo & 0xff) * Lit.P5LoLow8) >>> 8))) >>> Lit.HashShift16);
        const cCur = table[currHash << 1]!;
        const cPrev = table[(currHash << 1) + 1]!;
        cvLo = xLo;
        cvHi = xHi;
        table[(currHash << 1) + 1] = cCur;
        table[currHash << 1] = s + cur;

        // Check both candidates
        candidate = cCur;
        const minOffset = cur + s - (Lit.MaxMatchOffset - 4);
        if (candidate > minOffset) {
          if (cvLo === dv.getInt32(candidate - cur, true)) {
            // Found a match...
            continue;
          }
          candidate = cPrev;
          if (candidate > minOffset && cvLo === dv.getInt32(candidate - cur, true)) {
            // Match at prev...
            continue;
          }
        }
        cvLo = (xLo >>> 8) | (xHi << 24);
        cvHi = xHi >>> 8;
        s++;
        break;
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

/** Level 4: a short (4-byte) and a long (7-byte) table, one entry per bucket. */
export class FastEncL4 extends FastGen {
  readonly table = new Int32Array(TABLE_SIZE);
  readonly bTable = new Int32Array(TABLE_SIZE);

  encode(dst: Tokens, src: Uint8Array): void {
    this.rebase([this.table, this.bTable], [], false);
    let s = this.addBlock(src);
    if (src.length < Lit.MinNonLiteralBlockSize) {
      dst.n = src.length;
      return;
    }
    const SHORT_SHIFT = 32 - 15;
    const hist = this.hist;
    const dv = this.dv;
    const cur = this.cur;
    const table = this.table;
    const bTable = this.bTable;
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
      // skipLog = 6, doEvery = 1
      let nextS = s;
      let t = 0;
      for (;;) {
        const nextHashS = hash4(cvLo, SHORT_SHIFT);
        const nextHashL = hash7(cvLo, cvHi);
        s = nextS;
        nextS = s + 1 + ((s - nextEmit) >> 6);
        if (nextS > sLimit) break search;
        // Fetch a short+long candidate
        const sCandidate = table[nextHashS]!;
        let lCandidate = bTable[nextHashL]!;
        const nextLo = dv.getInt32(nextS, true);
        const nextHi = dv.getInt32(nextS + 4, true);
        const entry = s + cur;
        table[nextHashS] = entry;
        bTable[nextHashL] = entry;

        t = lCandidate - cur;
        if (s - t < MAX_MATCH_OFFSET && cvLo === dv.getInt32(t, true)) {
          // We got a long match. Use that.
          break;
        }

        t = sCandidate - cur;
        if (s - t < MAX_MATCH_OFFSET && cvLo === dv.getInt32(t, true)) {
          // Found a 4 match...
          lCandidate = bTable[hash7(nextLo, nextHi)]!;
          // If the next long is a candidate, check if we should use that instead...
          const lOff = nextS - (lCandidate - cur);
          if (lOff < MAX_MATCH_OFFSET && dv.getInt32(lCandidate - cur, true) === nextLo) {
            const l1 = matchLen(hist, dv, s + 4, t + 4, histLen - s - 4);
            const l2 = matchLen(hist, dv, nextS + 4, nextS - lOff + 4, histLen - nextS - 4);
            if (l2 > l1) {
              s = nextS;
              t = lCandidate - cur;
            }
          }
          break;
        }
        cvLo = nextLo;
        cvHi = nextHi;
      }

      // A 4-byte match has been found. Extend the 4-byte match as long as possible.
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
        if (s + 8 < histLen) {
          const lo = dv.getInt32(s, true);
          const hi = dv.getInt32(s + 4, true);
          table[hash4(lo, SHORT_SHIFT)] = s + cur;
          bTable[hash7(lo, hi)] = s + cur;
        }
        break search;
      }

      // Store every 3rd hash in-between
      let i = nextS;
      if (i < s - 1) {
        let lo = dv.getInt32(i, true);
        let hi = dv.getInt32(i + 4, true);
        let te = i + cur;
        bTable[hash7(lo, hi)] = te;
        let lo8 = (lo >>> 8) | (hi << 24);
        let hi8 = hi >>> 8;
        bTable[hash7(lo8, hi8)] = te + 1;
        table[hash4(lo8, SHORT_SHIFT)] = te + 1;

        i += 3;
        for (; i < s - 1; i += 3) {
          lo = dv.getInt32(i, true);
          hi = dv.getInt32(i + 4, true);
          te = i + cur;
          bTable[hash7(lo, hi)] = te;
          lo8 = (lo >>> 8) | (hi << 24);
          hi8 = hi >>> 8;
          bTable[hash7(lo8, hi8)] = te + 1;
          table[hash4(lo8, SHORT_SHIFT)] = te + 1;
        }
      }

      // We could immediately start working at s now, but to improve compression we first update the
      // hash table at s-1 and at s.
      const xLo = dv.getInt32(s - 1, true);
      const xHi = dv.getInt32(s + 3, true);
      const o = cur + s - 1;
      table[hash4(xLo, SHORT_SHIFT)] = o;
      bTable[hash7(xLo, xHi)] = o;
      cvLo = (xLo >>> 8) | (xHi << 24);
      cvHi = xHi >>> 8;
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
