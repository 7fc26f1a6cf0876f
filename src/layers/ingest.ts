import { createHash, type Hash } from "node:crypto";
import { Splitter } from "../chunking/stream.js";
import { createCutFinder } from "../chunking/spec.js";
import { TarBoundaries } from "../chunking/tar-boundaries.js";
import { DedupError } from "../errors.js";
import { chunkIdOf, type ChunkId } from "../store/chunk-id.js";
import { encodeSlice, NO_COMPRESSION, type Compression } from "../store/codec.js";
import { chunksApart } from "../store/runs.js";
import { BufferPool } from "../store/buffer-pool.js";
import type { Store, StoredChunk } from "../store/types.js";
import type { ChunkCache } from "./chunk-cache.js";
import type { ChunkClaimer } from "./claims.js";
import type { CodecPool } from "./codec-pool.js";
import { detectCompression, type BlobCompression } from "./compression.js";
import { parseDigest } from "./digest.js";
import { READ_BATCH_BYTES, ReadBatches } from "./read-batches.js";

export interface IngestResult {
  digest: string;
  size: number;
  chunks: number;
  /** Chunks this blob added to the store, and their plain and stored bytes. */
  newChunks: number;
  newBytes: number;
  storedBytes: number;
  /** What the blob's first bytes say it is compressed with, if anything. */
  compression?: BlobCompression;
}

export interface IngestOptions {
  /** The digest the caller states; the blob is refused (no recipe written) if it differs. */
  expectedDigest?: string;
  /**
   * A fresh SHA-256 to hash the blob with instead of one of its own, left going (the blob's
   * digest is taken from a copy): its caller goes on with what follows the blob (an upload's
   * running hash, whose first part this is), without hashing every byte a second time.
   */
  digester?: Hash;
  /** Coordinates with concurrent ingests: those of this process into the same store. */
  claims: ChunkClaimer;
  /** Reused between ingests of one thread. */
  buffers: IngestBuffers;
  /**
   * Also keep the blob's chunks in this cache of decoded chunks, so a layer just pushed is pulled
   * from memory (a server's pulls often follow its pushes). Its chunks are right by construction:
   * their ids were just computed from them.
   */
  cache?: ChunkCache;
  /** Compresses the new chunks: on its threads, so that this one keeps cutting and hashing (or here, if it has none). */
  codec: CodecPool;
  /**
   * Called once the whole source is read and cut, before the last batches are written and the
   * recipe committed: a caller with more blobs can start the next one on the time this one has left.
   */
  onInputDone?: () => void;
}

/** Chunks found stored, checked again before the recipe, per store call. */
const FOUND_BATCH = 512;
/** Chunks are checked against the store and written in batches that end where a read batch ends, once they hold this many bytes. */
const MIN_BATCH_BYTES = 1 << 20;
/** Batches being compressed and written at once; bounds memory to about 4 x BATCH_BUFFER_BYTES. */
const MAX_BATCHES_IN_FLIGHT = 4;
/** A batch: just under MIN_BATCH_BYTES, then a read batch and its last chunk (read-batches.ts). */
const BATCH_BUFFER_BYTES = MIN_BATCH_BYTES + READ_BATCH_BYTES + (256 << 10);

/**
 * A batch's new chunks are copied into one buffer (so the input's pieces are not kept alive, and
 * a source may reuse them), reused across batches and across the ingests of one thread (the
 * codec pool keeps the buffers they are compressed into).
 */
export class IngestBuffers {
  readonly raw = new BufferPool(BATCH_BUFFER_BYTES, 2 * MAX_BATCHES_IN_FLIGHT);
}

/**
 * Ingests one blob from a stream. The write order is what makes a crash harmless: chunks are
 * committed first, then the recipe that names them, then the store is synced, and only then does
 * this resolve. A crash before the recipe leaves orphan chunks, never a recipe with a hole.
 *
 * Nothing here keeps a view into a piece once the chunks cut from it are taken, except the
 * chunker's unfinished chunk (less than the chunker's maxSize bytes): a source may reuse a
 * piece's buffer once it has yielded more than maxSize bytes after it (see `openSource`).
 */
export async function ingestBlob(store: Store, source: AsyncIterable<Uint8Array>, options: IngestOptions): Promise<IngestResult> {
  const expected = options.expectedDigest === undefined ? undefined : parseDigest(options.expectedDigest);
  const spec = store.settings.chunker;
  const splitter = new Splitter(createCutFinder(spec), spec.tarAware ? new TarBoundaries(spec.minSize) : undefined);
  const digester = options.digester ?? createHash("sha256");
  const writer = new ChunkWriter(store, options);
  let size = 0;
  let compression: BlobCompression | undefined;
  for await (const piece of source) {
    // A compressed blob's chunks will not shrink again: do not spend zstd on them.
    if (size === 0 && piece.length > 0) compression = detectCompression(piece);
    if (size === 0 && compression !== undefined) writer.storeRaw();
    digester.update(piece);
    size += piece.length;
    for (const chunk of splitter.push(piece)) await writer.add(chunk);
  }
  for (const chunk of splitter.end()) await writer.add(chunk);
  options.onInputDone?.();
  const digest = `sha256:${(options.digester === undefined ? digester : digester.copy()).digest("hex")}`;
  await writer.finish();
  if (expected !== undefined && expected !== digest) {
    throw new DedupError("DIGEST_MISMATCH", `blob digest is ${digest}, not the stated ${expected}`, { expected, actual: digest });
  }
  await store.putRecipe({ digest, size, ids: writer.ids, lengths: Uint32Array.from(writer.lengths) });
  await store.sync();
  return { digest, size, chunks: writer.ids.length, newChunks: writer.newChunks, newBytes: writer.newBytes, storedBytes: writer.storedBytes, ...(compression === undefined ? {} : { compression }) };
}

