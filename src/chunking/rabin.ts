import type { CutFinder } from "./types.js";

/**
 * The Rabin-Karp chunker of PyRabin 0.6 (Joel Tucci's rabin-fingerprint-c), which docker_dedup
 * used, reproduced cut for cut (test/chunking/rabin.test.ts compares it with the real package):
 * a 48-byte window, base 3, bytes read as signed chars (x86-64), uint64 wrap-around, a window that
 * is NOT reset at chunk boundaries, and a cut after the current byte when
 * `length >= min && hash % avg == 3`, or when `length == max`.
 *
 * uint64 arithmetic is done on two 32-bit halves held as int32 bit patterns, with branch-free
 * carries (BigInt, or carries by comparison, are many times slower).
 *
 * Three facts make it fast without changing a cut:
 * - The window starts zero-filled and the leaving byte's term is removed exactly, so the hash is
 *   always `sum(signed(b[n-j]) * 3^j, j < 48) mod 2^64`: a function of the last 48 bytes only. The
 *   first `min - 1` bytes of a chunk, which cannot end it, are therefore not rolled: the window
 *   keeps their last 48, and the hash is rebuilt from it where the cut tests start.
 * - When avg is a power of two (docker_dedup's 8192, PyRabin's default), `hash % avg` depends on
 *   the low 32 bits of the hash only, and those only on the low 32 bits of every term: the roll is
 *   then plain int32 arithmetic.
 * - Past the first 48 bytes of a call, the byte leaving the window is `data[i - 48]`.
 */
const WINDOW = 48;
const BASE = 3n;
const MASK_64 = (1n << 64n) - 1n;

/** For each byte value: the signed char, sign-extended to uint64, as int32 halves. */
const SIGNED_HI = new Int32Array(256);
const SIGNED_LO = new Int32Array(256);
/** For each byte value: -(signed char * 3^48) mod 2^64 (removes the byte leaving the window). */
const OUT_HI = new Int32Array(256);
const OUT_LO = new Int32Array(256);
{
  const power = BASE ** BigInt(WINDOW) & MASK_64;
  for (let v = 0; v < 256; v++) {
    const signed = BigInt(v < 128 ? v : v - 256) & MASK_64;
    SIGNED_HI[v] = Number(BigInt.asIntN(32, signed >> 32n));
    SIGNED_LO[v] = Number(BigInt.asIntN(32, signed));
    const out = -(signed * power) & MASK_64;
    OUT_HI[v] = Number(BigInt.asIntN(32, out >> 32n));
    OUT_LO[v] = Number(BigInt.asIntN(32, out));
  }
}

export class RabinFinder implements CutFinder {
  readonly #min: number;
  readonly #avg: number;
  readonly #max: number;
  /** avg - 1 when avg is a power of two (hash % avg is then lo & mask), else -1. */
  readonly #mask: number;
  /** 1 / avg, for reducing modulo a non-power-of-two avg with a multiplication. */
  readonly #inverse: number;
  /** 2^32 mod avg if avg <= 2^26, else -1 (see mod64). */
  readonly #twoPow32Mod: number;
  /** The last 48 bytes seen; `#windowPos` is the oldest (the next to leave). */
  readonly #window = new Uint8Array(WINDOW);
  #windowPos = 0;
  /**
   * The hash as int32 halves. Not maintained while bytes are skipped (`#stale`); the high half is
   * not maintained either when avg is a power of two.
   */
  #hi = 0;
  #lo = 0;
  #stale = false;
  /** Bytes in the current chunk so far. */
  #length = 0;

  constructor(minSize: number, avgSize: number, maxSize: number) {
    // PyRabin's sizes are C `unsigned int`s, and the chunk length a uint32.
    const ok = [minSize, avgSize, maxSize].every((n) => Number.isInteger(n) && n > 0 && n <= 0xffffffff);
    if (!(ok && minSize <= avgSize && avgSize <= maxSize)) {
      throw new RangeError(`Rabin needs integers 0 < min <= avg <= max < 2^32, got ${minSize}/${avgSize}/${maxSize}`);
    }
    this.#min = minSize;
    this.#avg = avgSize;
    this.#max = maxSize;
    this.#mask = avgSize <= 2 ** 31 && (avgSize & (avgSize - 1)) === 0 ? avgSize - 1 : -1;
    this.#inverse = 1 / avgSize;
    this.#twoPow32Mod = avgSize <= 2 ** 26 ? 2 ** 32 % avgSize : -1;
  }

