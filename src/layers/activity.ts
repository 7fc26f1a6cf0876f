import type { CollectReport } from "./gc.js";
import type { IngestResult } from "./ingest.js";

/**
 * Running totals of what the blob services of one process did since it started: plain numbers,
 * bumped where the work happens and read by whoever wants them (serve's metrics, in observe/),
 * so that nothing below the edge knows how they are exported and reading them costs nothing.
 * Not persisted: a restart starts from zero, as Prometheus counters expect.
 */
export class BlobActivity {
  /** Blobs stored through the door (pushes, `add`, conversions' contents), whether new or not, and their bytes as read. */
  ingestedBlobs = 0;
  ingestedBytes = 0;
  /** Chunks those ingests added to the store: their count, plain bytes and stored (compressed) bytes. */
  newChunks = 0;
  newChunkBytes = 0;
  newStoredBytes = 0;
  /** Bytes of blobs read back through the door (pulls, re-created gzip layers, manifests), as handed out. */
  rebuiltBytes = 0;
  /** Garbage collections run, and what they gave back. */
  collections = 0;
  /** Stored bytes of the chunks collections deleted. */
  collectedChunkBytes = 0;
  /** Bytes pack rewrites gave back to the backend. */
  compactedBytes = 0;

  ingested(result: IngestResult): void {
    this.ingestedBlobs++;
    this.ingestedBytes += result.size;
    this.newChunks += result.newChunks;
    this.newChunkBytes += result.newBytes;
    this.newStoredBytes += result.storedBytes;
  }

  collected(report: CollectReport): void {
    this.collections++;
    this.collectedChunkBytes += report.chunks.deletedBytes;
    this.compactedBytes += report.packs.freedBytes;
  }

  /** Passes a read's pieces through, counting them as they are handed out. */
  async *counted(pieces: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const piece of pieces) {
      this.rebuiltBytes += piece.length;
      yield piece;
    }
  }
}
