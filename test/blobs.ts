import { join } from "node:path";
import { BlobParts, BlobService } from "../src/layers/blob-service.js";
import type { RecreatedCache } from "../src/layers/gzip/recreated-cache.js";
import { openStore } from "../src/store/open.js";
import type { Store } from "../src/store/types.js";
import { tempDir } from "./helpers.js";

/** A blob service over `store` with parts of its own, closed (parts, not the store) when the test ends. */
export function blobsOver(t: { after(fn: () => unknown): void }, store: Store, chunkCacheBytes = 64 << 20, recreated?: RecreatedCache): BlobService {
  const parts = new BlobParts({ chunkCacheBytes, ...(recreated === undefined ? {} : { recreated }) });
  const blobs = new BlobService(store, parts, (line) => process.env.DOCKER_DEDUP_TEST_LOG && console.log(line));
  t.after(async () => {
    await blobs.close();
    await parts.close();
  });
  return blobs;
}

/** A fresh embedded store in a temporary directory and the blobs over it; both closed when the test ends. */
export async function freshBlobs(t: { after(fn: () => unknown): void }, chunkCacheBytes?: number, recreated?: RecreatedCache): Promise<{ store: Store; blobs: BlobService }> {
  const store = await openStore(join(await tempDir(t), "store"), { create: true });
  const blobs = blobsOver(t, store, chunkCacheBytes, recreated);
  // After-hooks run in the order they were added: the service first (it waits for gzip conversions under way), then the store they write to.
  t.after(() => store.close());
  return { store, blobs };
}

/** A stored blob's bytes (or a range of them), read through the door. */
export async function readBack(blobs: BlobService, digest: string, range?: { start: number; end: number }): Promise<Buffer> {
  const blob = await blobs.open(digest);
  if (blob === undefined) throw new Error(`${digest} is not stored`);
  const parts: Buffer[] = [];
  for await (const part of blob.read(range)) parts.push(part);
  return Buffer.concat(parts);
}
