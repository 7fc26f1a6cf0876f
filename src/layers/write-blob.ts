import { once } from "node:events";
import type { Writable } from "node:stream";
import { finished } from "node:stream/promises";
import type { StoredBlob } from "./blob-service.js";

/**
 * Writes a blob, read and verified, to `out` and ends it, honouring backpressure. Each piece is
 * handed back (`StoredBlob.sent`) once written, so that its buffer is decoded into again: a
 * stream pipeline would leave every batch buffer of the blob to the garbage collector. Fails,
 * with `out` destroyed, if a piece fails (the store is damaged) or `out` does.
 */
export async function writeBlob(blob: StoredBlob, out: Writable): Promise<void> {
  const failed = new Promise<never>((_, reject) => out.once("error", reject));
  failed.catch(() => undefined); // raced below; an error after the end is finished()'s to tell
  try {
    for await (const piece of blob.read()) {
      if (!out.write(piece, (error) => error == null && blob.sent(piece))) await Promise.race([once(out, "drain"), failed]);
    }
    out.end();
    await Promise.race([finished(out), failed]);
  } catch (error) {
    out.destroy(error as Error);
    throw error;
  }
}
