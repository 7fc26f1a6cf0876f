import type { CutFinder } from "./types.js";

/** Fixed-size chunks, as the original Nitro cut its VM images. */
export class FixedSizeFinder implements CutFinder {
  readonly #size: number;
  #length = 0;

  constructor(size: number) {
    if (!(size > 0)) throw new RangeError(`fixed chunk size must be positive, got ${size}`);
    this.#size = size;
  }

  find(_data: Uint8Array, from: number, to: number): number {
    const need = this.#size - this.#length;
    if (to - from >= need) {
      this.#length = 0;
      return from + need;
    }
    this.#length += to - from;
    return -1;
  }

  restart(): void {
    this.#length = 0;
  }
}
