import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { isDedupError } from "../errors.js";
import { chunkIdOf, type ChunkId } from "../store/chunk-id.js";
import { decodeChunk, encodeChunk } from "../store/codec.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";
import { decodeGzipForm, GZIP_FORM_PREFIX } from "./gzip/form.js";
import type { Damage } from "./verify.js";

/**
 * Repairs what `verify` found damaged. Each damaged or missing chunk is fetched again from a
 * source that holds it, proven by its id (the SHA-256 of its bytes, so a source need not be
 * trusted), and stored in place of the damaged one; then each damaged blob is read again. What
 * no source gives back is reported as lost, blob by blob, for the layers above to name the
 * repositories and tags it costs.
 */

/** Gives chunks by id (a peer site): each one's stored or plain bytes, undefined where it lacks one. */
export interface ChunkSource {
  name: string;
  chunks(ids: readonly ChunkId[]): AsyncIterable<Uint8Array | undefined>;
}

/** Gives whole blobs by digest (a mirror's upstream): undefined where it cannot. */
export interface WholeBlobSource {
  name: string;
  blob(digest: string): Promise<AsyncIterable<Uint8Array> | undefined>;
}

export interface RepairSources {
  chunks: readonly ChunkSource[];
  blobs: readonly WholeBlobSource[];
}

export interface RepairReport {
  /** Chunks stored again, by the source that gave them. */
  repaired: Map<string, number>;
  /** Damaged blobs that read whole again. */
  healed: string[];
  /** Damaged blobs that still do not, and why. */
  lost: { digest: string; problem: string }[];
}

export async function repairStore(
  store: Store,
  damage: readonly Damage[],
  sources: RepairSources,
  readWhole: (digest: string) => Promise<void>,
  log: (line: string) => void,
): Promise<RepairReport> {
  const report: RepairReport = { repaired: new Map(), healed: [], lost: [] };
  const damagedBlobs = [...new Set(damage.filter((d) => d.kind === "blob").map((d) => d.id))];
  const recipes = new Map<string, Recipe>();
  for (const digest of damagedBlobs) {
    const recipe = await store.getRecipe(digest);
    if (recipe !== undefined) recipes.set(digest, recipe);
  }
  const wanted = new Map<string, ChunkId>();
  for (const d of damage) if (d.kind === "chunk") wanted.set(d.id, Buffer.from(d.id, "hex"));
  for (const recipe of recipes.values()) {
    const held = await store.hasChunks(recipe.ids);
    recipe.ids.forEach((id, i) => held[i] || wanted.set(id.toString("hex"), id));
  }
  const keep = async (source: string, id: ChunkId, plain: Uint8Array): Promise<boolean> => {
    if (!chunkIdOf(plain).equals(id)) return false;
    await store.replaceChunks([{ id, data: encodeChunk(plain, store.settings.compression) }]);
    wanted.delete(id.toString("hex"));
    report.repaired.set(source, (report.repaired.get(source) ?? 0) + 1);
    return true;
  };

  for (const source of sources.chunks) {
    if (wanted.size === 0) break;
    const ids = [...wanted.values()];
    try {
      let i = 0;
      for await (const bytes of source.chunks(ids)) {
        const id = ids[i++]!;
        if (bytes === undefined) continue;
        const plain = plainOf(bytes, id);
        if (plain !== undefined) await keep(source.name, id, plain);
      }
    } catch (error) {
      log(`repair: ${source.name}: ${(error as Error).message}`);
    }
  }

  // Whole blobs, cut along their recipes: a blob stored as chunks is asked for by its digest; the
  // content of a gzip layer, by the layer's digest (the source serves it compressed), inflated.
  const layersOf = new Map<string, string[]>();
  if (wanted.size > 0) {
    for await (const [key, value] of store.scanMeta(GZIP_FORM_PREFIX)) {
      const form = decodeGzipForm(key.slice(GZIP_FORM_PREFIX.length), value);
      layersOf.set(form.content, [...(layersOf.get(form.content) ?? []), form.digest]);
    }
  }
  for (const recipe of recipes.values()) {
    for (const source of sources.blobs) {
      if (!recipe.ids.some((id) => wanted.has(id.toString("hex")))) break;
      for (const [digest, inflate] of [[recipe.digest, false], ...(layersOf.get(recipe.digest) ?? []).map((layer) => [layer, true] as const)] as const) {
        try {
          const bytes = await source.blob(digest);
          if (bytes === undefined) continue;
          await cutAlong(recipe, inflate ? Readable.from(bytes).pipe(createGunzip()) : bytes, async (i, plain) => {
            if (wanted.has(recipe.ids[i]!.toString("hex"))) await keep(source.name, recipe.ids[i]!, plain);
          });
        } catch (error) {
          log(`repair: ${source.name}: ${digest}: ${(error as Error).message}`);
        }
        if (!recipe.ids.some((id) => wanted.has(id.toString("hex")))) break;
      }
    }
  }

  for (const digest of damagedBlobs) {
    try {
      await readWhole(digest);
      report.healed.push(digest);
    } catch (error) {
      if (!isDedupError(error)) throw error;
      report.lost.push({ digest, problem: error.message });
    }
  }
  return report;
}

/** A chunk's plain bytes from what a source sent (stored form or plain), if they are the chunk's. */
function plainOf(bytes: Uint8Array, id: ChunkId): Uint8Array | undefined {
  if (chunkIdOf(bytes).equals(id)) return bytes;
  try {
    const plain = decodeChunk(bytes);
    return chunkIdOf(plain).equals(id) ? plain : undefined;
  } catch {
    return undefined;
  }
}

/** Hands each chunk of `recipe` cut from the blob's bytes, with its index, in order. */
async function cutAlong(recipe: Recipe, bytes: AsyncIterable<Uint8Array>, onChunk: (index: number, plain: Buffer) => Promise<void>): Promise<void> {
  let index = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of bytes) {
    let rest = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (rest.length > 0 && index < recipe.ids.length) {
      const need = recipe.lengths[index]! - pendingBytes;
      const take = rest.subarray(0, need);
      pending.push(take);
      pendingBytes += take.length;
      rest = rest.subarray(take.length);
      if (pendingBytes === recipe.lengths[index]) {
        await onChunk(index++, Buffer.concat(pending));
        pending = [];
        pendingBytes = 0;
      }
    }
    if (index === recipe.ids.length) return;
  }
}
