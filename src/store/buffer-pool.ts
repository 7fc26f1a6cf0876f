/**
 * Free buffers of one size, kept for reuse by this thread: an ingest's batches would otherwise
 * allocate hundreds of MB of short-lived buffers outside the JS heap, and V8 answers such
 * external allocation with a full garbage collection every few dozen MB.
 */
export class BufferPool {
  readonly #size: number;
  readonly #keep: number;
  readonly #free: Buffer[] = [];
  /** Takes answered with a buffer handed back. */
  reused = 0;

  constructor(size: number, keep: number) {
    this.#size = size;
    this.#keep = keep;
  }

  /** A buffer of at least `min` bytes (the pool's size unless more is asked), contents undefined. */
  take(min = 0): Buffer {
    if (min > this.#size) return Buffer.allocUnsafeSlow(min);
    const free = this.#free.pop();
    if (free === undefined) return Buffer.allocUnsafeSlow(this.#size);
    this.reused++;
    return free;
  }

  /** Hands a buffer back: the caller and everyone it lent views to are done with it. */
  give(buffer: Buffer): void {
    if (buffer.length === this.#size && this.#free.length < this.#keep) this.#free.push(buffer);
  }
}
