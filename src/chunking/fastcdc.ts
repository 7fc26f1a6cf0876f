import { GEAR } from "./gear.js";
import type { CutFinder } from "./types.js";

/**
 * FastCDC (Xia et al., USENIX ATC 2016) with normalized chunking at level 2: a Gear rolling hash,
 * no hashing of the first `minSize` bytes of a chunk, a stricter mask before the normal point and
 * a looser one after it, and a hard cut at `maxSize`.
 *
 * The hash is 32 bits wide (JavaScript has no cheap 64-bit integers), so the masks take the high
 * bits: bit k of a Gear hash depends on the last k+1 bytes, and high bits see the widest window.
 */
export class FastCdcFinder implements CutFinder {
  readonly #min: number;
  readonly #normal: number;
  readonly #max: number;
  readonly #maskStrict: number;
  readonly #maskLoose: number;
  #hash = 0;
  #length = 0;

  constructor(minSize: number, avgSize: number, maxSize: number) {
    if (!(minSize > 0 && minSize <= avgSize && avgSize <= maxSize)) {
      throw new RangeError(`FastCDC needs 0 < min <= avg <= max, got ${minSize}/${avgSize}/${maxSize}`);
    }
    const bits = Math.round(Math.log2(avgSize));
    this.#maskStrict = highMask(bits + 2);
    this.#maskLoose = highMask(Math.max(1, bits - 2));
    this.#min = minSize;
    this.#max = maxSize;
    // Skipping `min` bytes and the strict mask push the mean chunk above `avg`; switching masks
    // at 3/4 of avg brings the measured mean back close to avg (see BENCHMARKS.md).
    this.#normal = Math.min(maxSize, Math.max(minSize, Math.round((avgSize * 3) / 4)));
  }

  find(data: Uint8Array, from: number, to: number): number {
    let i = from;
    let length = this.#length;
    if (length < this.#min) {
      const skip = Math.min(this.#min - length, to - i);
      i += skip;
      length += skip;
      if (length < this.#min) {
        this.#length = length;
        return -1;
      }
    }
    const gear = GEAR;
    let hash = this.#hash;
    if (length < this.#normal) {
      const mask = this.#maskStrict;
      const end = Math.min(to, i + (this.#normal - length));
      const phaseStart = i;
      while (i < end) {
        hash = ((hash << 1) + gear[data[i++]!]!) | 0;
        if ((hash & mask) === 0) return this.#cut(i);
      }
      length += i - phaseStart;
    }
    const mask = this.#maskLoose;
    const end = Math.min(to, i + (this.#max - length));
    const phaseStart = i;
    while (i < end) {
      hash = ((hash << 1) + gear[data[i++]!]!) | 0;
      if ((hash & mask) === 0) return this.#cut(i);
    }
    length += i - phaseStart;
    if (length >= this.#max) return this.#cut(i);
    this.#hash = hash;
    this.#length = length;
    return -1;
  }

  restart(): void {
    this.#hash = 0;
    this.#length = 0;
  }

  #cut(end: number): number {
    this.#hash = 0;
    this.#length = 0;
    return end;
  }
}

function highMask(bits: number): number {
  return (((2 ** bits - 1) * 2 ** (32 - bits)) | 0);
}
