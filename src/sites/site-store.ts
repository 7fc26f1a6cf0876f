import { encodeGzipForm, GZIP_FORM_PREFIX, gzipFormKey } from "../layers/gzip/form.js";
import type { ChunkId } from "../store/chunk-id.js";
import type { Recipe } from "../store/recipe.js";
import type { ChunkEntry, ChunkReadOptions, Store, StoredChunk, StoreSettings, StoreUsage } from "../store/types.js";
import type { RemoteBlobs } from "./fetch/remote-blobs.js";
import type { SiteChanges } from "./log/site-changes.js";
import { isShared } from "./log/site-keys.js";

/**
 * The store a site's registry runs on: its own store, plus the other sites. Putting the sites
 * here rather than in the registry keeps the registry ignorant of them (it serves a tag another
 * site pushed, or streams a blob being fetched, exactly as it serves local ones), and keeps one
 * rule for every path that reads blobs (pulls, manifests, mounts, the seed API):
 *  - writes of shared registry records (log/site-keys.ts) are stamped and logged for the peers;
 *  - a committed recipe is announced: peers learn that this site holds the blob;
 *  - a recipe this site lacks is looked for at the peers, which starts fetching the blob's
 *    missing chunks (fetch/remote-blobs.ts); the recipe is committed here only once the blob verified;
 *  - so is the form of a gzip layer this site lacks (`layers/gzip/<digest>`), held by a peer as its
 *    content: the content's missing chunks are fetched, and the form is stored here only once the
 *    layer, re-created from the content, verified; meanwhile readers get the peer's form and
 *    re-create the layer from the content as it arrives;
 *  - a chunk this site lacks that such a fetch brings is waited for, so a pull streams the blob
 *    while it arrives.
 * Everything else goes straight to the site's own store.
 */
export class SiteStore implements Store {
  readonly #local: Store;
  readonly #changes: SiteChanges;
  readonly #remote: RemoteBlobs;

  constructor(local: Store, changes: SiteChanges, remote: RemoteBlobs) {
    this.#local = local;
    this.#changes = changes;
    this.#remote = remote;
  }

  get location(): string {
    return this.#local.location;
  }

  get putsCommitWhole(): boolean {
    return this.#local.putsCommitWhole;
  }

  get settings(): StoreSettings {
    return this.#local.settings;
  }

  async getRecipe(digest: string): Promise<Recipe | undefined> {
    const recipe = await this.#local.getRecipe(digest);
    if (recipe !== undefined) return recipe;
    // A gzip layer held here as its content and form has no recipe anywhere: nothing to ask the peers.
    if ((await this.#local.getMeta(gzipFormKey(digest))) !== undefined) return undefined;
    return this.#remote.recipe(digest);
  }

  putRecipe(recipe: Recipe): Promise<void> {
    return this.#changes.commitRecipe(recipe);
  }

  async getChunks(ids: readonly ChunkId[], options?: ChunkReadOptions): Promise<(Uint8Array | undefined)[]> {
    const found = await this.#local.getChunks(ids, options);
    const missing = found.flatMap((data, i) => (data === undefined ? [i] : []));
    if (missing.length === 0) return found;
    // A fetch may have stored a chunk and finished between the read above and now: read again then.
    const arrived = await Promise.all(missing.map((i) => this.#remote.arrival(ids[i]!) ?? this.#local.getChunks([ids[i]!]).then(([data]) => data)));
    missing.forEach((i, k) => (found[i] = arrived[k]));
    return found;
  }

  giveBack(chunks: readonly Uint8Array[]): void {
    this.#local.giveBack?.(chunks);
  }

  putMeta(key: string, value: Uint8Array): Promise<void> {
    return isShared(key) ? this.#changes.writeLocal(key, value) : this.#local.putMeta(key, value);
  }

  deleteMeta(key: string): Promise<void> {
    return isShared(key) ? this.#changes.writeLocal(key, null) : this.#local.deleteMeta(key);
  }

  async getMeta(key: string): Promise<Buffer | undefined> {
    const value = await this.#local.getMeta(key);
    if (value !== undefined || !key.startsWith(GZIP_FORM_PREFIX)) return value;
    // A gzip layer's form: its recipe was asked for first, which started its fetch if a peer holds it so.
    const form = await this.#remote.formUnderWay(key.slice(GZIP_FORM_PREFIX.length));
    return form === undefined ? undefined : encodeGzipForm(form);
  }

  scanMeta(prefix: string, after?: string): AsyncIterable<[string, Buffer]> {
    return this.#local.scanMeta(prefix, after);
  }

  hasChunks(ids: readonly ChunkId[]): Promise<boolean[]> {
    return this.#local.hasChunks(ids);
  }

  putChunks(chunks: readonly StoredChunk[]): Promise<void> {
    return this.#local.putChunks(chunks);
  }

  replaceChunks(chunks: readonly StoredChunk[]): Promise<void> {
    return this.#local.replaceChunks(chunks);
  }

  scanChunks(): AsyncIterable<StoredChunk> {
    return this.#local.scanChunks();
  }

  scanChunkEntries(): AsyncIterable<ChunkEntry[]> {
    return this.#local.scanChunkEntries();
  }

  doomChunks(ids: readonly ChunkId[], at: number): Promise<void> {
    return this.#local.doomChunks(ids, at);
  }

  deleteDoomedChunks(ids: readonly ChunkId[], doomedBy: number): Promise<{ chunks: number; bytes: number }> {
    return this.#local.deleteDoomedChunks(ids, doomedBy);
  }

  compact(minLiveShare: number): Promise<{ packs: number; freedBytes: number }> {
    return this.#local.compact(minLiveShare);
  }

  deleteRecipe(digest: string): Promise<void> {
    return this.#local.deleteRecipe(digest);
  }

  scanRecipes(): AsyncIterable<Recipe> {
    return this.#local.scanRecipes();
  }

  sync(): Promise<void> {
    return this.#local.sync();
  }

  usage(): Promise<StoreUsage> {
    return this.#local.usage();
  }

  close(): Promise<void> {
    return this.#local.close();
  }
}
