/**
 * XXH64 (seed 0), as `xxhash.xxh64(data).hexdigest()` in Python: the chunk keys of a docker_dedup
 * database with `storage_algorithm: xxhash` (and of the original Nitro). Checked against the
 * Python package in test/import/xxhash64.test.ts.
 *
 * A uint64 is a pair of int32 halves (high, low), kept as int32 so V8 never boxes them: BigInt is
 * many times slower. The helpers leave their result in `out` (a typed array stores int32 unboxed)
 * instead of allocating a pair per step.
 */

/** The five primes of XXH64, as high and low halves. */
const P1H = 0x9e3779b1 | 0;
const P1L = 0x85ebca87 | 0;
const P2H = 0xc2b2ae3d | 0;
const P2L = 0x27d4eb4f | 0;
const P3H = 0x165667b1 | 0;
const P3L = 0x9e3779f9 | 0;
const P4H = 0x85ebca77 | 0;
const P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0;
const P5L = 0x165667c5 | 0;

const TWO_32 = 0x1_0000_0000;
const HIGH = 0;
const LOW = 1;

/** The result of the last helper call. */
const out = new Int32Array(2);

/**
 * (ah:al) * (bh:bl) mod 2^64. Math.imul gives the low halves of the 32 x 32-bit products; the high
 * half of al * bl comes from 16-bit limbs, whose products stay exact integers.
 */
function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const cross0 = a0 * b1;
  const cross1 = a1 * b0;
  const carry = (((a0 * b0) >>> 16) + (cross0 & 0xffff) + (cross1 & 0xffff)) >>> 16;
  out[LOW] = Math.imul(al, bl);
  out[HIGH] = a1 * b1 + (cross0 >>> 16) + (cross1 >>> 16) + carry + Math.imul(ah, bl) + Math.imul(al, bh);
}

function add(ah: number, al: number, bh: number, bl: number): void {
  const low = (al >>> 0) + (bl >>> 0);
  out[LOW] = low;
  out[HIGH] = ah + bh + (low >= TWO_32 ? 1 : 0);
}

/** Rotates left by 0 < bits < 32. */
function rotl(h: number, l: number, bits: number): void {
  out[HIGH] = (h << bits) | (l >>> (32 - bits));
  out[LOW] = (l << bits) | (h >>> (32 - bits));
}

/** XXH64_round: rotl(acc + input * P2, 31) * P1. */
function round(accH: number, accL: number, inH: number, inL: number): void {
  mul(inH, inL, P2H, P2L);
  add(accH, accL, out[HIGH]!, out[LOW]!);
  rotl(out[HIGH]!, out[LOW]!, 31);
  mul(out[HIGH]!, out[LOW]!, P1H, P1L);
}

/** XXH64_mergeRound: (acc ^ round(0, val)) * P1 + P4. */
function mergeRound(accH: number, accL: number, valH: number, valL: number): void {
  round(0, 0, valH, valL);
  mul(accH ^ out[HIGH]!, accL ^ out[LOW]!, P1H, P1L);
  add(out[HIGH]!, out[LOW]!, P4H, P4L);
}

/** Little-endian 32 bits at `at`, as int32. */
function i32(data: Uint8Array, at: number): number {
  return data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
}

/** The XXH64 digest of `data`, as 16 lowercase hex digits (big-endian, like Python's hexdigest). */
export function xxh64Hex(data: Uint8Array): string {
  const length = data.length;
  let at = 0;
  let h: number;
  let l: number;
  if (length >= 32) {
    add(P1H, P1L, P2H, P2L);
    let v1h = out[HIGH]!;
    let v1l = out[LOW]!;
    let v2h = P2H;
    let v2l = P2L;
    let v3h = 0;
    let v3l = 0;
    add(~P1H, ~P1L, 0, 1); // 0 - P1 (two's complement)
    let v4h = out[HIGH]!;
    let v4l = out[LOW]!;
    for (const last = length - 32; at <= last; at += 32) {
      round(v1h, v1l, i32(data, at + 4), i32(data, at));
      v1h = out[HIGH]!;
      v1l = out[LOW]!;
      round(v2h, v2l, i32(data, at + 12), i32(data, at + 8));
      v2h = out[HIGH]!;
      v2l = out[LOW]!;
      round(v3h, v3l, i32(data, at + 20), i32(data, at + 16));
      v3h = out[HIGH]!;
      v3l = out[LOW]!;
      round(v4h, v4l, i32(data, at + 28), i32(data, at + 24));
      v4h = out[HIGH]!;
      v4l = out[LOW]!;
    }
    // rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18), then each lane merged in.
    rotl(v1h, v1l, 1);
    h = out[HIGH]!;
    l = out[LOW]!;
    for (const [vh, vl, bits] of [[v2h, v2l, 7], [v3h, v3l, 12], [v4h, v4l, 18]] as const) {
      rotl(vh, vl, bits);
      add(h, l, out[HIGH]!, out[LOW]!);
      h = out[HIGH]!;
      l = out[LOW]!;
    }
    for (const [vh, vl] of [[v1h, v1l], [v2h, v2l], [v3h, v3l], [v4h, v4l]] as const) {
      mergeRound(h, l, vh, vl);
      h = out[HIGH]!;
      l = out[LOW]!;
    }
  } else {
    h = P5H;
    l = P5L;
  }
  add(h, l, Math.floor(length / TWO_32), length | 0);
  h = out[HIGH]!;
  l = out[LOW]!;

  for (; at + 8 <= length; at += 8) {
    round(0, 0, i32(data, at + 4), i32(data, at));
    rotl(h ^ out[HIGH]!, l ^ out[LOW]!, 27);
    mul(out[HIGH]!, out[LOW]!, P1H, P1L);
    add(out[HIGH]!, out[LOW]!, P4H, P4L);
    h = out[HIGH]!;
    l = out[LOW]!;
  }
  if (at + 4 <= length) {
    mul(0, i32(data, at), P1H, P1L);
    rotl(h ^ out[HIGH]!, l ^ out[LOW]!, 23);
    mul(out[HIGH]!, out[LOW]!, P2H, P2L);
    add(out[HIGH]!, out[LOW]!, P3H, P3L);
    h = out[HIGH]!;
    l = out[LOW]!;
    at += 4;
  }
  for (; at < length; at++) {
    mul(0, data[at]!, P5H, P5L);
    rotl(h ^ out[HIGH]!, l ^ out[LOW]!, 11);
    mul(out[HIGH]!, out[LOW]!, P1H, P1L);
    h = out[HIGH]!;
    l = out[LOW]!;
  }

  // Avalanche: h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32.
  mul(h, l ^ (h >>> 1), P2H, P2L);
  h = out[HIGH]!;
  l = out[LOW]!;
  mul(h ^ (h >>> 29), l ^ (l >>> 29) ^ (h << 3), P3H, P3L);
  return hex32(out[HIGH]!) + hex32(out[LOW]! ^ out[HIGH]!);
}

function hex32(value: number): string {
  return (value >>> 0).toString(16).padStart(8, "0");
}