/** Hashes chunks, and compresses and stores those the store lacks, a batch at a time. */
class ChunkWriter {
  readonly ids: ChunkId[] = [];
  readonly lengths: number[] = [];
  newChunks = 0;
  newBytes = 0;
  storedBytes = 0;
  readonly #store: Store;
  readonly #claims: ChunkClaimer;
  readonly #buffers: IngestBuffers;
  readonly #seen = new Set<string>();
  #batch: NewChunk[] = [];
  #batchBytes = 0;
  /** Where reads will cut this blob into batches: the new chunks of one such span are stored as a run. */
  readonly #readBatches = new ReadBatches();
  #readBatch = 0;
  /** Where the current batch's chunks are copied to, and how much of it they fill. */
  #raw: Buffer | undefined;
  #rawUsed = 0;
  readonly #inFlight = new Set<Promise<void>>();
  /** Chunks of this blob that other ingests were writing when this one needed them. */
  readonly #othersWriting: ChunkId[] = [];
  /** Chunks of this blob found stored already, which it counts on instead of writing. */
  readonly #found: ChunkId[] = [];
  #failure: unknown;
  #compression: Compression;

  readonly #cache: ChunkCache | undefined;
  readonly #codec: CodecPool;

  constructor(store: Store, { claims, buffers, cache, codec }: IngestOptions) {
    this.#store = store;
    this.#claims = claims;
    this.#buffers = buffers;
    this.#cache = cache;
    this.#codec = codec;
    this.#compression = store.settings.compression;
  }

  storeRaw(): void {
    this.#compression = NO_COMPRESSION;
  }