  find(data: Uint8Array, from: number, to: number): number {
    let i = from;
    let length = this.#length;

    // Bytes after which the chunk is still shorter than min cannot end it: only keep the window.
    const skip = Math.min(this.#min - 1 - length, to - i);
    if (skip > 0) {
      this.#absorb(data, i, i + skip);
      i += skip;
      length += skip;
      if (i === to) {
        this.#length = length;
        return -1;
      }
    }
    if (this.#stale) this.#rehash();

    // From here on every byte can end the chunk: roll the hash and test it, up to max.
    const end = Math.min(to, i + (this.#max - length));
    const cut = this.#mask >= 0 ? this.#scanMasked(data, i, end) : this.#scanModulo(data, i, end);
    if (cut >= 0) {
      this.#length = 0;
      return cut;
    }
    length += end - i;
    if (length === this.#max) {
      this.#length = 0;
      return end;
    }
    this.#length = length;
    return -1;
  }

  restart(): void {
    this.#length = 0;
  }

  /** Takes `data[from, to)` into the window without rolling the hash. */
  #absorb(data: Uint8Array, from: number, to: number): void {
    const window = this.#window;
    if (to - from >= WINDOW) {
      window.set(data.subarray(to - WINDOW, to));
      this.#windowPos = 0;
    } else {
      let pos = this.#windowPos;
      for (let j = from; j < to; j++) {
        window[pos] = data[j]!;
        if (++pos === WINDOW) pos = 0;
      }
      this.#windowPos = pos;
    }
    this.#stale = true;
  }

  /** The hash of the window, oldest byte first: h = h * 3 + signed(b). */
  #rehash(): void {
    const window = this.#window;
    let hi = 0;
    let lo = 0;
    let pos = this.#windowPos;
    for (let k = 0; k < WINDOW; k++) {
      const b = window[pos]!;
      if (++pos === WINDOW) pos = 0;
      const twice = lo << 1;
      let sum = (twice + lo) | 0;
      hi = (Math.imul(hi, 3) + (lo >>> 31) + carry(twice, lo, sum)) | 0;
      lo = sum;
      const add = SIGNED_LO[b]!;
      sum = (lo + add) | 0;
      hi = (hi + SIGNED_HI[b]! + carry(lo, add, sum)) | 0;
      lo = sum;
    }
    this.#hi = hi;
    this.#lo = lo;
    this.#stale = false;
  }

  /**
   * Rolls over `data[from, to)` testing `(hash & mask) == 3`, with only the hash's low 32 bits.
   * Returns the index after the cut, or -1.
   */
  #scanMasked(data: Uint8Array, from: number, to: number): number {
    const mask = this.#mask;
    const window = this.#window;
    let pos = this.#windowPos;
    let lo = this.#lo | 0;
    let i = from;
    // The first 48 bytes push out bytes held in the window.
    const head = Math.min(to, from + WINDOW);
    while (i < head) {
      const incoming = data[i++]!;
      const outgoing = window[pos]!;
      window[pos] = incoming;
      if (++pos === WINDOW) pos = 0;
      lo = (Math.imul(lo, 3) + SIGNED_LO[incoming]! + OUT_LO[outgoing]!) | 0;
      if ((lo & mask) === 3) {
        this.#windowPos = pos;
        this.#lo = lo;
        return i;
      }
    }
    // Then the byte leaving is in `data`; the window is refilled on the way out.
    let cut = -1;
    while (i < to) {
      lo = (Math.imul(lo, 3) + SIGNED_LO[data[i]!]! + OUT_LO[data[i - WINDOW]!]!) | 0;
      i++;
      if ((lo & mask) === 3) {
        cut = i;
        break;
      }
    }
    if (i - from > WINDOW) {
      window.set(data.subarray(i - WINDOW, i));
      pos = 0;
    }
    this.#windowPos = pos;
    this.#lo = lo;
    return cut;
  }

  /** Rolls over `data[from, to)` testing `hash % avg == 3` on the full 64-bit hash. */
  #scanModulo(data: Uint8Array, from: number, to: number): number {
    const avg = this.#avg;
    const inverse = this.#inverse;
    const twoPow32Mod = this.#twoPow32Mod;
    const window = this.#window;
    let pos = this.#windowPos;
    let hi = this.#hi | 0;
    let lo = this.#lo | 0;
    for (let i = from; i < to; ) {
      const incoming = data[i++]!;
      const outgoing = window[pos]!;
      window[pos] = incoming;
      if (++pos === WINDOW) pos = 0;
      // hash = hash * 3 + signed(incoming) - signed(outgoing) * 3^48   (mod 2^64)
      const twice = lo << 1;
      let sum = (twice + lo) | 0;
      hi = (Math.imul(hi, 3) + (lo >>> 31) + carry(twice, lo, sum)) | 0;
      lo = sum;
      let add = SIGNED_LO[incoming]!;
      sum = (lo + add) | 0;
      hi = (hi + SIGNED_HI[incoming]! + carry(lo, add, sum)) | 0;
      lo = sum;
      add = OUT_LO[outgoing]!;
      sum = (lo + add) | 0;
      hi = (hi + OUT_HI[outgoing]! + carry(lo, add, sum)) | 0;
      lo = sum;
      if (mod64(hi, lo, avg, inverse, twoPow32Mod) === 3) {
        this.#save(pos, hi, lo);
        return i;
      }
    }
    this.#save(pos, hi, lo);
    return -1;
  }

  #save(pos: number, hi: number, lo: number): void {
    this.#windowPos = pos;
    this.#hi = hi;
    this.#lo = lo;
  }
}

/** The carry (0 or 1) out of the 32-bit addition a + b = sum, all as int32 bit patterns. */
function carry(a: number, b: number, sum: number): number {
  return ((a & b) | ((a | b) & ~sum)) >>> 31;
}

/**
 * (hi * 2^32 + lo) mod m for uint64 halves given as int32, 0 < m < 2^32. `twoPow32Mod` is
 * 2^32 mod m when m <= 2^26 (then (hi mod m) * 2^32 mod m + lo stays below 2^53), else -1: then
 * 16 bits at a time.
 */
function mod64(hi: number, lo: number, m: number, inverse: number, twoPow32Mod: number): number {
  const r = reduce(hi >>> 0, m, inverse);
  if (twoPow32Mod >= 0) return reduce(r * twoPow32Mod + (lo >>> 0), m, inverse);
  return reduce(reduce(r * 65536 + (lo >>> 16), m, inverse) * 65536 + (lo & 0xffff), m, inverse);
}

/** x mod m for an integer 0 <= x < 2^53: the quotient from a multiplication is off by at most one. */
function reduce(x: number, m: number, inverse: number): number {
  const r = x - Math.floor(x * inverse) * m;
  return r < 0 ? r + m : r >= m ? r - m : r;
}
