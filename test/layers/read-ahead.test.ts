import assert from "node:assert/strict";
import { test } from "node:test";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { READ_BATCH_BYTES } from "../../src/layers/read-batches.js";
import { blobsOver, freshBlobs, readBack } from "../blobs.js";
import { fromPieces, randomBytes } from "../helpers.js";

/** The read-ahead budget: what all reads fetch ahead of their consumers stays within it, and reads still all finish. */

test("reads at once fetch ahead within the budget, each still moving on, and give it all back, whole or left early", async (t) => {
  const { store, blobs: writer } = await freshBlobs(t, 0);
  // Room for two batches ahead in all, among six reads of three batches each.
  const limit = 2 * READ_BATCH_BYTES;
  const parts = new BlobParts({ chunkCacheBytes: 0, readAheadBytes: limit });
  const reader = new BlobService(store, parts);
  t.after(async () => {
    await reader.close();
    await parts.close();
  });
  const data = Array.from({ length: 6 }, (_, i) => randomBytes(3 * READ_BATCH_BYTES - 100_000, 90 + i));
  const digests: string[] = [];
  for (const blob of data) digests.push((await writer.ingest(fromPieces([blob]))).digest);

  let most = 0;
  const read = await Promise.all(
    digests.map(async (digest) => {
      const pieces: Buffer[] = [];
      for await (const piece of (await reader.open(digest))!.read()) {
        most = Math.max(most, parts.readAhead.used);
        pieces.push(piece);
      }
      return Buffer.concat(pieces);
    }),
  );
  read.forEach((bytes, i) => assert.ok(bytes.equals(data[i]!), `blob ${i}`));
  assert.ok(most > 0, "reads did fetch ahead");
  assert.ok(most <= limit, `${most} bytes ahead at most`);
  assert.equal(parts.readAhead.used, 0);

  // A client that goes away after the first piece.
  for await (const _ of (await reader.open(digests[0]!))!.read()) break;
  assert.equal(parts.readAhead.used, 0, "a read left early gives back what it held");
  assert.ok((await readBack(blobsOver(t, store, 0), digests[1]!)).equals(data[1]!));
});
