// Conveniences over GoFlateEncoder: one-shot compression, and the encoding of one segment between
// two checkpoints (an addition; not in Go).

import type { GoFlateCheckpoint } from "./checkpoint.js";
import { GoFlateEncoder, type GoFlateOptions } from "./deflate.js";

/** The deflate stream of `input` at `level`, as Go's compress/flate writes it. */
export function goDeflate(level: number, input: Uint8Array, options: GoFlateOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  const enc = new GoFlateEncoder(level, (b) => {
    parts.push(b.slice());
    total += b.length;
  }, options);
  enc.write(input);
  enc.close();
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Re-creates the part of a deflate stream between two checkpoints of it: `from` (null: the start)
 * and `to` (null: the end). `input` holds the stream's input bytes from offset `inputBase` on; it
 * must cover from the 32 KiB before from.inputOffset to 64 KiB past to.inputOffset (or to the end
 * of the input when `to` is null or near the end). The sink receives the stream's bytes
 * floor(from.outputBits / 8) .. floor(to.outputBits / 8) - 1 (to the end when `to` is null), so
 * the segments of consecutive checkpoints, concatenated, are the whole stream. options.shiftEarlyAt
 * must be the one the stream was made with.
 */
export function encodeSegment(
  level: number,
  input: Uint8Array,
  inputBase: number,
  from: GoFlateCheckpoint | null,
  to: GoFlateCheckpoint | null,
  sink: (bytes: Uint8Array) => void,
  options: Pick<GoFlateOptions, "shiftEarlyAt"> = {},
): void {
  const start = from?.inputOffset ?? 0;
  if (start < inputBase || start > inputBase + input.length) throw new RangeError("go-flate: the input does not cover the segment's start");
  let enc: GoFlateEncoder;
  if (from === null) enc = new GoFlateEncoder(level, sink, { ...options, until: to });
  else {
    if (from.level !== (level === -1 ? 6 : level)) throw new RangeError("go-flate: checkpoint of another level");
    enc = GoFlateEncoder.resumeFrom(from, input.subarray(0, start - inputBase), sink, { ...options, until: to });
  }
  const step = 1 << 16;
  for (let at = start - inputBase; at < input.length && !enc.done; at += step) enc.write(input.subarray(at, Math.min(input.length, at + step)));
  if (to === null) enc.close();
  else if (!enc.done) throw new RangeError("go-flate: the input ends before the segment's end checkpoint");
}
