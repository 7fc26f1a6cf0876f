// Port of github.com/klauspost/compress v1.15.12 flate/fast_encoder.go. Copyright The Go Authors,
// The Snappy-Go Authors and Klaus Post; BSD-style licence (see the LICENSE file of
// github.com/klauspost/compress).
//
// Go loads 64-bit little-endian words and hashes them with 64-bit multiplies. Here a word is two int32
// halves (lo, hi) read with DataView, and each hash is computed exactly in 32-bit arithmetic: the high
// 32 bits of the 64-bit product are imul(xhi, pLo) + imul(xlo, pHi) + mulhi(xlo, pLo) (mod 2^32).
// mulhi(a, b) of two uint32 is taken from the double product a*b, whose rounding error (< 2^12) is far
// below the 2^31 that would change the rounded quotient: round((a*b - (imul(a, b) >>> 0)) / 2^32).

import type { Tokens } from "./token.js";
import { ALLOC_HISTORY, Lit, MAX_MATCH_OFFSET, MAX_STORE_BLOCK_SIZE, BUFFER_RESET } from "./tables.js";

export const PRIME4 = Lit.Prime4; // prime4bytes = 2654435761
const P5_LO = Lit.P5Lo; // prime5bytes = 0xcf_1bbcdcbb
const P5_HI = Lit.P5Hi;
export const P7_LO = Lit.P7Lo; // prime7bytes = 0xcf1bbc_dcbfa563
export const P7_HI = Lit.P7Hi;
export const TWO_M32 = Lit.TwoM32; // 2^-32

/** hashLen(u, bits, 4) = (uint32(u) * prime4bytes) >> (32 - bits); shift = 32 - bits. */
export function hash4(lo: number, shift: number): number {
  return Math.imul(lo, PRIME4) >>> shift;
}

/** hashLen(u, bits, 5) = ((u << 24) * prime5bytes) >> (64 - bits); shift = 32 - bits. */
export function hash5(lo: number, hi: number, shift: number): number {
  const xlo = lo << 24;
  const xhi = (hi << 24) | (lo >>> 8);
  // mulhi(xlo, P5_LO): xlo = (lo & 0xff) << 24, so the product / 2^32 is (lo & 0xff) * P5_LO / 256, exact in a double.
  const carry = ((lo & 0xff) * P5_LO) / 256;
  return (((Math.imul(xhi, P5_LO) + Math.imul(xlo, P5_HI)) | 0) + (carry | 0)) >>> shift;
}

/** hash7(u, 15) = ((u << 8) * prime7bytes) >> (64 - 15), i.e. hashLen(u, 15, 7). */
export function hash7(lo: number, hi: number): number {
  const xlo = lo << 8;
  const xhi = (hi << 8) | (lo >>> 24);
  const xloU = xlo >>> 0;
  const carry = ((xloU * P7_LO - (Math.imul(xlo, P7_LO) >>> 0)) * TWO_M32 + 0.5) | 0;
  return ((((Math.imul(xhi, P7_LO) + Math.imul(xlo, P7_HI)) | 0) + carry) | 0) >>> 17;
}

/**
 * The number of equal bytes at a and b in buf, at most max (matchLen in fast_encoder.go: any exact
 * implementation gives the same number).
 */
export function matchLen(buf: Uint8Array, dv: DataView, a: number, b: number, max: number): number {
  let i = 0;
  while (i + 4 <= max) {
    const x = dv.getInt32(a + i, true) ^ dv.getInt32(b + i, true);
    if (x !== 0) return i + ((31 - Math.clz32(x & -x)) >>> 3);
    i += 4;
  }
  while (i < max && buf[a + i] === buf[b + i]) i++;
  return i;
}

export interface FastEnc {
  /** Appends the tokens of src (one window of at most 65535 bytes) to dst, matching against the history. */
  encode(dst: Tokens, src: Uint8Array): void;
  reset(): void;
}

/** The history of previous blocks and the offset of the tables (fastGen). */
export abstract class FastGen implements FastEnc {
  /** Go's e.hist (capacity allocHistory), with 16 bytes of slack so 64-bit loads near the end stay in range. */
  readonly hist = new Uint8Array(ALLOC_HISTORY + 16);
  readonly dv = new DataView(this.hist.buffer);
  histLen = 0;
  cur = MAX_STORE_BLOCK_SIZE;

  abstract encode(dst: Tokens, src: Uint8Array): void;

  /** Appends src to the history, moving the last 32 KiB down first if it would not fit; returns where src starts. */
  protected addBlock(src: Uint8Array): number {
    if (this.histLen + src.length > ALLOC_HISTORY) {
      // Move down
      const offset = this.histLen - MAX_MATCH_OFFSET;
      this.hist.copyWithin(0, offset, this.histLen);
      this.cur += offset;
      this.histLen = MAX_MATCH_OFFSET;
    }
    const s = this.histLen;
    this.hist.set(src, s);
    this.histLen += src.length;
    return s;
  }

  /** Makes everything out of reach by moving the offset (the tables are not cleared). */
  reset(): void {
    // If we are above the buffer reset it will be cleared anyway since len(hist) == 0.
    if (this.cur <= BUFFER_RESET) this.cur += MAX_MATCH_OFFSET + this.histLen;
    this.histLen = 0;
  }

  /**
   * Protects against e.cur wraparound: rebases (or clears) the given tables of offsets. `pairs` are
   * interleaved Cur/Prev tables (tableEntryPrev: Cur at [2h], Prev at [2h + 1]); with `independentPairs`
   * (level 3) each half is rebased on its own, else Prev is cleared with Cur when Cur is too far (levels 5, 6).
   */
  protected rebase(singles: Int32Array[], pairs: Int32Array[], independentPairs: boolean): void {
    while (this.cur >= BUFFER_RESET) {
      if (this.histLen === 0) {
        for (const t of singles) t.fill(0);
        for (const t of pairs) t.fill(0);
        this.cur = MAX_MATCH_OFFSET;
        break;
      }
      // Shift down everything in the table that isn't already too far away.
      const cur = this.cur;
      const minOff = cur + this.histLen - MAX_MATCH_OFFSET;
      for (const t of singles) {
        for (let i = 0; i < t.length; i++) {
          const v = t[i]!;
          t[i] = v <= minOff ? 0 : v - cur + MAX_MATCH_OFFSET;
        }
      }
      for (const t of pairs) {
        for (let i = 0; i < t.length; i += 2) {
          const vc = t[i]!;
          const vp = t[i + 1]!;
          if (independentPairs) {
            t[i] = vc <= minOff ? 0 : vc - cur + MAX_MATCH_OFFSET;
            t[i + 1] = vp <= minOff ? 0 : vp - cur + MAX_MATCH_OFFSET;
          } else if (vc <= minOff) {
            t[i] = 0;
            t[i + 1] = 0;
          } else {
            t[i] = vc - cur + MAX_MATCH_OFFSET;
            t[i + 1] = vp <= minOff ? 0 : vp - cur + MAX_MATCH_OFFSET;
          }
        }
      }
      this.cur = MAX_MATCH_OFFSET;
    }
  }
}
