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
  // V8 optimizes `find` once it is hot, with the type feedback it has seen. A property access on
  // a path that had not run by then (a cut at max, the end of a piece) has none, and each time
  // such a path ran the optimized code was thrown away (a "soft" deopt, hundreds per `add`).
  // Hence every property read on entry and written at the one exit, and plain properties (a
  // #field or #method is a keyed access of its own).
  private readonly min: number;
  private readonly normal: number;
  private readonly max: number;
  private readonly maskStrict: number;
  private readonly maskLoose: number;
  private hash = 0;
  private length = 0;

  constructor(minSize: number, avgSize: number, maxSize: number) {
    if (!(minSize > 0 && minSize <= avgSize && avgSize <= maxSize)) {
      throw new RangeError(`FastCDC needs 0 < min <= avg <= max, got ${minSize}/${avgSize}/${maxSize}`);
    }
    const bits = Math.round(Math.log2(avgSize));
    this.maskStrict = highMask(bits + 2);
    this.maskLoose = highMask(Math.max(1, bits - 2));
    this.min = minSize;
    this.max = maxSize;
    // Skipping `min` bytes and the strict mask push the mean chunk above `avg`; switching masks
    // at 3/4 of avg brings the measured mean back close to avg (see BENCHMARKS.md).
    this.normal = Math.min(maxSize, Math.max(minSize, Math.round((avgSize * 3) / 4)));
  }

  find(data: Uint8Array, from: number, to: number): number {
    // Every property is read here and written at the one exit, on paths that every call takes.
    const { min, normal, max, maskStrict, maskLoose } = this;
    let i = from;
    let length = this.length;
    let hash = this.hash;
    let cut = -1;
    if (length < min) {
      const skip = Math.min(min - length, to - i);
      i += skip;
      length += skip;
    }
    if (length >= min) {
      // One loop for both masks: the strict mask up to the normal point, then the loose one up to max.
      const gear = GEAR;
      let strict = length < normal;
      let mask = strict ? maskStrict : maskLoose;
      let limit = strict ? normal : max;
      scan: for (;;) {
        const end = Math.min(to, i + (limit - length));
        const phaseStart = i;
        while (i < end) {
          hash = ((hash << 1) + gear[data[i]!]!) | 0;
          i++;
          if ((hash & mask) === 0) {
            cut = i;
            break scan;
          }
        }
        length += i - phaseStart;
        if (!strict || length < limit) break;
        strict = false;
        mask = maskLoose;
        limit = max;
      }
      const atMax = length >= max;
      if (cut < 0 && atMax) cut = i;
    }
    if (cut >= 0) {
      hash = 0;
      length = 0;
    }
    this.hash = hash;
    this.length = length;
    return cut;
  }

  restart(): void {
    this.hash = 0;
    this.length = 0;
  }
}

/**
 * Runs every path of `find` (cuts in either phase and at max, input ending in each phase) on a
 * small finder, so that V8 has seen them all before it optimizes `find` for the real data.
 * Without this, the optimized code lacked type feedback for the rarer paths and was thrown away
 * each time one ran (328 times in one `add` of the benchmark's dataset).
 */
function warmUp(): void {
  const data = Buffer.alloc(1 << 16);
  let x = 0x9e3779b9;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  data.fill(0, 1 << 15, (1 << 15) + 4096); // a run of zeros: no content cut, so cuts at max
  for (const piece of [7, 100, 1000, data.length]) {
    const finder = new FastCdcFinder(64, 256, 1024);
    for (let at = 0; at < data.length; at += piece) {
      const end = Math.min(data.length, at + piece);
      for (let from = at; from < end; ) {
        const cut = finder.find(data, from, end);
        if (cut < 0) break;
        from = cut;
      }
    }
  }
}
warmUp();

function highMask(bits: number): number {
  return (((2 ** bits - 1) * 2 ** (32 - bits)) | 0);
}
