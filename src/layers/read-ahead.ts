/**
 * Decoded bytes that the reads of one process fetch ahead of their consumers, bounded in total:
 * each read decodes a few batches ahead (layers/reconstruct.ts), and without a bound a hundred
 * clients pulling at once would hold a hundred times that. A read may always have one batch on
 * the way (so every read moves on); more only while the budget has room.
 */
export class ReadAheadBudget {
  readonly #limit: number;
  #used = 0;

  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  /** Bytes held now. */
  get used(): number {
    return this.#used;
  }

  /** Takes `bytes` if they fit. */
  tryTake(bytes: number): boolean {
    if (this.#used + bytes > this.#limit) return false;
    this.#used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#used -= bytes;
  }
}
