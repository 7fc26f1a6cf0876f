/**
 * The messages between CodecPool and its workers (codec-worker.ts). Lengths travel as typed
 * arrays, not arrays of numbers: they cross as one copy, not element by element. Every buffer is
 * transferred, and comes back (`input`, and `buffer`) to be reused.
 *
 *   decode   stored chunks back to back in `buffer`, each `lengths[i]` long, to decode and check
 *            against `expectedIds` and `expectedLengths`, followed by the stored forms of the
 *            runs their slices name (`runIds`, one per run, in that order); back: the plain
 *            chunks in `out` (a buffer lent by the pool, large enough) or else in a new
 *            buffer, as `buffer`, each one's length or REJECTED (decode-batch.ts)
 *   encode   plain chunks back to back in `buffer` to compress as the store keeps them
 *            (store/codec.ts) into `out`; back: `out` as `buffer`, each stored form's length,
 *            and with `name`, each chunk's id (its SHA-256) in `ids`
 *   digest   bytes to hash, the whole of `buffer`; back: their SHA-256 in `ids`, and `buffer`
 *            as `input`, untouched
 */
export type ToCodec =
  | { kind: "decode"; id: number; buffer: ArrayBuffer; lengths: Uint32Array; expectedIds: Uint8Array; expectedLengths: Uint32Array; runIds: Uint8Array; out?: ArrayBuffer }
  | { kind: "encode"; id: number; buffer: ArrayBuffer; lengths: Uint32Array; codec: "zstd" | "none"; level: number; out: ArrayBuffer; name: boolean }
  | { kind: "digest"; id: number; buffer: ArrayBuffer };

export interface FromCodec {
  kind: ToCodec["kind"];
  id: number;
  /** The request's `buffer`, handed back. */
  input: ArrayBuffer;
  buffer?: ArrayBuffer;
  lengths?: Int32Array;
  ids?: Uint8Array;
  error?: string;
}
