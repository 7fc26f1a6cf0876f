import type { MetadataStore } from "../../store/types.js";
import { decodeBitmap, encodeBitmap } from "../wire/peer-protocol.js";
import { siteKeys } from "./site-keys.js";

/**
 * What this site knows about where blobs and chunks are, persisted in its metadata:
 * which sites hold a whole blob (announced in their change logs, or seen serving its recipe),
 * and which of a blob's chunks a peer said it holds (a `has` answer, kept as a bitmap in
 * recipe order, so that a pull retried later does not ask again).
 */
export class ChunkLocations {
  readonly #meta: MetadataStore;

  constructor(meta: MetadataStore) {
    this.#meta = meta;
  }

  /** Records that `site` holds the whole blob; true if that was news. */
  async recordHolds(site: string, digest: string): Promise<boolean> {
    const key = siteKeys.holds(site, digest);
    if ((await this.#meta.getMeta(key)) !== undefined) return false;
    await this.#meta.putMeta(key, Buffer.alloc(0));
    return true;
  }

  /** Which of `sites` hold the whole blob, as far as this site knows. */
  async holdersOf(digest: string, sites: readonly string[]): Promise<string[]> {
    const known = await Promise.all(sites.map(async (site) => (await this.#meta.getMeta(siteKeys.holds(site, digest))) !== undefined));
    return sites.filter((_, i) => known[i]);
  }

  async recordHas(peer: string, digest: string, held: readonly boolean[]): Promise<void> {
    await this.#meta.putMeta(siteKeys.has(peer, digest), encodeBitmap(held));
  }

  /** A peer's recorded `has` answer for the blob's chunks (in recipe order), if any. */
  async recordedHas(peer: string, digest: string, chunkCount: number): Promise<boolean[] | undefined> {
    const bitmap = await this.#meta.getMeta(siteKeys.has(peer, digest));
    return bitmap === undefined || bitmap.length !== Math.ceil(chunkCount / 8) ? undefined : decodeBitmap(bitmap, chunkCount);
  }
}
