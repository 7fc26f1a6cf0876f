// Port of github.com/klauspost/compress v1.15.12 flate/level5.go (the encoder of the default level).
// Copyright The Go Authors and Klaus Post; BSD-style licence (see the LICENSE file of
// github.com/klauspost/compress).
//
// Speed: hash7 (fast-encoder.ts) and matchLen are written out inline in encode, as the same expressions:
// V8 stops inlining calls in a function this big, and an out-of-line hash7 boxes its int32 arguments.
// Measured about 20% faster.

import { FastGen } from "./fast-encoder.js";
import type { Tokens } from "./token.js";
import { lengthCodes1, Lit, offsetCode, TABLE_SIZE } from "./tables.js";

/** Level 5: a short (4-byte) table and a long (7-byte) table with two entries (Cur, Prev) per bucket. */
export class FastEncL5 extends FastGen {
  readonly table = new Int32Array(TABLE_SIZE);
  /** bTable: Cur at [2h], Prev at [2h + 1] (interleaved as Go's tableEntryPrev, one cache line for both). */
  readonly bTable = new Int32Array(2 * TABLE_SIZE);

  encode(dst: Tokens, src: Uint8Array): void {
    this.rebase([this.table], [this.bTable], false);

    let s = this.addBlock(src);
    // This check isn't in the Snappy implementation, but there, the caller
    // instead of the callee handles this case.
    if (src.length < Lit.MinNonLiteralBlockSize) {
      // We do not fill the token table. This will be picked up by caller.
      dst.n = src.length;
      return;
    }

    const hist = this.hist;
    const dv = this.dv;
    const cur = this.cur;
    const table = this.table;
    const bTable = this.bTable;
    const histLen = this.histLen;
    const toks = dst.tokens;
    const lhist = dst.hist;
    const offHist = dst.offHist;
    // Speed: the tables as locals, loaded once (see Lit in tables.ts).
    const lengthCodes = lengthCodes1;
    const offsetCodeOf = offsetCode;
    let n = dst.n;

    let nextEmit = s;
    // sLimit is when to stop looking for offset/length copies.
    const sLimit = histLen - Lit.InputMargin;
    let cvLo = dv.getInt32(s, true);
    let cvHi = dv.getInt32(s + 4, true);

    // The hashes of cv. Go computes them at the top of each search step; when cv is the previous step's
    // `next`, they are the ones already computed for it, so they are carried over instead.
    let cvHashS = (Math.imul(cvLo, Lit.Prime4) >>> Lit.HashShift15);
    // hash7(cvLo, cvHi), inlined
    let cvHashL = ((((Math.imul((cvHi << 8) | (cvLo >>> 24), Lit.P7Lo) + Math.imul(cvLo << 8, Lit.P7Hi)) | 0) + (((((cvLo << 8) >>> 0) * Lit.P7Lo - (Math.imul(cvLo << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;
    search: for (;;) {
      let nextS = s;
      let l = 0;
      let t = 0;
      for (;;) {
        let nextHashS = cvHashS;
        let nextHashL = cvHashL;

        s = nextS;
        nextS = s + 1 + ((s - nextEmit) >> 6);
        if (nextS > sLimit) break search;
        // Fetch a short+long candidate
        const sCandidate = table[nextHashS]!;
        let lCur = bTable[nextHashL << 1]!;
        let lPrev = bTable[(nextHashL << 1) + 1]!;
        const nextLo = dv.getInt32(nextS, true);
        const nextHi = dv.getInt32(nextS + 4, true);
        const entry = s + cur;
        table[nextHashS] = entry;
        bTable[(nextHashL << 1) + 1] = lCur;
        bTable[nextHashL << 1] = entry;

        nextHashS = (Math.imul(nextLo, Lit.Prime4) >>> Lit.HashShift15);
        // hash7(nextLo, nextHi), inlined
        nextHashL = ((((Math.imul((nextHi << 8) | (nextLo >>> 24), Lit.P7Lo) + Math.imul(nextLo << 8, Lit.P7Hi)) | 0) + (((((nextLo << 8) >>> 0) * Lit.P7Lo - (Math.imul(nextLo << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;

        t = lCur - cur;
        if (s - t < Lit.MaxMatchOffset) {
          if (cvLo === dv.getInt32(t, true)) {
            // Store the next match
            table[nextHashS] = nextS + cur;
            bTable[(nextHashL << 1) + 1] = bTable[nextHashL << 1]!;
            bTable[nextHashL << 1] = nextS + cur;

            const t2 = lPrev - cur;
            if (s - t2 < Lit.MaxMatchOffset && cvLo === dv.getInt32(t2, true)) {
              {
                // matchLen(s + 4, t + 4, max) inlined
                const ma = s + 4;
                const mb = t + 4;
                const max = limit254(histLen - (s + 4));
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
              let ml1 = 0;
              {
                // matchLen(s + 4, t2 + 4, max) inlined
                const ma = s + 4;
                const mb = t2 + 4;
                const max = limit254(histLen - (s + 4));
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
                ml1 = m + 4;
              }
              if (ml1 > l) {
                t = t2;
                l = ml1;
                break;
              }
            }
            break;
          }
          t = lPrev - cur;
          if (s - t < Lit.MaxMatchOffset && cvLo === dv.getInt32(t, true)) {
            // Store the next match
            table[nextHashS] = nextS + cur;
            bTable[(nextHashL << 1) + 1] = bTable[nextHashL << 1]!;
            bTable[nextHashL << 1] = nextS + cur;
            break;
          }
        }

        t = sCandidate - cur;
        if (s - t < Lit.MaxMatchOffset && cvLo === dv.getInt32(t, true)) {
          // Found a 4 match...
          {
            // matchLen(s + 4, t + 4, max) inlined
            const ma = s + 4;
            const mb = t + 4;
            const max = limit254(histLen - (s + 4));
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
          lCur = bTable[nextHashL << 1]!;
          lPrev = bTable[(nextHashL << 1) + 1]!;
          // Store the next match
          table[nextHashS] = nextS + cur;
          bTable[(nextHashL << 1) + 1] = lCur;
          bTable[nextHashL << 1] = nextS + cur;

          // If the next long is a candidate, use that...
          let t2 = lCur - cur;
          if (nextS - t2 < Lit.MaxMatchOffset) {
            if (dv.getInt32(t2, true) === nextLo) {
              let ml = 0;
              {
                // matchLen(nextS + 4, t2 + 4, max) inlined
                const ma = nextS + 4;
                const mb = t2 + 4;
                const max = limit254(histLen - (nextS + 4));
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
                ml = m + 4;
              }
              if (ml > l) {
                t = t2;
                s = nextS;
                l = ml;
                break;
              }
            }
            // If the previous long is a candidate, use that...
            t2 = lPrev - cur;
            if (nextS - t2 < Lit.MaxMatchOffset && dv.getInt32(t2, true) === nextLo) {
              let ml = 0;
              {
                // matchLen(nextS + 4, t2 + 4, max) inlined
                const ma = nextS + 4;
                const mb = t2 + 4;
                const max = limit254(histLen - (nextS + 4));
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
                ml = m + 4;
              }
              if (ml > l) {
                t = t2;
                s = nextS;
                l = ml;
                break;
              }
            }
          }
          break;
        }
        cvLo = nextLo;
        cvHi = nextHi;
        cvHashS = nextHashS;
        cvHashL = nextHashL;
      }

      // A 4-byte match has been found. We'll later see if more than 4 bytes match. But, prior to the
      // match, src[nextEmit:s] are unmatched. Emit them as literal bytes.
      if (l === 0) {
        // Extend the 4-byte match as long as possible.
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
          l = m + 4;
        }
      } else if (l === Lit.MaxMatchLength) {
        {
          // matchLen(s + l, t + l, max) inlined
          const ma = s + l;
          const mb = t + l;
          const max = histLen - s - l;
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
          l += m;
        }
      }

      // Try to locate a better match by checking the end of best match...
      const sAt = s + l;
      if (l < 30 && sAt < sLimit) {
        // Allow some bytes at the beginning to mismatch. Sweet spot is 2/3 bytes depending on input.
        // 3 is only a little better when it is but sometimes a lot worse. The skipped bytes are tested
        // in Extend backwards, and still picked up as part of the match if they do.
        const skipBeginning = 2;
        const atLo = dv.getInt32(sAt, true);
        const atHi = dv.getInt32(sAt + 4, true);
        // hash7(atLo, atHi), inlined
        const hAt = ((((Math.imul((atHi << 8) | (atLo >>> 24), Lit.P7Lo) + Math.imul(atLo << 8, Lit.P7Hi)) | 0) + (((((atLo << 8) >>> 0) * Lit.P7Lo - (Math.imul(atLo << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;
        const eLong = bTable[hAt << 1]!;
        const t2 = eLong - cur - l + skipBeginning;
        const s2 = s + skipBeginning;
        const off = s2 - t2;
        if (t2 >= 0 && off < Lit.MaxMatchOffset && off > 0) {
          let l2 = 0;
          {
            // matchLen(s2, t2, max) inlined
            const ma = s2;
            const mb = t2;
            const max = histLen - s2;
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
          if (l2 > l) {
            t = t2;
            l = l2;
            s = s2;
          }
        }
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

      // dst.AddMatchLong(l, uint32(s-t-baseMatchOffset))
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
      if (s >= sLimit) break search;

      // Store every 3rd hash in-between.
      let i = s - l + 1;
      if (i < s - 1) {
        let lo = dv.getInt32(i, true);
        let hi = dv.getInt32(i + 4, true);
        let te = i + cur;
        table[(Math.imul(lo, Lit.Prime4) >>> Lit.HashShift15)] = te;
        // hash7(lo, hi), inlined
        let h = ((((Math.imul((hi << 8) | (lo >>> 24), Lit.P7Lo) + Math.imul(lo << 8, Lit.P7Hi)) | 0) + (((((lo << 8) >>> 0) * Lit.P7Lo - (Math.imul(lo << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;
        bTable[(h << 1) + 1] = bTable[h << 1]!;
        bTable[h << 1] = te;

        // Do an long at i+1
        lo = (lo >>> 8) | (hi << 24);
        hi >>>= 8;
        te++;
        // hash7(lo, hi), inlined
        h = ((((Math.imul((hi << 8) | (lo >>> 24), Lit.P7Lo) + Math.imul(lo << 8, Lit.P7Hi)) | 0) + (((((lo << 8) >>> 0) * Lit.P7Lo - (Math.imul(lo << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;
        bTable[(h << 1) + 1] = bTable[h << 1]!;
        bTable[h << 1] = te;

        // We only have enough bits for a short entry at i+2
        lo = (lo >>> 8) | (hi << 24);
        te++;
        table[(Math.imul(lo, Lit.Prime4) >>> Lit.HashShift15)] = te;

        // Skip one - otherwise we risk hitting 's'
        i += 4;
        for (; i < s - 1; i += 3) {
          const lo2 = dv.getInt32(i, true);
          const hi2 = dv.getInt32(i + 4, true);
          const t1 = i + cur;
          // hash7(lo2, hi2), inlined
          const h2 = ((((Math.imul((hi2 << 8) | (lo2 >>> 24), Lit.P7Lo) + Math.imul(lo2 << 8, Lit.P7Hi)) | 0) + (((((lo2 << 8) >>> 0) * Lit.P7Lo - (Math.imul(lo2 << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;
          bTable[(h2 << 1) + 1] = bTable[h2 << 1]!;
          bTable[h2 << 1] = t1;
          table[(Math.imul((lo2 >>> 8) | (hi2 << 24), Lit.Prime4) >>> Lit.HashShift15)] = t1 + 1;
        }
      }

      // We could immediately start working at s now, but to improve compression we first update the
      // hash table at s-1 and at s.
      const xLo = dv.getInt32(s - 1, true);
      const xHi = dv.getInt32(s + 3, true);
      const o = cur + s - 1;
      table[(Math.imul(xLo, Lit.Prime4) >>> Lit.HashShift15)] = o;
      // hash7(xLo, xHi), inlined
      const hL = ((((Math.imul((xHi << 8) | (xLo >>> 24), Lit.P7Lo) + Math.imul(xLo << 8, Lit.P7Hi)) | 0) + (((((xLo << 8) >>> 0) * Lit.P7Lo - (Math.imul(xLo << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;
      bTable[(hL << 1) + 1] = bTable[hL << 1]!;
      bTable[hL << 1] = o;
      cvLo = (xLo >>> 8) | (xHi << 24);
      cvHi = xHi >>> 8;
      cvHashS = (Math.imul(cvLo, Lit.Prime4) >>> Lit.HashShift15);
      // hash7(cvLo, cvHi), inlined
      cvHashL = ((((Math.imul((cvHi << 8) | (cvLo >>> 24), Lit.P7Lo) + Math.imul(cvLo << 8, Lit.P7Hi)) | 0) + (((((cvLo << 8) >>> 0) * Lit.P7Lo - (Math.imul(cvLo << 8, Lit.P7Lo) >>> 0)) * Lit.TwoM32 + 0.5) | 0)) | 0) >>> 17;
    }

    // emitRemainder:
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

/** e.matchlen's bound: at most 258 - 4 bytes, and not past the end of the history. */
function limit254(remaining: number): number {
  return remaining < Lit.MaxMatchLength - 4 ? remaining : Lit.MaxMatchLength - 4;
}
