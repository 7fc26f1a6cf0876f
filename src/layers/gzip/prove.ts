import { candidateEncoders, type EncoderSpec } from "../../deflate/encoders.js";
import type { EncodePool } from "./encode-pool.js";
import type { MemberLayout } from "./inflate.js";

/** A stored blob's bytes [start, end) as a stream. */
export type ReadRange = (start: number, end: number) => AsyncIterable<Uint8Array>;

/** The encoder that writes a member's deflate stream exactly, and where (Go) it can be re-created from in parts. */
export interface MemberProof {
  encoder: EncoderSpec;
  checkpoints?: Buffer[];
  /** Candidates tried before it, for the record. */
  tried: number;
}

/** Go checkpoints are taken about this often: parts of this size are re-created on separate threads. */
export const CHECKPOINT_EVERY = 4 << 20;

/**
 * Finds the encoder of the library that writes exactly this member's deflate stream from its
 * uncompressed bytes: the candidates in the order its header suggests, each re-encoding the
 * member and compared with the stored stream as it goes, stopped at the first differing byte
 * (a wrong candidate fails within its first block). A candidate counts only once its whole output
 * equals the whole stream, to the last byte. Undefined if none does: the blob then stays stored
 * as its compressed bytes.
 */
export async function proveMember(pool: EncodePool, member: MemberLayout, content: ReadRange, compressed: ReadRange): Promise<MemberProof | undefined> {
  const candidates = candidateEncoders(member.header);
  for (const [tried, encoder] of candidates.entries()) {
    const checkpoints: Buffer[] = [];
    const expected = new ExpectedBytes(compressed(member.deflateStart, member.deflateStart + member.deflateLength));
    const job = { kind: "stream" as const, spec: encoder, ...(encoder.family === "go" ? { checkpointEvery: CHECKPOINT_EVERY } : {}) };
    let matches = true;
    for await (const event of pool.encode(job, content(member.contentStart, member.contentStart + member.contentLength))) {
      if ("checkpoint" in event) checkpoints.push(Buffer.from(event.checkpoint));
      else if (!(await expected.take(event.output))) {
        matches = false;
        break;
      }
    }
    if (matches && (await expected.atEnd())) return { encoder, tried, ...(checkpoints.length > 0 ? { checkpoints } : {}) };
    await expected.close();
  }
  return undefined;
}

/** The bytes an encoder's output must equal, pulled from a stream as the comparison needs them. */
class ExpectedBytes {
  readonly #source: AsyncIterator<Uint8Array>;
  #held: Uint8Array = new Uint8Array(0);
  #ended = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** Whether `bytes` are the next expected bytes (consumed if so). */
  async take(bytes: Uint8Array): Promise<boolean> {
    let at = 0;
    while (at < bytes.length) {
      if (this.#held.length === 0 && !(await this.#pull())) return false;
      const n = Math.min(this.#held.length, bytes.length - at);
      if (Buffer.compare(bytes.subarray(at, at + n), this.#held.subarray(0, n)) !== 0) return false;
      this.#held = this.#held.subarray(n);
      at += n;
    }
    return true;
  }

  /** Whether every expected byte was taken. */
  async atEnd(): Promise<boolean> {
    return this.#held.length === 0 && !(await this.#pull());
  }

  async close(): Promise<void> {
    if (!this.#ended) await this.#source.return?.();
  }

  async #pull(): Promise<boolean> {
    if (this.#ended) return false;
    const next = await this.#source.next();
    if (next.done) {
      this.#ended = true;
      return false;
    }
    this.#held = next.value;
    return true;
  }
}
