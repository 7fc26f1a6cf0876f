import { BlobParts, BlobService } from "../layers/blob-service.js";
import type { Store } from "../store/types.js";

/**
 * Runs a one-shot command's work on the blobs of `store`, waits for the gzip layers it stored to
 * be converted to their content, then closes the service, its parts and the store. No chunk
 * cache: such a command reads each chunk once. With `resumeConversions` (commands that store
 * blobs), gzip layers an interrupted run left unconverted are converted too.
 */
export async function usingBlobs<T>(store: Store, work: (blobs: BlobService) => Promise<T>, options: { resumeConversions?: boolean } = {}): Promise<T> {
  const parts = new BlobParts({ chunkCacheBytes: 0 });
  const blobs = new BlobService(store, parts, (line) => process.stderr.write(`docker-dedup: ${line}\n`));
  try {
    if (options.resumeConversions) await blobs.resumeConversions();
    const result = await work(blobs);
    await blobs.conversionsSettled();
    return result;
  } finally {
    await blobs.close();
    await parts.close();
    await store.close();
  }
}
