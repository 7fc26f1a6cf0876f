/**
 * Decoded batch buffers lent to reads (CodecPool.decodeLent), each handed back for reuse once no
 * one needs its bytes. A read that misses the cache decodes a 4 MiB batch at a time; left to the
 * garbage collector, those buffers pile up outside the JS heap faster than V8 collects them (8
 * clients with no cache peaked at 645 MiB, BENCHMARKS.md). A buffer is reused only when both
 * hold: the read has passed every chunk in it (its own batch's, and those it decoded for later
 * batches), and every piece the read yielded from it was handed back by its consumer once its
 * bytes left the process (a response's write callbacks). A piece never handed back (a consumer
 * that keeps it, or does not say) leaves its buffer to the collector: reuse needs a consumer's
 * word, never the lack of it.
 */
export class Loans {
  readonly #loans = new WeakMap<ArrayBufferLike, Loan>();
  readonly #recycle: (buffer: ArrayBuffer) => void;

  constructor(recycle: (buffer: ArrayBuffer) => void) {
    this.#recycle = recycle;
  }

  /** A buffer lent to a read, with `chunks` views of it that the read will pass. */
  lend(buffer: ArrayBuffer, chunks: number): void {
    this.#loans.set(buffer, { buffer, unpassed: chunks, unreturned: 0 });
  }

  /** A piece the read will yield, a view of a lent buffer or not: in use until returned. */
  yielding(piece: Uint8Array): void {
    const loan = this.#loans.get(piece.buffer);
    if (loan !== undefined) loan.unreturned++;
  }

  /** The read is done with a chunk (its pieces are counted by `yielding` first). */
  passed(chunk: Uint8Array): void {
    const loan = this.#loans.get(chunk.buffer);
    if (loan === undefined) return;
    loan.unpassed--;
    this.#settle(loan);
  }

  /** A yielded piece whose bytes are no longer needed by anyone. */
  returned(piece: Uint8Array): void {
    const loan = this.#loans.get(piece.buffer);
    if (loan === undefined) return;
    loan.unreturned--;
    this.#settle(loan);
  }

  #settle(loan: Loan): void {
    if (loan.unpassed > 0 || loan.unreturned > 0) return;
    this.#loans.delete(loan.buffer);
    this.#recycle(loan.buffer);
  }
}

interface Loan {
  buffer: ArrayBuffer;
  unpassed: number;
  unreturned: number;
}
