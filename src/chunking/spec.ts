import { FastCdcFinder } from "./fastcdc.js";
import { FixedSizeFinder } from "./fixed.js";
import { RabinFinder } from "./rabin.js";
import type { ChunkerSpec, CutFinder } from "./types.js";

export function createCutFinder(spec: ChunkerSpec): CutFinder {
  switch (spec.algorithm) {
    case "fastcdc":
      return new FastCdcFinder(spec.minSize, spec.avgSize, spec.maxSize);
    case "rabin":
      return new RabinFinder(spec.minSize, spec.avgSize, spec.maxSize);
    case "fixed":
      return new FixedSizeFinder(spec.avgSize);
  }
}

/** The default, chosen by measurement on the Debian image family (BENCHMARKS.md). */
export const DEFAULT_CHUNKER: ChunkerSpec = Object.freeze({
  algorithm: "fastcdc",
  minSize: 4 * 1024,
  avgSize: 16 * 1024,
  maxSize: 64 * 1024,
  tarAware: true,
});

export function validateSpec(spec: ChunkerSpec): ChunkerSpec {
  const { minSize, avgSize, maxSize } = spec;
  const ints = [minSize, avgSize, maxSize].every((n) => Number.isInteger(n) && n > 0 && n <= 1 << 30);
  if (!ints || minSize > avgSize || avgSize > maxSize) {
    throw new RangeError(`chunk sizes must be integers with 0 < min <= avg <= max, got ${minSize}/${avgSize}/${maxSize}`);
  }
  return spec;
}
