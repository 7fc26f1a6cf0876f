import type { ChunkerSpec } from "../chunking/types.js";
import type { ChunkId } from "./chunk-id.js";
import type { Compression } from "./codec.js";
import type { Recipe } from "./recipe.js";

/** A chunk in its stored form: a codec byte and the (possibly compressed) payload. */
export interface StoredChunk {
  id: ChunkId;
  data: Uint8Array;
}

/** Content-addressed chunks. Batch calls are the primary API: one round trip per batch. */
export interface ChunkStore {
  hasChunks(ids: readonly ChunkId[]): Promise<boolean[]>;
  /** The stored form of each chunk; undefined where the store lacks it. */
  getChunks(ids: readonly ChunkId[]): Promise<(Uint8Array | undefined)[]>;
  /** Idempotent. Resolves once the chunks are committed (visible to every reader). */
  putChunks(chunks: readonly StoredChunk[]): Promise<void>;
  scanChunks(): AsyncIterable<StoredChunk>;
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
