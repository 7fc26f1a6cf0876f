import { open } from "node:fs/promises";
import { headerChecksumOk, headerSize, isRegularFile, isZeroBlock, TAR_BLOCK } from "../chunking/tar-header.js";

/** A regular file inside a tar archive: its path and where its bytes lie in the archive. */
export interface TarEntry {
  path: string;
  offset: number;
  size: number;
}

const HEADER_WINDOW = 256 * 1024;

/**
 * Lists the regular files of a tar archive by reading only its headers (positional reads that
 * skip file data), or returns undefined if the file is not a tar archive. Handles PAX `path`
 * records and GNU long names, which `docker save` and OCI tools may write. With `giveUp`, also
 * returns undefined at the first regular file whose path it rejects (the caller knows then that
 * the archive is not what it looks for, without reading every header).
 */
export async function indexTar(file: string, giveUp?: (path: string) => boolean): Promise<TarEntry[] | undefined> {
  const handle = await open(file, "r");
  try {
    const { size: fileSize } = await handle.stat();
    // Headers are read through a window of the file: small entries' headers lie close together,
    // and one read per header (thousands in a layer) cost a second per dataset before `add` began.
    const window = Buffer.allocUnsafe(HEADER_WINDOW);
    let windowStart = 0;
    let windowEnd = 0;
    const entries: TarEntry[] = [];
    let position = 0;
    let longName: string | undefined;
    while (position + TAR_BLOCK <= fileSize) {
      if (position < windowStart || position + TAR_BLOCK > windowEnd) {
        const { bytesRead } = await handle.read(window, 0, Math.min(HEADER_WINDOW, fileSize - position), position);
        windowStart = position;
        windowEnd = position + bytesRead;
        if (bytesRead < TAR_BLOCK) return undefined;
      }
      const header = window.subarray(position - windowStart, position - windowStart + TAR_BLOCK);
      if (isZeroBlock(header)) return entries;
      if (!headerChecksumOk(header)) return undefined;
      const size = headerSize(header);
      const type = String.fromCharCode(header[156]!);
      const dataStart = position + TAR_BLOCK;
      if (size < 0 || dataStart + size > fileSize) return undefined;
      if (type === "x" || type === "L") {
        const data = Buffer.alloc(size);
        await handle.read(data, 0, size, dataStart);
        longName = type === "L" ? cString(data) : paxPath(data) ?? longName;
      } else {
        if (isRegularFile(header[156])) {
          const path = normalise(longName ?? ustarName(header));
          if (giveUp?.(path)) return undefined;
          entries.push({ path, offset: dataStart, size });
        }
        longName = undefined;
      }
      position = dataStart + Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
    }
    return entries.length > 0 ? entries : undefined;
  } finally {
    await handle.close();
  }
}

function ustarName(header: Buffer): string {
  const name = cString(header.subarray(0, 100));
  const isUstar = header.subarray(257, 262).toString("latin1") === "ustar";
  const prefix = isUstar ? cString(header.subarray(345, 500)) : "";
  return prefix ? `${prefix}/${name}` : name;
}

function paxPath(data: Buffer): string | undefined {
  let path: string | undefined;
  for (const record of data.toString("utf8").split("\n")) {
    const match = /^\d+ path=(.*)$/.exec(record);
    if (match) path = match[1];
  }
  return path;
}

function normalise(path: string): string {
  return path.replace(/^\.\//, "");
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString("utf8");
}
