import type { ServerResponse } from "node:http";

/**
 * The most bytes written to a response between two yields to the event loop. They cost the
 * main thread their copy into the socket (about 0.15 ms at this size); when the
 * client reads fast, a socket takes every write at once and a stream that never waits would keep
 * the event loop until its blob is sent, while requests for manifests and small blobs wait.
 */
const SLICE_BYTES = 256 * 1024;

/** Responses up to this size go out without yielding: the small lane, done in one turn. */
const SMALL_RESPONSE_BYTES = 4 << 20;

/**
 * Writes `pieces` to `res` and ends it, honouring backpressure, and yields to the event loop
 * after every SLICE_BYTES written, so that many large responses take turns with each other and
 * with new requests (a 1 MiB blob's first byte does not wait for another client's 100 MiB layer).
 * Responses of at most SMALL_RESPONSE_BYTES (`size`) never yield: they are the small lane.
 * Rejects if the response closes early or a piece fails; the caller then cuts the connection.
 * `written` is told of each piece once all its bytes were written to the socket (its buffer may
 * then be reused); of none written only in part.
 */
export async function sendPieces(res: ServerResponse, size: number, pieces: AsyncIterable<Uint8Array>, first?: Uint8Array, written?: (piece: Uint8Array) => void): Promise<void> {
  const takesTurns = size > SMALL_RESPONSE_BYTES;
  const closed = new Promise<never>((_, reject) => res.once("close", () => reject(Object.assign(new Error("the client went away"), { code: "ERR_STREAM_PREMATURE_CLOSE" }))));
  closed.catch(() => undefined);
  // Pieces written before the stream next waits go out together (corked until the pending
  // callbacks have run: one writev), however small each is: the chunks of a blob served from the
  // cache are separate buffers of about 16 KiB.
  let corked = false;
  const writeCorked = (slice: Uint8Array, done?: (error?: Error | null) => void): boolean => {
    if (!corked) {
      corked = true;
      res.cork();
      process.nextTick(() => {
        corked = false;
        res.uncork();
      });
    }
    return res.write(slice, done);
  };
  let sinceTurn = 0;
  const write = async (piece: Uint8Array) => {
    for (let at = 0; at < piece.length; at += SLICE_BYTES) {
      if (res.destroyed) throw Object.assign(new Error("the client went away"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
      const slice = piece.length <= SLICE_BYTES ? piece : piece.subarray(at, at + SLICE_BYTES);
      sinceTurn += slice.length;
      // Writes complete in order: the last slice's callback is the whole piece's.
      const last = at + SLICE_BYTES >= piece.length;
      const done = last && written !== undefined ? (error?: Error | null) => error == null && written(piece) : undefined;
      if (!writeCorked(slice, done)) {
        await Promise.race([new Promise((resolve) => res.once("drain", resolve)), closed]);
        sinceTurn = 0;
      } else if (takesTurns && sinceTurn >= SLICE_BYTES) {
        await new Promise((resolve) => setImmediate(resolve));
        sinceTurn = 0;
      }
    }
  };
  if (first !== undefined) await write(first);
  for await (const piece of pieces) await write(piece);
  await new Promise<void>((resolve, reject) => {
    res.end(() => resolve());
    closed.catch(reject);
  });
}
