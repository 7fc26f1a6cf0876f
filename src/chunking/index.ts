export type { ChunkAlgorithm, ChunkerSpec, CutFinder } from "./types.js";
export { chunkStream, Splitter } from "./stream.js";
export { createCutFinder, DEFAULT_CHUNKER, SEED_CHUNKER, validateSpec } from "./spec.js";
export { TarBoundaries } from "./tar-boundaries.js";
