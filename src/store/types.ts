import type { ChunkerSpec } from "../chunking/types.js";
import type { ChunkId } from "./chunk-id.js";
import type { Compression } from "./codec.js";
import type { Recipe } from "./recipe.js";

/** A chunk in its stored form: a codec byte and the (possibly compressed) payload. */
export interface StoredChunk {
  id: ChunkId;
  data: Uint8Array;
}

/** A chunk as garbage collection sees it: no bytes, only its size and whether it is doomed. */
export interface ChunkEntry {
  id: ChunkId;
  storedLength: number;
  /** When it was doomed (ms since the epoch); absent for a live chunk. */
  doomedAt?: number;
}

/** How getChunks may hand its chunks over. */
export interface ChunkReadOptions {
  /**
   * The caller hands every chunk back with `giveBack` once it is done with its bytes, so the
   * store may read them into memory it reuses (a read of a large blob would otherwise leave its
   * whole stored size to the garbage collector). A chunk never handed back leaves its memory to
   * the collector, as without this.
   */
  lend?: boolean;
}

/**
 * Content-addressed chunks. Batch calls are the primary API: one round trip per batch.
 *
 * Garbage collection deletes chunks in two phases, so that it never takes a chunk from under
 * an ingest that counted on it: a chunk no blob needs is first *doomed* (still read, but
 * `hasChunks` answers false, so an ingest writes it again, which makes it live), and deleted only
 * if it is still doomed a grace period later, and still needed by nothing.
 */
export interface ChunkStore {
  /**
   * Whether the chunks of one `putChunks` call become visible together, in one commit (the
   * embedded store's LMDB transaction): then chunks that must be committed before others that
   * name them (a run before its slices) may share a call with them; else they take a call first.
   */
  readonly putsCommitWhole: boolean;
  /** Whether each chunk is stored and live (a doomed chunk counts as absent: write it again). */
  hasChunks(ids: readonly ChunkId[]): Promise<boolean[]>;
  /** The stored form of each chunk, doomed or not; undefined where the store lacks it. */
  getChunks(ids: readonly ChunkId[], options?: ChunkReadOptions): Promise<(Uint8Array | undefined)[]>;
  /**
   * Takes back chunks that a lending getChunks returned, each once, when no one needs their bytes
   * any more: their memory may be read into again. Only stores that lend have it.
   */
  giveBack?(chunks: readonly Uint8Array[]): void;
  /** Idempotent; makes doomed chunks live again. Resolves once the chunks are committed (visible to every reader). */
  putChunks(chunks: readonly StoredChunk[]): Promise<void>;
  /**
   * Stores these chunks even where the id is present, pointing the index at the new bytes: a
   * repair of chunks whose stored bytes were found damaged. Resolves once committed.
   */
  replaceChunks(chunks: readonly StoredChunk[]): Promise<void>;
  scanChunks(): AsyncIterable<StoredChunk>;
  /** Every chunk, doomed or not, in batches, without its bytes. */
  scanChunkEntries(): AsyncIterable<ChunkEntry[]>;
  /** Dooms the live chunks among `ids`, as of `at` (ms since the epoch). */
  doomChunks(ids: readonly ChunkId[], at: number): Promise<void>;
  /** Deletes those of `ids` that are doomed since `doomedBy` or before; how many, and their stored bytes. */
  deleteDoomedChunks(ids: readonly ChunkId[], doomedBy: number): Promise<{ chunks: number; bytes: number }>;
  /**
   * Gives back the space deleted chunks held, where the backend keeps chunks in packs: packs
   * whose live share fell under `minLiveShare` are rewritten (their live records copied, the
   * index pointed at the copies, the old pack removed) while reads and writes go on.
   */
  compact(minLiveShare: number): Promise<{ packs: number; freedBytes: number }>;
}

/** Blob digest -> recipe. A recipe is written only after all of its chunks are committed. */
export interface RecipeStore {
  getRecipe(digest: string): Promise<Recipe | undefined>;
  putRecipe(recipe: Recipe): Promise<void>;
  deleteRecipe(digest: string): Promise<void>;
  scanRecipes(): AsyncIterable<Recipe>;
}

/** Small keyed records for the layers above (registry repositories, tags, uploads, settings). */
export interface MetadataStore {
  getMeta(key: string): Promise<Buffer | undefined>;
  putMeta(key: string, value: Uint8Array): Promise<void>;
  deleteMeta(key: string): Promise<void>;
  /** Entries whose key starts with `prefix`, in key order; with `after`, only keys greater than it. */
  scanMeta(prefix: string, after?: string): AsyncIterable<[string, Buffer]>;
}

/** How a store cuts and encodes chunks. Fixed when the store is created and kept with it. */
export interface StoreSettings {
  chunker: ChunkerSpec;
  compression: Compression;
  chunkHash: "sha256";
}

export interface StoreUsage {
  /** Bytes the backend occupies on disk (or in memory), where it can tell. */
  backendBytes: number;
  /** What `backendBytes` measures, for people: "disk", "Redis memory". */
  backendKind: string;
}

export interface Store extends ChunkStore, RecipeStore, MetadataStore {
  /** Where the store lives, for messages (a path or a URL without credentials). */
  readonly location: string;
  readonly settings: StoreSettings;
  /** Resolves when everything committed so far is durable (survives a power cut). */
  sync(): Promise<void>;
  usage(): Promise<StoreUsage>;
  close(): Promise<void>;
}
