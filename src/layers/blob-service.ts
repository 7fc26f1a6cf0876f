import { createHash, type Hash } from "node:crypto";
import { availableParallelism } from "node:os";
import { DedupError } from "../errors.js";
import { describeEncoder } from "../deflate/encoders.js";
import type { Recipe } from "../store/recipe.js";
import type { Store } from "../store/types.js";
import { BlobActivity } from "./activity.js";
import { ChunkCache } from "./chunk-cache.js";
import { ChunkClaims } from "./claims.js";
import { bringBack, collect, pinKey, type CollectOptions, type CollectReport } from "./gc.js";
import { detectCompression, type BlobCompression } from "./compression.js";
import { GZIP_KEPT_PREFIX, GzipConverter, type Conversion } from "./gzip/convert.js";
import { EncodePool } from "./gzip/encode-pool.js";
import type { RecreatedCache } from "./gzip/recreated-cache.js";
import { decodeGzipForm, encodeGzipForm, GZIP_FORM_PREFIX, gzipFormKey, type GzipForm } from "./gzip/form.js";
import { recreateGzip } from "./gzip/recreate.js";
import { hasWarmUp, WARM_UP_BYTES, warmUpEncoders, type WarmUp } from "./gzip/warm-up.js";
import { concatRecipes, digestOfConcatenation } from "./concat.js";
import { CodecPool } from "./codec-pool.js";
import { IngestBuffers, ingestBlob, type IngestResult } from "./ingest.js";
import { IngestPool } from "./ingest-pool.js";
import { Loans } from "./loans.js";
import { ReadAheadBudget } from "./read-ahead.js";
import { readBlob, readForChecks, type ByteRange, type ReadParts } from "./reconstruct.js";
import { summarizeBlobs, type BlobSummary } from "./summary.js";
import { drain, type BlobSource } from "./sources.js";
import { repairStore, type RepairReport, type RepairSources } from "./repair.js";
import { verifyStore, type Damage, type VerifyProgress, type VerifyReport } from "./verify.js";

/**
 * The front door of layers/: everything above (the registry, sites, seed import, the CLI) stores,
 * reads and checks blobs here, never through the chunk machinery behind it. A service is built
 * once at the edge, from a store and the parts it shares with the other services of its process
 * (BlobParts), and wires nothing of its own into module state.
 */

export interface BlobPartsOptions {
  /** Bytes of decoded chunks kept for warm reads (0: none, as one-shot commands want). */
  chunkCacheBytes: number;
  /** Threads decompressing chunks for reads and compressing those of pushes (default: one per core). */
  codecThreads?: number;
  /** Threads re-encoding gzip layers (default: one per core). */
  encodeThreads?: number;
  /** Re-created gzip layers kept on disk for the next pull (none: every pull re-creates). */
  recreated?: RecreatedCache;
  /** Decoded bytes all reads together fetch ahead of their clients, besides one batch each (default 32 MiB). */
  readAheadBytes?: number;
}

/**
 * Eight batches: two cores decode at most four at once, and each batch ahead holds more than its
 * decoded bytes on the way (its stored bytes, read and copied for a thread). With 64 MiB, eight
 * clients reading past the cache peaked 60 MiB higher, no faster (BENCHMARKS.md).
 */
const DEFAULT_READ_AHEAD_BYTES = 32 << 20;

/**
 * What the blob services of one process share: the chunk cache (a site's fetches fill it for the
 * pulls that wait on them), the codec threads, the record of recipes verified by reading them
 * whole, and the buffers ingests reuse.
 */
export class BlobParts implements ReadParts {
  readonly cache: ChunkCache;
  readonly codec: CodecPool;
  readonly readAhead: ReadAheadBudget;
  readonly loans: Loans;
  readonly encoder: EncodePool;
  readonly recreated: RecreatedCache | undefined;
  readonly verified = new WeakSet<Recipe>();
  readonly ingestBuffers = new IngestBuffers();
  /** What the services on these parts did: running totals for serve's metrics. */
  readonly activity = new BlobActivity();

  constructor(options: BlobPartsOptions) {
    this.cache = new ChunkCache(options.chunkCacheBytes);
    this.codec = new CodecPool(options.codecThreads ?? availableParallelism());
    this.readAhead = new ReadAheadBudget(options.readAheadBytes ?? DEFAULT_READ_AHEAD_BYTES);
    this.loans = new Loans((buffer) => this.codec.recycle(buffer));
    this.encoder = new EncodePool(options.encodeThreads ?? availableParallelism());
    this.recreated = options.recreated;
  }

  async close(): Promise<void> {
    await this.codec.close();
    await this.encoder.close();
  }
}

