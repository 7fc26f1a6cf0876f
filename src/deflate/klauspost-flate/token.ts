// Port of github.com/klauspost/compress v1.15.12 flate/token.go. Copyright The Go Authors and
// Klaus Post; BSD-style licence (see the LICENSE file of github.com/klauspost/compress).

import { lengthCodes1, lengthExtraBits, LENGTH_SHIFT, LITERAL_COUNT, MATCH_TYPE, MAX_STORE_BLOCK_SIZE, OFFSET_CODE_COUNT, offsetCode, offsetExtraBits } from "./tables.js";

/**
 * Tokens of one block. A token is a literal byte (< 256), or MATCH_TYPE | xlength << 22 | offsetCode << 16 |
 * xoffset (xlength = length - 3, xoffset = distance - 1); 256 is the end-of-block marker.
 *
 * `hist` is Go's litHist (0..255) followed by extraHist (256..287: [0] is the EOB, [k] length code k-1), laid
 * out as the huffman bit writer's literalFreq so that indexing them is one copy. Counts are uint16 and wrap as in Go.
 */
export class Tokens {
  readonly tokens = new Uint32Array(MAX_STORE_BLOCK_SIZE + 1);
  readonly hist = new Uint16Array(256 + 32);
  readonly offHist = new Uint16Array(32);
  n = 0;
  nFilled = 0;

  reset(): void {
    if (this.n === 0) return;
    this.n = 0;
    this.nFilled = 0;
    this.hist.fill(0);
    this.offHist.fill(0);
  }

  addLiteral(lit: number): void {
    this.tokens[this.n] = lit;
    this.hist[lit]!++;
    this.n = (this.n + 1) & 0xffff;
  }

  /** xlength = length - 3 (< 256), xoffset = distance - 1. */
  addMatch(xlength: number, xoffset: number): void {
    const oCode = offsetCode(xoffset);
    xoffset |= oCode << 16;
    this.hist[256 + lengthCodes1[xlength & 255]!]!++;
    this.offHist[oCode & 31]!++;
    this.tokens[this.n] = MATCH_TYPE | (xlength << LENGTH_SHIFT) | xoffset;
    this.n = (this.n + 1) & 0xffff;
  }

  addEOB(): void {
    this.tokens[this.n] = 256;
    this.hist[256]!++;
    this.n = (this.n + 1) & 0xffff;
  }

  /**
   * The size an optimal code would give the block (token.go EstimatedBits). Go computes it in float32; every
   * step is rounded to float32 here (Math.fround) in the same order. A double result rounded to float32 equals
   * the float32 operation for + - * / (53 >= 2*24+2), so this is exact for Go on amd64, which does not fuse
   * multiply-adds (arm64 builds of Go may use FMA here and so could decide differently in rare cases).
   */
  estimatedBits(): number {
    let shannon = 0;
    let bits = 0;
    let nMatches = 0;
    const total = this.n + this.nFilled;
    const hist = this.hist;
    if (total > 0) {
      const invTotal = Math.fround(1 / total);
      for (let i = 0; i < 256; i++) {
        const v = hist[i]!;
        if (v > 0) shannon = Math.fround(shannon + Math.fround(atLeastOne(-mFastLog2(Math.fround(v * invTotal))) * v));
      }
      // Just add 15 for EOB
      shannon = Math.fround(shannon + 15);
      for (let i = 0; i < LITERAL_COUNT - 256 - 1; i++) {
        const v = hist[256 + 1 + i]!;
        if (v > 0) {
          shannon = Math.fround(shannon + Math.fround(atLeastOne(-mFastLog2(Math.fround(v * invTotal))) * v));
          bits += lengthExtraBits[i & 31]! * v;
          nMatches += v;
        }
      }
    }
    if (nMatches > 0) {
      const invTotal = Math.fround(1 / nMatches);
      const offHist = this.offHist;
      for (let i = 0; i < OFFSET_CODE_COUNT; i++) {
        const v = offHist[i]!;
        if (v > 0) {
          shannon = Math.fround(shannon + Math.fround(atLeastOne(-mFastLog2(Math.fround(v * invTotal))) * v));
          bits += offsetExtraBits[i & 31]! * v;
        }
      }
    }
    return Math.trunc(shannon) + bits;
  }
}

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);
const C1 = Math.fround(-0.34484843);
const C2 = Math.fround(2.02466578);
const C3 = Math.fround(0.67487759);

/** Approximate log2 in float32 (from https://stackoverflow.com/a/28730362, as token.go). */
function mFastLog2(val: number): number {
  f32[0] = val;
  let ux = i32[0]!;
  let log2 = ((ux >> 23) & 255) - 128;
  ux &= -0x7f800001;
  ux = (ux + (127 << 23)) | 0;
  i32[0] = ux;
  const uval = f32[0]!;
  return Math.fround(log2 + Math.fround(Math.fround(Math.fround(Math.fround(C1 * uval) + C2) * uval) - C3));
}

/** Clamps between 1 and 15 (huffman_code.go atLeastOne). */
function atLeastOne(v: number): number {
  return v < 1 ? 1 : v > 15 ? 15 : v;
}

/**
 * tokens.AddMatchLong on the token arrays: appends match tokens for a match of length l (no base
 * subtracted; longer than 258 is split as Go does) at xoffset = distance - 1, starting at index n;
 * returns the new n. (Levels 5 and 6 have it written out inline.)
 */
export function addMatchLong(toks: Uint32Array, hist: Uint16Array, offHist: Uint16Array, n: number, l: number, xoffset: number): number {
  const oc = offsetCode(xoffset);
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
    hist[256 + lengthCodes1[xl]!]!++;
    offHist[oc]!++;
    toks[n++] = MATCH_TYPE | (xl << LENGTH_SHIFT) | xoffset;
  }
  return n;
}
