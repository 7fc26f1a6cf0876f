/**
 * What a blob's first bytes say about its compression. Media types are not trusted for this:
 * docker labels uncompressed layers `...tar.gzip` after a cross-repository mount (harness.md).
 */
export type BlobCompression = "gzip" | "zstd" | "bzip2" | "xz";

const MAGIC: [BlobCompression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["bzip2", [0x42, 0x5a, 0x68]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

export function detectCompression(head: Uint8Array): BlobCompression | undefined {
  return MAGIC.find(([, magic]) => magic.every((byte, i) => head[i] === byte))?.[0];
}