/** A stored blob, found: its size, and its bytes (or a range of them) to read, verified. */
export interface StoredBlob {
  readonly digest: string;
  readonly size: number;
  /** The bytes in [range.start, range.end] (all without a range), each one checked before it is yielded or the stream fails. */
  read(range?: ByteRange): AsyncGenerator<Buffer>;
  /**
   * Hands back a piece `read` yielded, once its bytes have left the process (written to a
   * socket): its buffer may then be reused. Each piece at most once; pieces never handed back
   * are left to the garbage collector.
   */
  sent(piece: Uint8Array): void;
}

export interface IngestOptions {
  /** The digest the caller states: a blob that differs is refused (DIGEST_MISMATCH), nothing committed. */
  expectedDigest?: string;
  /** A fresh SHA-256 the blob is hashed with, left going for the caller to hash what follows (ingest.ts). */
  digester?: Hash;
  /** Called once the whole source is read, before the last chunks and the recipe are committed. */
  onInputDone?: () => void;
  /**
   * false: the blob is a piece of another (an upload's part), never converted from gzip on its
   * own; `concatenate` looks at the whole. Default true.
   */
  convert?: boolean;
}


export class BlobService {
  readonly #store: Store;
  readonly #parts: BlobParts;
  /** Who writes which chunk among this process's ingests into the store (threads included). */
  readonly #claims: ChunkClaims;
  readonly #converter: GzipConverter;
  #pool: IngestPool | undefined;

