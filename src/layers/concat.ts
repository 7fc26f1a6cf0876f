import { createHash } from "node:crypto";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";
import { readBlob, type ReadParts } from "./reconstruct.js";

/**
 * A blob made of stored blobs laid end to end (an upload that came in several requests, each
 * stored as a blob of its own). Its recipe is theirs concatenated, so no chunk is written or read
 * to make it; the caller must know `digest` is right (see `digestOfConcatenation`).
 */
export function concatRecipes(digest: string, parts: readonly Recipe[]): Recipe {
  const lengths = new Uint32Array(parts.reduce((count, part) => count + part.lengths.length, 0));
  let at = 0;
  for (const part of parts) {
    lengths.set(part.lengths, at);
    at += part.lengths.length;
  }
  return {
    digest,
    size: parts.reduce((size, part) => size + part.size, 0),
    ids: parts.flatMap((part) => part.ids),
    lengths,
  };
}

/**
 * The sha256 digest of the parts' bytes laid end to end, read back from the store as a stream;
 * each part's bytes are proven on the way (reconstruct.ts), so a damaged store fails here instead
 * of yielding a digest of wrong bytes.
 */
export async function digestOfConcatenation(store: Store, parts: readonly Recipe[], reading: ReadParts): Promise<string> {
  const hash = createHash("sha256");
  for (const part of parts) {
    for await (const piece of readBlob(store, part, undefined, reading)) hash.update(piece);
  }
  return `sha256:${hash.digest("hex")}`;
}
