import assert from "node:assert/strict";
import { test } from "node:test";
import { CodecPool } from "../../src/layers/codec-pool.js";
import { chunkIdOf } from "../../src/store/chunk-id.js";
import { encodeChunk } from "../../src/store/codec.js";
import { wordyBytes } from "../helpers.js";

// Read plans give the stored bytes back to the store as soon as the decode is asked for
// (layers/read-plan.ts), so the decode must not read them later.
for (const [name, chunkBytes] of [
  ["in place (a batch too small for a thread)", 2_000],
  ["on a codec thread", 200_000],
] as const) {
  test(`decoding takes the stored bytes in before it returns, ${name}`, async (t) => {
    const pool = new CodecPool(1);
    t.after(() => pool.close());
    const chunks = Array.from({ length: 4 }, (_, i) => wordyBytes(chunkBytes, 40 + i));
    const stored = chunks.map((chunk) => encodeChunk(chunk, { codec: "zstd", level: 3 }));
    const decoding = pool.decodeChecked(stored, chunks.map(chunkIdOf), chunks.map((chunk) => chunk.length));
    for (const bytes of stored) bytes.fill(0);
    (await decoding).forEach((chunk, i) => assert.ok(chunk?.equals(chunks[i]!), `chunk ${i}`));
  });
}
