import { BlobParts, BlobService } from "../layers/blob-service.js";
import type { Store } from "../store/types.js";

/**
 * Runs a one-shot command's work on the blobs of `store`, then closes the service, its parts and
 * the store. No chunk cache: such a command reads each chunk once.
 */
export async function usingBlobs<T>(store: Store, work: (blobs: BlobService) => Promise<T>): Promise<T> {
  const parts = new BlobParts({ chunkCacheBytes: 0 });
  const blobs = new BlobService(store, parts);
  try {
    return await work(blobs);
  } finally {
    await blobs.close();
    await parts.close();
    await store.close();
  }
}
