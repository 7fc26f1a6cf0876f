import type { EncoderSpec } from "../../deflate/encoders.js";

/**
 * What an encode worker is asked to write (encode-pool.ts): a whole deflate stream, or a part of
 * one that can be encoded on its own, so that a long stream is re-created on several threads:
 *
 *   stream         the whole stream of `spec` over its input; with `checkpointEvery` (Go only) it
 *                  also reports go-flate checkpoints, where parts can later start and end
 *   go-part        Go's stream from checkpoint `from` (null: the start) to `to` (null: the end);
 *                  `preceding` is the 32 KiB of input before `from`, the input starts at `from`
 *                  and must run 64 KiB past `to` (or to the end)
 *   pgzip-part     whole pgzip blocks, the first primed with `dictionary` (the tail of the block
 *                  before); `last`: the part ends the stream (it is closed)
 */
export type EncodeJob =
  | { kind: "stream"; spec: EncoderSpec; checkpointEvery?: number }
  | { kind: "go-part"; level: number; from: Uint8Array | null; to: Uint8Array | null; preceding: Uint8Array }
  | { kind: "pgzip-part"; level: number; blockSize: number; dictionary: Uint8Array; last: boolean };

export type ToEncoder =
  | { type: "start"; job: number; work: EncodeJob }
  | { type: "input"; job: number; bytes: Uint8Array }
  | { type: "end"; job: number };

export type FromEncoder =
  | { type: "output"; job: number; bytes: Uint8Array }
  | { type: "checkpoint"; job: number; bytes: Uint8Array }
  /** An input piece was taken: the next may come. */
  | { type: "took"; job: number }
  | { type: "done"; job: number }
  | { type: "failed"; job: number; message: string };
