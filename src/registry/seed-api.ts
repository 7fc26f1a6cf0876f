import { createWriteStream } from "node:fs";
import { realpath, rename, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { isDedupError } from "../errors.js";
import { parseDigest } from "../layers/digest.js";
import type { BlobService } from "../layers/blob-service.js";
import { writeBlob } from "../layers/write-blob.js";
import type { RegistryMetadata } from "./metadata.js";

/**
 * The REST calls of the seed's storage module that Dragonfly's patched dfdaemon makes, so a
 * docker_dedup deployment can switch over: the same queries, the same plain-text answers.
 *
 *   GET /checkout?uuid=<sha256 hex>&path=<file>   rebuild the blob into `path`; "True" / "False"
 *   GET /is_available?uuid=<sha256 hex>            "True" / "False"
 *   GET /info                                      what the store holds, as text
 *
 * Unlike the seed, `path` must lie inside one configured directory (the seed wrote wherever an
 * HTTP caller said), files are written whole or not at all, and nothing is evaluated or run.
 *
 * The seed's API has no users. When the registry has auth on, its callers get what an anonymous
 * client may pull (`mayServe`, see `pullableBlobs`), and a blob they may not have is "False",
 * as a missing one: no answer tells one from the other.
 */
export interface SeedApiOptions {
  blobs: BlobService;
  /** The only directory /checkout may write into. */
  checkoutDir: string;
  /** Whether a blob may be answered for; default: every blob in the store. */
  mayServe?: (digest: string) => Promise<boolean>;
}

export function createSeedApiServer(options: SeedApiOptions): Server {
  return createServer((req, res) => void handle(options, req, res).catch(() => res.destroy()));
}

async function handle(options: SeedApiOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://seed-api");
  try {
    if (req.method !== "GET") return send(res, 405, "only GET is served");
    switch (url.pathname) {
      case "/checkout":
        return await checkout(options, res, url.searchParams);
      case "/is_available": {
        const digest = parseDigest(url.searchParams.get("uuid") ?? "");
        return send(res, 200, (await mayServe(options, digest)) && (await options.blobs.has(digest)) ? "True" : "False");
      }
      case "/info":
        return send(res, 200, await info(options.blobs));
      default:
        return send(res, 404, `unknown call ${url.pathname}`);
    }
  } catch (error) {
    if (isDedupError(error, "DIGEST_INVALID")) return send(res, 400, error.message);
    if (error instanceof ForbiddenPath) return send(res, 403, error.message);
    if (error instanceof UnusablePath) return send(res, 400, error.message);
    process.stderr.write(`docker-dedup: seed API ${url.pathname}: ${(error as Error).message}\n`);
    send(res, 500, "False");
  }
}

async function checkout(options: SeedApiOptions, res: ServerResponse, query: URLSearchParams): Promise<void> {
  const digest = parseDigest(query.get("uuid") ?? "");
  const target = await confine(options.checkoutDir, query.get("path") ?? "");
  const blob = (await mayServe(options, digest)) ? await options.blobs.open(digest) : undefined;
  if (blob === undefined) return send(res, 404, "False");
  const partial = `${target}.partial-${process.pid}-${Date.now()}`;
  try {
    await writeBlob(blob, createWriteStream(partial, { flags: "wx" }));
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  send(res, 200, "True");
}

function mayServe(options: SeedApiOptions, digest: string): Promise<boolean> {
  return options.mayServe?.(digest) ?? Promise.resolve(true);
}

/** Page size of the repository scan in `pullableBlobs`. */
const SCAN_PAGE = 1000;

/**
 * `mayServe` for callers who may pull the repositories `mayPull` accepts: a blob is served when
 * one of them links it. Blobs that no repository links (stored by `add` or `import-seed`) are
 * then served to nobody. Each call walks the catalog, one link lookup per pullable repository.
 */
export function pullableBlobs(meta: RegistryMetadata, mayPull: (repository: string) => boolean): (digest: string) => Promise<boolean> {
  return async (digest) => {
    let last: string | undefined;
    for (;;) {
      const names = await meta.listRepositories(last, SCAN_PAGE);
      for (const name of names) {
        if (mayPull(name) && (await meta.blobLink(name, digest)) !== undefined) return true;
      }
      if (names.length < SCAN_PAGE) return false;
      last = names[names.length - 1];
    }
  };
}

class ForbiddenPath extends Error {}
class UnusablePath extends Error {}

/**
 * The absolute file `path` names, if it lies inside `dir`, also once symbolic links in its parent
 * are resolved. Directories are never created: the caller's download directory exists.
 */
async function confine(dir: string, path: string): Promise<string> {
  if (path === "" || path.includes("\0")) throw new ForbiddenPath("path is missing");
  const root = await realpath(resolve(dir));
  const isInside = (candidate: string) => {
    const rel = relative(root, candidate);
    // `..foo.bin` is a name inside; only `..` itself, or a path through it, leaves.
    return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
  };
  const wanted = resolve(root, path);
  if (!isInside(wanted)) throw new ForbiddenPath(`path must lie inside ${root}`);
  const parent = await realpath(dirname(wanted)).catch(() => undefined);
  if (parent === undefined) throw new ForbiddenPath(`the directory of ${wanted} does not exist`);
  const target = join(parent, basename(wanted));
  if (!isInside(target)) throw new ForbiddenPath(`path must lie inside ${root}`);
  if ((await stat(target).catch(() => undefined))?.isDirectory()) throw new UnusablePath(`${wanted} is a directory; path must name a file`);
  return target;
}

async function info(blobs: BlobService): Promise<string> {
  const s = await blobs.summary();
  return [
    `store: ${blobs.location}`,
    `blobs: ${s.blobs}`,
    `chunks: ${s.chunks}`,
    `original size: ${s.logicalBytes}`,
    `unique size: ${s.uniqueBytes}`,
    `stored size: ${s.storedBytes}`,
    `dedup ratio: ${s.dedupRatio.toFixed(3)}`,
    `compression ratio: ${s.compressionRatio.toFixed(3)}`,
    "",
  ].join("\n");
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
