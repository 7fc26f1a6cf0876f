/**
 * The messages between CodecPool and its workers (codec-worker.ts). Lengths travel as typed
 * arrays, not arrays of numbers: they cross as one copy, not element by element. Every buffer is
 * transferred, and comes back (`input`, and `buffer`) to be reused.
 *
 *   decode   stored chunks back to back in `buffer`, each `lengths[i]` long, to decode and check
 *            against `expectedIds` and `expectedLengths`; back: the plain chunks in a new
 *            `buffer`, each one's length or REJECTED (decode-batch.ts)
 *   encode   plain chunks back to back in `buffer` to compress as the store keeps them
 *            (store/codec.ts) into `out`; back: `out` as `buffer`, each stored form's length
 */
export type ToCodec =
  | { kind: "decode"; id: number; buffer: ArrayBuffer; lengths: Uint32Array; expectedIds: Uint8Array; expectedLengths: Uint32Array }
  | { kind: "encode"; id: number; buffer: ArrayBuffer; lengths: Uint32Array; codec: "zstd" | "none"; level: number; out: ArrayBuffer };

export interface FromCodec {
  kind: ToCodec["kind"];
  id: number;
  /** The request's `buffer`, handed back. */
  input: ArrayBuffer;
  buffer?: ArrayBuffer;
  lengths?: Int32Array;
  error?: string;
}
