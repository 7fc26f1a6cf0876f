/**
 * A content-defined cut-point finder. It is stateful so that input can arrive in pieces of any
 * size and still give the same cuts as one buffer: bytes it scans without finding a cut are
 * absorbed into its state and belong to the chunk that the next cut closes.
 */
export interface CutFinder {
  /**
   * Scans `data[from, to)`. Returns the index just past the first cut (the chunk ends there and
   * the finder starts the next one), or -1 when no cut lies in the range.
   */
  find(data: Uint8Array, from: number, to: number): number;
  /** The caller ended the current chunk at the current position (a forced cut, e.g. a tar entry). */
  restart(): void;
}

export type ChunkAlgorithm = "fastcdc" | "rabin" | "fixed";

/** Everything that decides where chunks are cut. Stored with the store: cuts are part of its format. */
export interface ChunkerSpec {
  algorithm: ChunkAlgorithm;
  /** Smallest chunk a content cut may produce (forced cuts may make smaller ones). */
  minSize: number;
  /** Target average (FastCDC: the mask's bit count; Rabin: the modulus; fixed: the chunk size). */
  avgSize: number;
  maxSize: number;
  /** Also cut at the start and end of every large enough tar entry's data. */
  tarAware: boolean;
}