  constructor(store: Store, parts: BlobParts, log: (line: string) => void = () => undefined) {
    this.#store = store;
    this.#parts = parts;
    this.#claims = new ChunkClaims(store);
    this.#converter = new GzipConverter({
      store,
      pool: parts.encoder,
      readRecipeRange: (digest, start, end) => this.#readRecipeRange(digest, start, end),
      recipeSize: async (digest) => (await store.getRecipe(digest))?.size,
      keepConverted: async (digest, size) => {
        if (parts.recreated === undefined) return;
        await parts.recreated.keep(digest, size, this.#readRecipeRange(digest, 0, size));
      },
      ingest: (source) => this.ingest(source),
      log,
    });
  }

  /** Where the blobs live, for messages. */
  get location(): string {
    return this.#store.location;
  }

  /**
   * Stores a blob from a stream; resolves once it is durable (a crash after this loses nothing).
   * A gzip blob is marked for conversion to its content (gzip/convert.ts), done in the background.
   */
  async ingest(source: AsyncIterable<Uint8Array>, options: IngestOptions = {}): Promise<IngestResult> {
    const result = await ingestBlob(this.#store, source, { ...options, claims: this.#claims, buffers: this.#parts.ingestBuffers, cache: this.#parts.cache, codec: this.#parts.codec });
    this.#parts.activity.ingested(result);
    if (result.compression === "gzip" && options.convert !== false) await this.#markUnlessDecided(result.digest);
    return result;
  }

  /**
   * Stores blobs read from files, in worker threads (one blob per core at a time); one promise
   * per source, in order. `onBytes` hears of the bytes read as they are.
   */
  ingestFiles(sources: readonly BlobSource[], onBytes?: (bytes: number) => void): Promise<IngestResult>[] {
    this.#pool ??= new IngestPool(this.#store, this.#claims, Math.min(sources.length, availableParallelism()));
    return sources.map(async (source) => {
      const result = await this.#pool!.ingest(source, onBytes);
      this.#parts.activity.ingested(result);
      if (result.compression === "gzip") await this.#markUnlessDecided(result.digest);
      return result;
    });
  }

  /**
   * The blob `digest`, if the store can rebuild it: from its chunks, or (a gzip layer) from its
   * content and form. A blob garbage collection doomed is brought back (gc.ts): whoever opens it
   * by its digest needs it.
   */
  async open(digest: string): Promise<StoredBlob | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const recipe = await this.#store.getRecipe(digest);
      if (recipe !== undefined) return this.#blob(recipe);
      const form = await this.#gzipForm(digest);
      if (form !== undefined) return this.#gzipBlob(form);
      if (!(await bringBack(this.#store, digest))) return undefined;
    }
    return undefined;
  }

  /** Keeps a blob that no repository links (one `add` or `import-seed` stored) from garbage collection. */
  async pin(digest: string): Promise<void> {
    await this.#store.putMeta(pinKey(digest), Buffer.alloc(0));
  }

  /** Collects what no root needs (gc.ts); `roots` are what the layers above need (a registry's links, upload parts). */
  async collect(options: Omit<CollectOptions, "now"> & { now?: number }): Promise<CollectReport> {
    const report = await collect(this.#store, { ...options, now: options.now ?? Date.now() }, this.#parts.codec);
    if (!options.dryRun) this.#parts.activity.collected(report);
    return report;
  }

  async has(digest: string): Promise<boolean> {
    return (await this.#store.getRecipe(digest)) !== undefined || (await this.#store.getMeta(gzipFormKey(digest))) !== undefined;
  }

  /**
   * The recipe whose chunks make the blob: its own, or a gzip layer's content's (what sharing
   * between blobs counts, sharing.ts); undefined if the store has neither.
   */
  async chunksOf(digest: string): Promise<Recipe | undefined> {
    const recipe = await this.#store.getRecipe(digest);
    if (recipe !== undefined) return recipe;
    const form = await this.#gzipForm(digest);
    return form === undefined ? undefined : this.#store.getRecipe(form.content);
  }

  /** How a gzip blob is stored as its content, if it is (a site hands it to its peers). */
  gzipForm(digest: string): Promise<GzipForm | undefined> {
    return this.#gzipForm(digest);
  }

  /**
   * Stores a gzip blob as its content and a form another store proved (a peer's): the content
   * must be here already; the blob is re-created from it and checked against its digest first.
   */
  async adoptGzipForm(form: GzipForm): Promise<void> {
    if ((await this.#store.getRecipe(form.content)) === undefined) {
      throw new DedupError("BLOB_UNKNOWN", `content ${form.content} of ${form.digest} is not here`, { digest: form.content });
    }
    // Re-created from the content, never taken from the cache of re-created layers: this is the proof.
    const content = (start: number, end: number) => this.#readRecipeRange(form.content, start, end);
    await drain(verifiedWhole(form, recreateGzip(form, content, this.#parts.encoder)));
    await this.#store.putMeta(gzipFormKey(form.digest), encodeGzipForm(form));
    await this.#store.sync();
  }

  /**
   * Marks a blob committed by other means than an ingest (a site's fetch of a peer's recipe) for
   * conversion if it is gzip and not converted or kept yet.
   */
  async convertIfGzip(digest: string): Promise<void> {
    const recipe = await this.#store.getRecipe(digest);
    if (recipe === undefined || recipe.size < 2) return;
    const head: Buffer[] = [];
    for await (const piece of readBlob(this.#store, recipe, { start: 0, end: Math.min(recipe.size, 8) - 1 }, this.#parts)) head.push(piece);
    if (detectCompression(Buffer.concat(head)) === "gzip") await this.#markUnlessDecided(digest);
  }

  /** Converts the gzip blobs marked and not converted yet (after a restart), in the background. */
  resumeConversions(): Promise<number> {
    return this.#converter.resume();
  }

  /** Converts one stored gzip blob now; what became of it. */
  convertGzip(digest: string): Promise<Conversion> {
    return this.#converter.convert(digest);
  }

  /** Resolves once every gzip blob marked so far has been converted (or kept as it is). */
  conversionsSettled(): Promise<void> {
    return this.#converter.settled();
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
   * digest the caller computed as the parts came in, else the parts are read back to get it;
   * `compression`, what the first part's first bytes said (a gzip blob is marked for conversion).
   * DIGEST_MISMATCH if they are not `digest`.
   */
  async concatenate(digest: string, parts: readonly string[], { knownDigest, compression }: { knownDigest?: string | undefined; compression?: BlobCompression | undefined } = {}): Promise<{ digest: string; size: number }> {
    if (parts.length === 1 && parts[0] === digest) {
      // One part, the blob itself: its recipe may be gone already, the blob stored as its gzip
      // form by the conversion of an upload of the same bytes alongside.
      const blob = await this.open(digest);
      if (blob !== undefined) {
        if (compression === "gzip") await this.#markUnlessDecided(digest);
        return { digest, size: blob.size };
      }
    }
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
    // Not only a new blob: an upload of one PATCH (docker's, skopeo's) stored its part under the
    // blob's own digest already, unconverted.
    if (compression === "gzip") await this.#markUnlessDecided(digest);
    return { digest, size: recipe.size };
  }

  /**
   * Marks a gzip blob stored as its compressed bytes for conversion, unless that was decided
   * already: kept as it is, or converted (the compressed bytes stored again by a second push
   * are then dropped at once, as the conversion would).
   */
  async #markUnlessDecided(digest: string): Promise<void> {
    if ((await this.#store.getRecipe(digest)) === undefined) return;
    if ((await this.#store.getMeta(GZIP_KEPT_PREFIX + digest)) !== undefined) return;
    if ((await this.#gzipForm(digest)) !== undefined) {
      await this.#store.deleteRecipe(digest);
      await this.#store.sync();
      return;
    }
    await this.#converter.mark(digest);
  }

  /**
   * Checks that a recipe (one not committed yet, a peer's) rebuilds its blob from chunks this
   * store holds: the digest is the only proof that the chunks make up the blob. A read that
   * already streamed this very recipe whole and verified it spares the work.
   */
  async checkRecipe(recipe: Recipe): Promise<void> {
    if (this.#parts.verified.has(recipe)) return;
    await readForChecks(this.#store, recipe, this.#parts);
  }

  /** Re-hashes every chunk and rebuilds every blob, gzip layers re-created from their content too; what is damaged. */
  async verify(onProgress?: (checked: VerifyProgress) => void, options: { seal?: boolean } = {}): Promise<VerifyReport> {
    const report = await verifyStore(this.#store, this.#parts, onProgress, options);
    for await (const [key, value] of this.#store.scanMeta(GZIP_FORM_PREFIX)) {
      const digest = key.slice(GZIP_FORM_PREFIX.length);
      report.blobs++;
      try {
        await drain(this.#gzipBlob(decodeGzipForm(digest, value)).read());
      } catch (error) {
        if (!(error instanceof DedupError)) throw error;
        report.damage.push({ kind: "blob", id: digest, problem: error.message });
      }
      onProgress?.({ chunks: report.chunks, blobs: report.blobs });
    }
    return report;
  }

  /**
   * Fetches what `verify` found damaged again from `sources` and reads each damaged blob again
   * (repair.ts); what is still lost is reported, for the layers above to name what it costs.
   */
  repair(damage: readonly Damage[], sources: RepairSources, log: (line: string) => void): Promise<RepairReport> {
    return repairStore(this.#store, damage, sources, async (digest) => {
      const blob = await this.open(digest);
      if (blob === undefined) throw new DedupError("BLOB_UNKNOWN", `${digest} is not stored`, { digest });
      await drain(blob.read());
    }, log);
  }

  /**
   * Compiles the encoders of the gzip layers stored here on every encode thread, over the first
   * few MiB of a layer's content each (warm-up.ts), so that the first pulls after a start do not
   * pay for it: of the encoders warm-up.ts warms up, those of up to the first 1,000 forms, most
   * used first, at most 3. The content is read past the chunk cache, which stays as a start
   * leaves it. The names of the encoders warmed up.
   */
  async warmUpEncoders(): Promise<string[]> {
    // Per encoder: how many members it wrote, and the longest of them with its content's digest.
    const uses = new Map<string, { count: number; content: string; member: GzipForm["members"][number] }>();
    let forms = 0;
    for await (const [key, value] of this.#store.scanMeta(GZIP_FORM_PREFIX)) {
      const { content, members } = decodeGzipForm(key.slice(GZIP_FORM_PREFIX.length), value);
      for (const member of members.filter((m) => hasWarmUp(m.encoder))) {
        const name = describeEncoder(member.encoder);
        const use = uses.get(name) ?? { count: 0, content, member };
        use.count++;
        if (member.contentLength > use.member.contentLength) Object.assign(use, { content, member });
        uses.set(name, use);
      }
      if (++forms === 1000) break;
    }
    const pastTheCache = { ...this.#parts, cache: new ChunkCache(0) };
    const warmUps: WarmUp[] = [];
    for (const { content, member } of [...uses.values()].sort((a, b) => b.count - a.count).slice(0, 3)) {
      const recipe = await this.#store.getRecipe(content);
      const end = Math.min(member.contentStart + member.contentLength, member.contentStart + WARM_UP_BYTES);
      if (recipe === undefined || end <= member.contentStart) continue;
      const pieces: Buffer[] = [];
      for await (const piece of readBlob(this.#store, recipe, { start: member.contentStart, end: end - 1 }, pastTheCache)) {
        pieces.push(Buffer.from(piece));
        this.#parts.loans.returned(piece);
      }
      warmUps.push({ encoder: member.encoder, content: Buffer.concat(pieces) });
    }
    return (await warmUpEncoders(this.#parts.encoder, warmUps)).map(describeEncoder);
  }

  /** What the store holds, counted (summary.ts). */
  summary(): Promise<BlobSummary> {
    return summarizeBlobs(this.#store);
  }

  /**
   * Stops the ingest workers, if any ran, and the gzip conversions after the one under way (what
   * is left keeps its mark for the next start); the store and the parts stay open (their owner closes them).
   */
  async close(): Promise<void> {
    await this.#converter.stop();
    await this.#pool?.close();
    this.#pool = undefined;
  }

  #blob(recipe: Recipe): StoredBlob {
    const store = this.#store;
    const parts = this.#parts;
    return {
      digest: recipe.digest,
      size: recipe.size,
      read: (range?: ByteRange) => parts.activity.counted(readBlob(store, recipe, range, parts)),
      sent: (piece) => parts.loans.returned(piece),
    };
  }

  async #gzipForm(digest: string): Promise<GzipForm | undefined> {
    const bytes = await this.#store.getMeta(gzipFormKey(digest));
    return bytes === undefined ? undefined : decodeGzipForm(digest, bytes);
  }

  /**
   * A gzip blob re-created from its content: the whole of it hashed on the way and its last piece
   * held back until the digest matched (and then kept in the cache of re-created layers); a range,
   * re-created up to its end (the content it comes from is verified chunk by chunk, and the encoder
   * was proven on this very content). Read from the cache instead when it holds the blob or a
   * fill of it is under way; a whole read that misses starts a fill and follows it (see
   * RecreatedCache.fill).
   */
  #gzipBlob(form: GzipForm): StoredBlob {
    const content = (start: number, end: number) => this.#readRecipeRange(form.content, start, end);
    const encoder = this.#parts.encoder;
    const cache = this.#parts.recreated;
    const recreated = (range: ByteRange) => sliced(recreateGzip(form, content, encoder), range, form);
    const whole = () => verifiedWhole(form, recreateGzip(form, content, encoder));
    const pieces = (range?: ByteRange): AsyncIterable<Buffer> => {
      const { start, end } = range ?? { start: 0, end: form.size - 1 };
      // What the cache could not give (a damaged block, a fill that stopped short), re-created; a whole read's still checked whole.
      const rest = (at: number) => (range === undefined ? sliced(whole(), { start: at, end }, form) : recreated({ start: at, end }));
      const cached = form.size === 0 ? undefined : cache?.read(form.digest, start, end, rest, this.#parts.codec);
      if (cached !== undefined) return cached;
      if (range !== undefined) return recreated(range);
      return cache === undefined ? whole() : cache.fill(form.digest, form.size, whole(), rest, this.#parts.codec);
    };
    // The cache's blocks are lent (RecreatedCache.returned); the encoder's pieces are not, and are ignored.
    return { digest: form.digest, size: form.size, read: (range?: ByteRange) => this.#parts.activity.counted(pieces(range)), sent: (piece) => cache?.returned(piece) };
  }

  /** The bytes [start, end) of a blob stored as chunks (brought back if doomed); nothing for an empty range. */
  async *#readRecipeRange(digest: string, start: number, end: number): AsyncGenerator<Buffer> {
    if (end <= start) return;
    const recipe = (await this.#store.getRecipe(digest)) ?? ((await bringBack(this.#store, digest)) ? await this.#store.getRecipe(digest) : undefined);
    if (recipe === undefined) throw new DedupError("CHUNK_MISSING", `${digest} is not stored as chunks`, { digest });
    yield* readBlob(this.#store, recipe, start === 0 && end === recipe.size ? undefined : { start, end: end - 1 }, this.#parts);
  }
}

/** A re-created blob's pieces, hashed; the last held back until the whole matched its digest. */
async function* verifiedWhole(form: GzipForm, pieces: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  const hash = createHash("sha256");
  let held: Buffer | undefined;
  let size = 0;
  for await (const piece of pieces) {
    hash.update(piece);
    size += piece.length;
    if (held !== undefined) yield held;
    held = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
  }
  const actual = `sha256:${hash.digest("hex")}`;
  if (actual !== form.digest || size !== form.size) {
    throw new DedupError("CHUNK_CORRUPT", `re-created ${form.digest} but got ${actual} (${size} bytes): the store is damaged`, { digest: form.digest, actual });
  }
  if (held !== undefined) yield held;
}

/** The bytes of `range` out of a re-created blob's pieces. */
async function* sliced(pieces: AsyncIterable<Uint8Array>, range: ByteRange, form: GzipForm): AsyncGenerator<Buffer> {
  if (!(Number.isInteger(range.start) && Number.isInteger(range.end) && 0 <= range.start && range.start <= range.end && range.end < form.size)) {
    throw new DedupError("RANGE_INVALID", `range ${range.start}-${range.end} is outside the ${form.size}-byte blob`, { ...range, size: form.size });
  }
  let at = 0;
  for await (const piece of pieces) {
    const from = Math.max(0, range.start - at);
    const to = Math.min(piece.length, range.end + 1 - at);
    if (from < to) yield Buffer.from(piece.buffer, piece.byteOffset + from, to - from);
    at += piece.length;
    if (at > range.end) return;
  }
}
