import { open, readdir, stat } from "node:fs/promises";
import { basename, join } from "node:path";
import { DedupError } from "../errors.js";
import { indexTar, type TarEntry } from "./tar-index.js";
import { SHA256_HEX } from "./digest.js";

/** A blob to ingest: a whole file, or a byte range of one (a layer inside a `docker save` tarball). */
export interface BlobSource {
  /** What to call it in messages. */
  label: string;
  file: string;
  offset: number;
  size: number;
  /** Known from where it was found (a registry's or OCI layout's blob path): must match. */
  expectedDigest?: string;
}

const READ_SIZE = 1 << 20;

/**
 * The blob's bytes in pieces of READ_SIZE (the last one shorter). With `reuseAfter`, the pieces
 * are read into a ring of buffers: a piece's buffer is read into again once more than
 * `reuseAfter` bytes were yielded after it, so the consumer must not keep views into a piece
 * longer than that (ingestBlob keeps less than its chunker's maxSize). Without, every piece is
 * a buffer of its own.
 */
export async function* openSource(source: BlobSource, reuseAfter?: number): AsyncGenerator<Buffer> {
  if (source.size === 0) return;
  const ring: Buffer[] = [];
  const ringSize = reuseAfter === undefined ? 0 : Math.ceil(reuseAfter / READ_SIZE) + 2;
  const handle = await open(source.file, "r");
  try {
    for (let done = 0, piece = 0; done < source.size; piece++) {
      const length = Math.min(READ_SIZE, source.size - done);
      let buffer: Buffer;
      if (ringSize === 0) buffer = Buffer.allocUnsafeSlow(length);
      else buffer = ring[piece % ringSize] ??= Buffer.allocUnsafeSlow(READ_SIZE);
      for (let filled = 0; filled < length; ) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, source.offset + done + filled);
        if (bytesRead === 0) throw new DedupError("INPUT_INVALID", `${source.label}: file ended ${source.size - done - filled} bytes early`, { path: source.file });
        filled += bytesRead;
      }
      done += length;
      yield length === buffer.length ? buffer : buffer.subarray(0, length);
    }
  } finally {
    await handle.close();
  }
}

/**
 * Finds the blobs that a path holds. It understands, in this order:
 *  - a directory laid out like the reference registry's storage (docker/registry/v2/blobs/sha256/<2>/<hex>/data),
 *    found at the path itself or anywhere below it: the seed's workflow;
 *  - an OCI image layout (an `oci-layout` file beside blobs/<alg>/<hex>);
 *  - a `docker save` tarball (manifest.json with layer.tar files or OCI blobs inside);
 *  - otherwise every regular file, each one blob.
 */
export async function findBlobSources(path: string): Promise<BlobSource[]> {
  const info = await statOrFail(path);
  if (info.isDirectory()) {
    const registryBlobs = await findRegistryBlobs(path);
    if (registryBlobs !== undefined) return registryBlobs;
    if (await exists(join(path, "oci-layout"))) return blobsOfLayout(path);
    const sources: BlobSource[] = [];
    for (const name of (await readdir(path)).sort()) sources.push(...(await findBlobSources(join(path, name))));
    return sources;
  }
  if (!info.isFile()) return [];
  const archive = await dockerSaveBlobs(path);
  return archive ?? [{ label: path, file: path, offset: 0, size: info.size }];
}

async function findRegistryBlobs(dir: string): Promise<BlobSource[] | undefined> {
  for (const candidate of [join(dir, "docker/registry/v2/blobs/sha256"), join(dir, "v2/blobs/sha256"), join(dir, "blobs/sha256")]) {
    if (!(await exists(candidate)) || (await exists(join(dir, "oci-layout")))) continue;
    const sources: BlobSource[] = [];
    for (const shard of (await readdir(candidate)).sort()) {
      if (!/^[a-f0-9]{2}$/.test(shard)) continue;
      for (const hex of (await readdir(join(candidate, shard))).sort()) {
        const data = join(candidate, shard, hex, "data");
        if (!SHA256_HEX.test(hex) || !(await exists(data))) continue;
        sources.push({ label: data, file: data, offset: 0, size: (await stat(data)).size, expectedDigest: `sha256:${hex}` });
      }
    }
    if (sources.length > 0) return sources;
  }
  return undefined;
}

async function blobsOfLayout(dir: string): Promise<BlobSource[]> {
  const sources: BlobSource[] = [];
  const blobs = join(dir, "blobs", "sha256");
  for (const hex of (await readdir(blobs)).sort()) {
    if (!SHA256_HEX.test(hex)) continue;
    const file = join(blobs, hex);
    sources.push({ label: file, file, offset: 0, size: (await stat(file)).size, expectedDigest: `sha256:${hex}` });
  }
  return sources;
}

/** The blobs inside a `docker save` tarball (legacy `<id>/layer.tar` + `<id>.json`, or OCI `blobs/sha256/`). */
async function dockerSaveBlobs(file: string): Promise<BlobSource[] | undefined> {
  let entries: TarEntry[] | undefined;
  try {
    // A docker save tarball holds nothing deeper than blobs/sha256/<hex>: a deeper file (a layer's
    // root file system has them within its first entries) ends the search early.
    entries = await indexTar(file, (path) => path.split("/", 4).length > 3);
  } catch {
    return undefined;
  }
  if (entries === undefined || !entries.some((e) => e.path === "manifest.json")) return undefined;
  const picked = entries.filter((e) => /^[^/]+\/layer\.tar$/.test(e.path) || /^[a-f0-9]{64}\.json$/.test(e.path) || /^blobs\/sha256\/[a-f0-9]{64}$/.test(e.path));
  if (picked.length === 0) return undefined;
  return picked.map((e) => {
    const blobHex = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(e.path)?.[1];
    const source: BlobSource = { label: `${basename(file)}:${e.path}`, file, offset: e.offset, size: e.size };
    if (blobHex !== undefined) source.expectedDigest = `sha256:${blobHex}`;
    return source;
  });
}

async function statOrFail(path: string) {
  try {
    return await stat(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file or directory" : (error as Error).message;
    throw new DedupError("INPUT_INVALID", `${path}: ${reason}`, { path });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}


/** Reads `pieces` to the end and drops them: for reads done for their checks and side effects (a verify, a cache fill). */
export async function drain(pieces: AsyncIterable<unknown>): Promise<void> {
  for await (const piece of pieces) void piece;
}
