import { DedupError, type ErrorCode } from "../errors.js";
import type { BlobService } from "../layers/blob-service.js";
import type { IngestResult } from "../layers/ingest.js";
import { decodeChunk, sliceKeys, type ChunkKeyLength } from "./seed-format.js";
import { readLayerRecipe, scanSeed, type SeedLayer } from "./seed-layers.js";
import type { SeedSource } from "./seed-source.js";

export interface SeedImportListener {
  /** The seed was scanned; importing `layers` layers will read `bytes` bytes of chunks from it. */
  scanned(layers: number, bytes: number): void;
  /** Chunk bytes read from the seed (as stored there). */
  read(bytes: number): void;
  imported(result: IngestResult): void;
  /** `digest` (sha256:<hex>) could not be imported; the import goes on. */
  failed(digest: string, error: DedupError): void;
}

export interface SeedImportSummary {
  /** Layers found in the seed. */
  found: number;
  imported: number;
  /** Their total size. */
  importedBytes: number;
  alreadyStored: number;
  failed: number;
}

/**
 * Chunk values fetched in one pipelined batch. One batch is fetched while the one before is
 * ingested, so a layer holds at most 2 x 128 chunks in memory (16 MiB at the seed's 64 KiB
 * maximum), whatever its size.
 */
const CHUNK_BATCH = 128;

/** Failures of one layer; any other (the seed or the store unreachable) ends the import. */
const LAYER_FAULTS = new Set<ErrorCode>(["CHUNK_MISSING", "CHUNK_CORRUPT", "DIGEST_MISMATCH"]);

/**
 * Imports every layer of a seed database into a store, one at a time: rebuilt from the seed's
 * chunks, each chunk verified against its key, and ingested under the layer's digest, which
 * the blob service verifies again. Layers the store holds are skipped; a bad layer is reported to the
 * listener and the others still imported.
 */
export async function importSeed(source: SeedSource, blobs: BlobService, listener: SeedImportListener): Promise<SeedImportSummary> {
  const scan = await scanSeed(source, (digest) => blobs.has(digest));
  const summary: SeedImportSummary = { found: scan.layerKeys.size, imported: 0, importedBytes: 0, alreadyStored: scan.alreadyStored, failed: scan.faults.length };
  for (const fault of scan.faults) listener.failed(`sha256:${fault.key}`, fault.error);
  listener.scanned(scan.toImport.length, scan.toImport.reduce((sum, layer) => sum + layer.storedBytes, 0));
  for (const layer of scan.toImport) {
    try {
      const result = await importLayer(source, blobs, layer, scan.layerKeys, listener);
      summary.imported++;
      summary.importedBytes += result.size;
      listener.imported(result);
    } catch (error) {
      if (!(error instanceof DedupError && LAYER_FAULTS.has(error.code))) throw error;
      summary.failed++;
      listener.failed(`sha256:${layer.key}`, error);
    }
  }
  return summary;
}

async function importLayer(source: SeedSource, blobs: BlobService, layer: SeedLayer, layerKeys: Set<string>, listener: SeedImportListener): Promise<IngestResult> {
  const bytes = new SeedLayerBytes(source, await readLayerRecipe(source, layer.key), layer.keyLength, layerKeys, listener);
  try {
    const result = await blobs.ingest(bytes, { expectedDigest: `sha256:${layer.key}` });
    // No repository links an imported layer: pinned, garbage collection keeps it.
    await blobs.pin(result.digest);
    return result;
  } catch (error) {
    throw bytes.fault ?? error;
  }
}

/**
 * A layer's bytes, rebuilt from the seed's chunks in order. A missing or corrupt chunk ends the
 * bytes early and is kept in `fault` rather than thrown: the ingest then settles the chunk writes
 * it has in flight before it refuses the short blob, and the caller reports the fault instead.
 */
class SeedLayerBytes implements AsyncIterable<Buffer> {
  fault: unknown;
  readonly #source: SeedSource;
  readonly #chunkKeys: string;
  readonly #keyLength: ChunkKeyLength;
  readonly #layerKeys: Set<string>;
  readonly #listener: SeedImportListener;

  constructor(source: SeedSource, chunkKeys: string, keyLength: ChunkKeyLength, layerKeys: Set<string>, listener: SeedImportListener) {
    this.#source = source;
    this.#chunkKeys = chunkKeys;
    this.#keyLength = keyLength;
    this.#layerKeys = layerKeys;
    this.#listener = listener;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      yield* this.#chunks();
    } catch (error) {
      this.fault = error;
    }
  }

  async *#chunks(): AsyncGenerator<Buffer> {
    const count = this.#chunkKeys.length / this.#keyLength;
    let next = this.#fetch(0);
    for (let start = 0; start < count; start += CHUNK_BATCH) {
      const batch = await next;
      next = this.#fetch(start + CHUNK_BATCH);
      next.catch(() => undefined); // awaited on the next turn, unless this layer stops first
      // One piece per batch: the chunker and ingest cost per piece, and seed chunks are small.
      yield Buffer.concat(batch.map((chunk) => chunk.plain));
      this.#listener.read(batch.reduce((sum, chunk) => sum + chunk.storedBytes, 0));
    }
  }

  /** The chunks from the `start`th on, fetched and verified; a chunk repeated in the batch is fetched once. */
  async #fetch(start: number): Promise<{ plain: Buffer; storedBytes: number }[]> {
    const keys = sliceKeys(this.#chunkKeys, this.#keyLength, start, start + CHUNK_BATCH);
    const unique = [...new Set(keys)];
    const values = await this.#source.getValues(unique);
    const chunks = new Map(unique.map((key, i) => [key, this.#decode(key, values[i], start + keys.indexOf(key))]));
    return keys.map((key) => chunks.get(key)!);
  }

  #decode(key: string, value: Buffer | undefined, index: number): { plain: Buffer; storedBytes: number } {
    if (value === undefined) throw new DedupError("CHUNK_MISSING", `chunk #${index + 1} (${key}) is missing from the seed`, { key });
    try {
      return { plain: decodeChunk(key, value), storedBytes: value.length };
    } catch (error) {
      if (!this.#layerKeys.has(key)) throw error;
      throw new DedupError(
        "CHUNK_CORRUPT",
        `unrecoverable: chunk #${index + 1} (${key}) was overwritten by the recipe of the single-chunk layer sha256:${key} (sha256 chunk keys: the seed stored that layer's recipe under its chunk's key)`,
        { key },
      );
    }
  }
}
