import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gzipWith } from "../deflate/gzipper.js";
import { randomBytes, run, runCli, tempDir } from "../helpers.js";

/**
 * `stats` tells dedup and compression apart (layers/summary.ts): a store of one tar without
 * repeats is 1.00x dedup whatever its compression, and so is the same tar pushed gzip-compressed
 * and stored as its content, whose logical (compressed) size is below what its chunks hold.
 */

interface Stats {
  blobs: number;
  logicalBytes: number;
  chunkedBytes: number;
  uniqueBytes: number;
  storedBytes: number;
  dedupRatio: number;
  compressionRatio: number;
  gzip: { asContent: number; asContentBytes: number; contentBytes: number };
}

async function statsOf(store: string, file: string): Promise<{ json: Stats; text: string }> {
  const added = await runCli(["add", "--store", store, file]);
  assert.equal(added.code, 0, added.stderr);
  const json = await runCli(["stats", "--store", store, "--json"]);
  const text = await runCli(["stats", "--store", store]);
  assert.equal(json.code + text.code, 0, json.stderr + text.stderr);
  return { json: JSON.parse(json.stdout) as Stats, text: text.stdout };
}

test("stats of one tar without repeats: dedup 1.00x and its compression apart, gzip-compressed or not", async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, "files"));
  // Random bytes written as hex: text that zstd halves about, and in which no chunk comes twice.
  const names = ["a.txt", "b.txt", "c.txt"];
  for (const [i, name] of names.entries()) await writeFile(join(dir, "files", name), randomBytes(400_000, 40 + i).toString("hex"));
  await run("tar", ["-cf", join(dir, "layer.tar"), "-C", join(dir, "files"), ...names]);
  const tar = await readFile(join(dir, "layer.tar"));
  // As docker compresses layers (Go's compress/gzip), which the store can write again: stored as its content.
  const gzip = await gzipWith({ encoder: "stdlib", level: 6 }, tar);
  await writeFile(join(dir, "layer.tar.gz"), gzip);

  const plain = await statsOf(join(dir, "plain"), join(dir, "layer.tar"));
  assert.equal(plain.json.blobs, 1);
  assert.equal(plain.json.logicalBytes, tar.length);
  assert.equal(plain.json.chunkedBytes, tar.length);
  assert.equal(plain.json.uniqueBytes, tar.length, "no chunk twice");
  assert.equal(plain.json.dedupRatio, 1);
  assert.ok(plain.json.compressionRatio > 1.5 && plain.json.compressionRatio < 2.5, `compression ${plain.json.compressionRatio}`);
  assert.match(plain.text, /^dedup ratio {9}1\.00x {2}chunked \/ unique$/m);
  assert.match(plain.text, /^compression ratio {3}(1\.[5-9]|2\.[0-4])\dx {2}unique \/ stored$/m);

  const converted = await statsOf(join(dir, "gzip"), join(dir, "layer.tar.gz"));
  assert.equal(converted.json.blobs, 1);
  assert.equal(converted.json.gzip.asContent, 1, "stored as its content");
  assert.equal(converted.json.logicalBytes, gzip.length, "what clients read: the compressed layer");
  assert.equal(converted.json.gzip.asContentBytes, gzip.length);
  assert.equal(converted.json.gzip.contentBytes, tar.length);
  assert.equal(converted.json.chunkedBytes, tar.length, "what the chunks make up: the tar");
  assert.equal(converted.json.dedupRatio, 1, "no repeats: 1.00x, where logical / unique would say less than 1");
  assert.ok(converted.json.logicalBytes / converted.json.uniqueBytes < 0.8);
  assert.equal(converted.json.compressionRatio, plain.json.compressionRatio, "the same chunks, compressed alike");
  assert.match(converted.text, /^chunked bytes {7}\d+ \(.+\) {2}what the chunks make up before dedup, gzip layers at their content's size \(\d+ \(.+\) for \d+ \(.+\) compressed\)$/m);
  assert.match(converted.text, /^dedup ratio {9}1\.00x/m);
});
