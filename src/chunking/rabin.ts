import type { CutFinder } from "./types.js";

/**
 * The Rabin-Karp chunker of PyRabin 0.6 (Joel Tucci's rabin-fingerprint-c), which docker_dedup
 * used, reproduced cut for cut (test/chunking/rabin.test.ts compares it with the real package):
 * a 48-byte window, base 3, bytes read as signed chars (x86-64), uint64 wrap-around, a window that
 * is NOT reset at chunk boundaries, and a cut after the current byte when
 * `length >= min && hash % avg == 3`, or when `length == max`.
 *
 * uint64 arithmetic is done on two 32-bit halves held as int32 bit patterns; BigInt would be far
 * slower.
 *
 * Since the window starts zero-filled and the leaving byte's term is removed exactly, the hash is
 * always `sum(signed(b[n-j]) * 3^j, j < 48) mod 2^64`: a function of the last 48 bytes only. So the
 * bytes of a chunk that cannot end it (the first `min - 1`) are not rolled: only the window keeps
 * their last 48, and the hash is rebuilt from it where the cut tests start.
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
    const out = (-(signed * power)) & MASK_64;
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
  /** The last 48 bytes seen; `#windowPos` is the oldest (the next to leave). */
  readonly #window = new Uint8Array(WINDOW);
  #windowPos = 0;
  /** The hash as int32 halves. Not maintained while bytes are skipped (`#stale`). */
  #hi = 0;
  #lo = 0;
  #stale = false;
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
    this.#mask = (avgSize & (avgSize - 1)) === 0 ? avgSize - 1 : -1;
    this.#inverse = 1 / avgSize;
  }

  find(data: Uint8Array, from: number, to: number): number {
    const window = this.#window;
    let i = from;
    let length = this.#length;

    // Bytes after which the chunk is still shorter than min cannot end it: only keep the window.
    const skip = Math.min(this.#min - 1 - length, to - i);
    if (skip > 0) {
      if (skip >= WINDOW) {
        window.set(data.subarray(i + skip - WINDOW, i + skip));
        this.#windowPos = 0;
      } else {
        let pos = this.#windowPos;
        for (let j = i; j < i + skip; j++) {
          window[pos] = data[j]!;
          if (++pos === WINDOW) pos = 0;
        }
        this.#windowPos = pos;
      }
      this.#stale = true;
      i += skip;
      length += skip;
      if (i === to) {
        this.#length = length;
        return -1;
      }
    }
    if (this.#stale) this.#rehash();

    // From here on every byte can end the chunk: roll the hash and test it, up to max.
    const mask = this.#mask;
    const avg = this.#avg;
    const inverse = this.#inverse;
    let pos = this.#windowPos;
    let hi = this.#hi;
    let lo = this.#lo;
    const start = i;
    const end = Math.min(to, i + (this.#max - length));
    while (i < end) {
      const incoming = data[i++]!;
      const outgoing = window[pos]!;
      window[pos] = incoming;
      if (++pos === WINDOW) pos = 0;
      // hash = hash * 3 + signed(incoming) - signed(outgoing) * 3^48   (mod 2^64)
      const l = lo >>> 0;
      hi = (Math.imul(hi, 3) + (l > 0x55555555 ? 1 : 0) + (l > 0xaaaaaaaa ? 1 : 0)) | 0;
      lo = Math.imul(lo, 3);
      let sum = (lo + SIGNED_LO[incoming]!) | 0;
      hi = (hi + SIGNED_HI[incoming]! + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
      lo = sum;
      sum = (lo + OUT_LO[outgoing]!) | 0;
      hi = (hi + OUT_HI[outgoing]! + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
      lo = sum;
      if (mask >= 0 ? (lo & mask) === 3 : mod64(hi, lo, avg, inverse) === 3) {
        this.#save(pos, hi, lo, 0);
        return i;
      }
    }
    length += i - start;
    if (length === this.#max) {
      this.#save(pos, hi, lo, 0);
      return i;
    }
    this.#save(pos, hi, lo, length);
    return -1;
  }

  restart(): void {
    this.#length = 0;
  }

  #save(pos: number, hi: number, lo: number, length: number): void {
    this.#windowPos = pos;
    this.#hi = hi;
    this.#lo = lo;
    this.#length = length;
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
      const l = lo >>> 0;
      hi = (Math.imul(hi, 3) + (l > 0x55555555 ? 1 : 0) + (l > 0xaaaaaaaa ? 1 : 0)) | 0;
      lo = Math.imul(lo, 3);
      const sum = (lo + SIGNED_LO[b]!) | 0;
      hi = (hi + SIGNED_HI[b]! + (sum >>> 0 < lo >>> 0 ? 1 : 0)) | 0;
      lo = sum;
    }
    this.#hi = hi;
    this.#lo = lo;
    this.#stale = false;
  }
}

/** (hi * 2^32 + lo) mod m for uint64 halves given as int32, 0 < m < 2^32: 16 bits at a time. */
function mod64(hi: number, lo: number, m: number, inverse: number): number {
  let r = reduce(hi >>> 0, m, inverse);
  r = reduce(r * 65536 + (lo >>> 16), m, inverse);
  return reduce(r * 65536 + (lo & 0xffff), m, inverse);
}

/** x mod m for an integer 0 <= x < 2^48: the quotient from a multiplication is off by at most one. */
function reduce(x: number, m: number, inverse: number): number {
  const r = x - Math.floor(x * inverse) * m;
  return r < 0 ? r + m : r >= m ? r - m : r;
}
