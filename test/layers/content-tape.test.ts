import assert from "node:assert/strict";
import { test } from "node:test";
import { isDedupError } from "../../src/errors.js";
import { ContentTape } from "../../src/layers/gzip/content-tape.js";
import type { ReadRange } from "../../src/layers/gzip/prove.js";
import { randomBytes } from "../helpers.js";

/** A content of `bytes` in pieces of 1,000 bytes, counting the ranges opened and the bytes read. */
function source(bytes: Buffer) {
  const seen = { opened: [] as [number, number][], read: 0, closed: false };
  const content: ReadRange = async function* (start, end) {
    seen.opened.push([start, end]);
    try {
      for (let at = start; at < end; at += 1000) {
        const piece = bytes.subarray(at, Math.min(end, at + 1000));
        seen.read += piece.length;
        yield piece;
      }
    } finally {
      seen.closed = true;
    }
  };
  return { content, seen };
}

test("a content tape reads its range once, front to back, for ranges that overlap the one before", async () => {
  const bytes = randomBytes(20_000);
  const { content, seen } = source(bytes);
  const tape = new ContentTape(content, 500, 19_500);
  // As parts ask: each reaches back before the end of the one before, asked for at once, in order.
  const ranges: [number, number][] = [[500, 6_700], [5_900, 12_345], [12_000, 19_500]];
  const taken = await Promise.all(ranges.map(([from, to]) => tape.take(from, to)));
  ranges.forEach(([from, to], i) => assert.ok(Buffer.from(taken[i]!).equals(bytes.subarray(from, to)), `range ${from}-${to}`));
  assert.deepEqual(seen.opened, [[500, 19_500]], "one read of the whole range");
  assert.equal(seen.read, 19_000, "each byte read once");
  await tape.close();
  assert.equal(seen.closed, true);
});

test("a content tape refuses a range before one it handed out, and says when the content ends early", async () => {
  const { content } = source(randomBytes(10_000));
  const tape = new ContentTape(content, 0, 12_000);
  await tape.take(4_000, 8_000);
  await assert.rejects(tape.take(1_000, 5_000), /asked for after/);
  await assert.rejects(tape.take(8_000, 12_000), (error: unknown) => isDedupError(error, "STORE_INVALID"));
});

test("a content tape that is never asked for a range never opens its content", async () => {
  const { content, seen } = source(randomBytes(1_000));
  const tape = new ContentTape(content, 0, 1_000);
  await tape.close();
  assert.deepEqual(seen.opened, []);
});
