import { availableParallelism } from "node:os";
import { DedupError } from "../errors.js";
import type { Recipe } from "../store/recipe.js";
import { summarizeStore, type StoreSummary } from "../store/summary.js";
import type { Store } from "../store/types.js";
import { ChunkCache } from "./chunk-cache.js";
import { ChunkClaims } from "./claims.js";
import { concatRecipes, digestOfConcatenation } from "./concat.js";
import { DecodePool } from "./decode-pool.js";
import { IngestBuffers, ingestBlob, type IngestResult } from "./ingest.js";
import { IngestPool } from "./ingest-pool.js";
import { readBlob, type ByteRange, type ReadParts } from "./reconstruct.js";
import type { BlobSource } from "./sources.js";
import { verifyStore, type Damage } from "./verify.js";

/**
 * The front door of layers/: everything above (the registry, sites, seed import, the CLI) stores,
 * reads and checks blobs here, never through the chunk machinery behind it. A service is built
 * once at the edge, from a store and the parts it shares with the other services of its process
 * (BlobParts), and wires nothing of its own into module state.
 */

export interface BlobPartsOptions {
  /** Bytes of decoded chunks kept for warm reads (0: none, as one-shot commands want). */
  chunkCacheBytes: number;
  /** Threads decompressing chunks for reads (default: one per core). */
  decodeThreads?: number;
}

/**
 * What the blob services of one process share: the chunk cache (a site's fetches fill it for the
 * pulls that wait on them), the decode threads, the record of recipes verified by reading them
 * whole, and the buffers ingests reuse.
 */
export class BlobParts implements ReadParts {
  readonly cache: ChunkCache;
  readonly decoder: DecodePool;
  readonly verified = new WeakSet<Recipe>();
  readonly ingestBuffers = new IngestBuffers();

  constructor(options: BlobPartsOptions) {
    this.cache = new ChunkCache(options.chunkCacheBytes);
    this.decoder = new DecodePool(options.decodeThreads ?? availableParallelism());
  }

  async close(): Promise<void> {
    await this.decoder.close();
  }
}

/** A stored blob, found: its size, and its bytes (or a range of them) to read, verified. */
export interface StoredBlob {
  readonly digest: string;
  readonly size: number;
  /** The bytes in [range.start, range.end] (all without a range), each one checked before it is yielded or the stream fails. */
  read(range?: ByteRange): AsyncGenerator<Buffer>;
}

export interface IngestOptions {
  /** The digest the caller states: a blob that differs is refused (DIGEST_MISMATCH), nothing committed. */
  expectedDigest?: string;
  /** Called once the whole source is read, before the last chunks and the recipe are committed. */
  onInputDone?: () => void;
}

export class BlobService {
  readonly #store: Store;
  readonly #parts: BlobParts;
  /** Who writes which chunk among this process's ingests into the store (threads included). */
  readonly #claims: ChunkClaims;
  #pool: IngestPool | undefined;

  constructor(store: Store, parts: BlobParts) {
    this.#store = store;
    this.#parts = parts;
    this.#claims = new ChunkClaims(store);
  }

  /** Where the blobs live, for messages. */
  get location(): string {
    return this.#store.location;
  }

  /** Stores a blob from a stream; resolves once it is durable (a crash after this loses nothing). */
  ingest(source: AsyncIterable<Uint8Array>, options: IngestOptions = {}): Promise<IngestResult> {
    return ingestBlob(this.#store, source, { ...options, claims: this.#claims, buffers: this.#parts.ingestBuffers, cache: this.#parts.cache });
  }

  /**
   * Stores blobs read from files, in worker threads (one blob per core at a time); one promise
   * per source, in order. `onBytes` hears of the bytes read as they are.
   */
  ingestFiles(sources: readonly BlobSource[], onBytes?: (bytes: number) => void): Promise<IngestResult>[] {
    this.#pool ??= new IngestPool(this.#store, this.#claims, Math.min(sources.length, availableParallelism()));
    return sources.map((source) => this.#pool!.ingest(source, onBytes));
  }

  /** The blob `digest`, if the store can rebuild it. */
  async open(digest: string): Promise<StoredBlob | undefined> {
    const recipe = await this.#store.getRecipe(digest);
    return recipe === undefined ? undefined : this.#blob(recipe);
  }

  async has(digest: string): Promise<boolean> {
    return (await this.#store.getRecipe(digest)) !== undefined;
  }

  /** A small blob (a manifest, a config) whole, verified; undefined if the store lacks it. */
  async readAll(digest: string): Promise<Buffer | undefined> {
    const blob = await this.open(digest);
    if (blob === undefined) return undefined;
    const parts: Buffer[] = [];
    for await (const part of blob.read()) parts.push(part);
    return Buffer.concat(parts);
  }

  /**
   * The blob that stored blobs `parts` make laid end to end (an upload that came in several
   * requests), committed as `digest` once its bytes proved to be that: `knownDigest` is the
   * digest the caller computed as the parts came in, else the parts are read back to get it.
   * DIGEST_MISMATCH if they are not `digest`.
   */
  async concatenate(digest: string, parts: readonly string[], knownDigest?: string): Promise<{ digest: string; size: number }> {
    const recipes = await Promise.all(parts.map((part) => this.#store.getRecipe(part)));
    const missing = recipes.findIndex((recipe) => recipe === undefined);
    if (missing !== -1) throw new DedupError("STORE_INVALID", `part ${parts[missing]} of ${digest} has no recipe`, { digest: parts[missing] });
    const actual = knownDigest ?? (await digestOfConcatenation(this.#store, recipes as Recipe[], this.#parts));
    if (actual !== digest) throw new DedupError("DIGEST_MISMATCH", `uploaded content has digest ${actual}, not ${digest}`, { expected: digest, actual });
    const recipe = concatRecipes(digest, recipes as Recipe[]);
    if (!(await this.has(digest))) {
      await this.#store.putRecipe(recipe);
      await this.#store.sync();
    }
    return { digest, size: recipe.size };
  }

  /**
   * Checks that a recipe (one not committed yet, a peer's) rebuilds its blob from chunks this
   * store holds: the digest is the only proof that the chunks make up the blob. A read that
   * already streamed this very recipe whole and verified it spares the work.
   */
  async checkRecipe(recipe: Recipe): Promise<void> {
    if (this.#parts.verified.has(recipe)) return;
    for await (const piece of readBlob(this.#store, recipe, undefined, this.#parts)) void piece;
  }

  /** Re-hashes every chunk and rebuilds every blob; what is damaged. */
  verify(onProgress?: (checked: number) => void): Promise<{ chunks: number; blobs: number; damage: Damage[] }> {
    return verifyStore(this.#store, this.#parts, onProgress);
  }

  /** What the store holds, counted. */
  summary(): Promise<StoreSummary> {
    return summarizeStore(this.#store);
  }

  /** Stops the ingest workers, if any ran; the store and the parts stay open (their owner closes them). */
  async close(): Promise<void> {
    await this.#pool?.close();
    this.#pool = undefined;
  }

  #blob(recipe: Recipe): StoredBlob {
    const store = this.#store;
    const parts = this.#parts;
    return { digest: recipe.digest, size: recipe.size, read: (range?: ByteRange) => readBlob(store, recipe, range, parts) };
  }
}