  async add(bytes: Uint8Array): Promise<void> {
    const id = chunkIdOf(bytes);
    this.ids.push(id);
    this.lengths.push(bytes.length);
    const readBatch = this.#readBatch;
    const endsReadBatch = this.#readBatches.add(bytes.length);
    if (endsReadBatch) this.#readBatch++;
    const key = id.toString("latin1");
    if (!this.#seen.has(key)) {
      this.#seen.add(key);
      this.#batch.push({ id, bytes: this.#copy(bytes), readBatch });
      this.#batchBytes += bytes.length;
    }
    if (endsReadBatch && this.#batchBytes >= MIN_BATCH_BYTES) await this.#flush();
  }

  async finish(): Promise<void> {
    await this.#flush();
    await Promise.allSettled(this.#inFlight);
    if (this.#failure !== undefined) throw this.#failure;
    // The recipe may name only committed chunks: wait for those other ingests were writing.
    if (this.#othersWriting.length > 0) {
      const committed = await this.#claims.awaitIdle(this.#othersWriting);
      const lost = committed.filter((ok) => !ok).length;
      if (lost > 0) {
        throw new DedupError("STORE_UNAVAILABLE", `a concurrent ingest failed to store ${lost} chunks this blob shares with it; send the blob again`);
      }
    }
    await this.#keepFound();
  }

  /**
   * Chunks this blob found stored rather than wrote: garbage collection may have doomed them
   * since (store/types.ts), to delete them a grace period later. Those doomed now are written
   * back from their stored bytes before the recipe names them; one already deleted fails the
   * ingest (nothing is acknowledged: the client sends the blob again).
   */
  async #keepFound(): Promise<void> {
    for (let at = 0; at < this.#found.length; at += FOUND_BATCH) {
      const ids = this.#found.slice(at, at + FOUND_BATCH);
      const live = await this.#store.hasChunks(ids);
      const doomed = ids.filter((_, i) => !live[i]);
      if (doomed.length === 0) continue;
      // Apart from their runs, if they are slices: a run is not written back with them.
      const data = await chunksApart(this.#store, doomed, this.#store.settings.compression);
      if (data.some((bytes) => bytes === undefined)) {
        throw new DedupError("STORE_UNAVAILABLE", "garbage collection deleted chunks this blob shares with blobs deleted before; send the blob again");
      }
      await this.#store.putChunks(doomed.map((id, i) => ({ id, data: data[i]! })));
    }
  }

  /** The chunk's bytes copied into the batch's buffer (or, if they do not fit, a copy of their own). */
  #copy(bytes: Uint8Array): Uint8Array {
    if (this.#raw === undefined) {
      this.#raw = this.#buffers.raw.take();
      this.#rawUsed = 0;
    }
    const at = this.#rawUsed;
    if (at + bytes.length > this.#raw.length) return Buffer.from(bytes);
    this.#raw.set(bytes, at);
    this.#rawUsed = at + bytes.length;
    return this.#raw.subarray(at, at + bytes.length);
  }

  async #flush(): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    const raw = this.#raw;
    // Kept together, as a read keeps a decoded batch (the cache copies them).
    this.#cache?.putAll(batch.map((chunk) => chunk.id), batch.map((chunk) => chunk.bytes));
    this.#batch = [];
    this.#batchBytes = 0;
    this.#raw = undefined;
    const task = this.#write(batch).then(
      () => void this.#inFlight.delete(task),
      (error: unknown) => {
        this.#failure ??= error;
        this.#inFlight.delete(task);
      },
    );
    // The batch's views into `raw` are dropped once it is written, or failed.
    if (raw !== undefined) void task.then(() => this.#buffers.raw.give(raw));
    this.#inFlight.add(task);
    while (this.#inFlight.size >= MAX_BATCHES_IN_FLIGHT) await Promise.race(this.#inFlight);
  }

  /**
   * Writes the chunks of a batch that no one has committed. Chunks another ingest is writing are
   * only noted: waiting for them here would hold this batch's slot and lock two ingests of
   * similar blobs in step; `finish` waits for them all, once, before the recipe.
   */
  async #write(batch: NewChunk[]): Promise<void> {
    const claims = await this.#claims.claim(batch.map((c) => c.id));
    const mine = batch.filter((_, i) => claims[i] === "write");
    batch.forEach((c, i) => {
      if (claims[i] === "busy") this.#othersWriting.push(c.id);
      else if (claims[i] === "present") this.#found.push(c.id);
    });
    if (mine.length > 0) await this.#writeClaimed(mine);
  }

  /**
   * Compresses and stores chunks this ingest claimed. Compressed, the new chunks of one read
   * batch are a run, stored under its own id, and each of them a slice of it (store/codec.ts):
   * zstd sees a run's context, and a read of the layer decodes the run once. The runs are
   * committed before the slices that name them, or with them in one commit.
   */
  async #writeClaimed(chunks: NewChunk[]): Promise<void> {
    try {
      const runs = this.#compression.codec === "none" ? chunks.map((c) => [c]) : runsOf(chunks);
      const { stored, ids, release } = await this.#codec.encode(runs.map(joined), this.#compression, this, runs.some((run) => run.length > 1));
      const whole = runs.flatMap((run, r) => (run.length > 1 ? [{ id: ids![r]!, data: stored[r]! }] : []));
      const entries = runs.flatMap((run, r) => (run.length === 1 ? [{ id: run[0]!.id, data: stored[r]! }] : slicesOf(run, ids![r]!)));
      if (this.#store.putsCommitWhole) {
        await this.#store.putChunks([...whole, ...entries]);
      } else {
        if (whole.length > 0) await this.#store.putChunks(whole);
        await this.#store.putChunks(entries);
      }
      // Only once stored: a store that failed may still have writes in flight reading them.
      release();
      this.newChunks += chunks.length;
      for (const chunk of chunks) this.newBytes += chunk.bytes.length;
      for (const entry of [...whole, ...entries]) this.storedBytes += entry.data.length;
    } finally {
      this.#claims.settle(chunks.map((c) => c.id));
    }
  }
}

/** A chunk a blob has not had before, and the read batch it falls in. */
interface NewChunk {
  id: ChunkId;
  bytes: Uint8Array;
  readBatch: number;
}

/** Chunks grouped by the read batch they fall in, in order. */
function runsOf(chunks: readonly NewChunk[]): NewChunk[][] {
  const runs: NewChunk[][] = [];
  for (const chunk of chunks) {
    const run = runs.at(-1);
    if (run !== undefined && run[0]!.readBatch === chunk.readBatch) run.push(chunk);
    else runs.push([chunk]);
  }
  return runs;
}

/** A run's bytes: a view when its chunks lie back to back in one buffer (they were copied so), else a copy. */
function joined(run: readonly NewChunk[]): Uint8Array {
  const first = run[0]!.bytes;
  let end = first.byteOffset;
  for (const { bytes } of run) {
    if (bytes.buffer !== first.buffer || bytes.byteOffset !== end) return Buffer.concat(run.map((c) => c.bytes));
    end += bytes.length;
  }
  return new Uint8Array(first.buffer, first.byteOffset, end - first.byteOffset);
}

/** Each chunk of a run stored as a slice of it. */
function slicesOf(run: readonly NewChunk[], runId: ChunkId): StoredChunk[] {
  let offset = 0;
  return run.map(({ id, bytes }) => {
    const data = encodeSlice({ run: runId, offset, length: bytes.length });
    offset += bytes.length;
    return { id, data };
  });
}
