import { TarBoundaries } from "./tar-boundaries.js";
import type { ChunkerSpec, CutFinder } from "./types.js";
import { createCutFinder } from "./spec.js";

/**
 * Cuts a byte stream into chunks. Pieces may have any size; the cuts are the same as for one
 * buffer. A yielded chunk may be a view into an input piece, so sources must not reuse their
 * buffers (file and socket streams do not).
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  spec: ChunkerSpec,
): AsyncGenerator<Uint8Array> {
  const splitter = new Splitter(createCutFinder(spec), spec.tarAware ? new TarBoundaries(spec.minSize) : undefined);
  for await (const piece of source) yield* splitter.push(piece);
  yield* splitter.end();
}

/** The synchronous core of `chunkStream`, for callers that feed pieces themselves. */
export class Splitter {
  readonly #finder: CutFinder;
  readonly #tar: TarBoundaries | undefined;
  #pending: Uint8Array[] = [];
  #pendingLength = 0;
  /** Absolute offset of the next byte pushed. */
  #offset = 0;

  constructor(finder: CutFinder, tar?: TarBoundaries) {
    this.#finder = finder;
    this.#tar = tar;
  }

  *push(piece: Uint8Array): Generator<Uint8Array> {
    const base = this.#offset;
    this.#offset += piece.length;
    this.#tar?.observe(piece, base);
    let from = 0;
    while (from < piece.length) {
      const forced = this.#nextForcedCut(base + from);
      const limit = forced === undefined ? piece.length : Math.min(piece.length, forced - base);
      const cut = this.#finder.find(piece, from, limit);
      if (cut >= 0) {
        yield this.#take(piece, from, cut);
        from = cut;
      } else if (forced !== undefined && forced - base <= piece.length) {
        this.#tar!.shift();
        this.#finder.restart();
        const chunk = this.#take(piece, from, limit);
        if (chunk.length > 0) yield chunk;
        from = limit;
      } else {
        this.#pending.push(piece.subarray(from));
        this.#pendingLength += piece.length - from;
        from = piece.length;
      }
    }
  }

  *end(): Generator<Uint8Array> {
    if (this.#pendingLength > 0) yield this.#take(new Uint8Array(0), 0, 0);
    this.#finder.restart();
  }

  /** The next forced cut after `position`, dropping any that the content cuts already passed. */
  #nextForcedCut(position: number): number | undefined {
    const tar = this.#tar;
    if (tar === undefined) return undefined;
    const chunkStart = position - this.#pendingLength;
    let next = tar.peek();
    while (next !== undefined && next <= chunkStart) {
      tar.shift();
      next = tar.peek();
    }
    return next;
  }

  #take(piece: Uint8Array, from: number, to: number): Uint8Array {
    if (this.#pendingLength === 0) return piece.subarray(from, to);
    const parts = this.#pending;
    if (to > from) parts.push(piece.subarray(from, to));
    const chunk = Buffer.concat(parts, this.#pendingLength + (to - from));
    this.#pending = [];
    this.#pendingLength = 0;
    return chunk;
  }
}
