import { randomBytes } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { PeerAccess } from "../../config/site-config.js";
import { DedupError, isDedupError } from "../../errors.js";
import { readBody, type BodyRules } from "../../http/body.js";
import type { BlobService } from "../../layers/blob-service.js";
import { parseDigest } from "../../layers/digest.js";
import { encodeGzipForm } from "../../layers/gzip/form.js";
import { encodeRecipe } from "../../store/recipe.js";
import { chunksApart } from "../../store/runs.js";
import type { Store } from "../../store/types.js";
import type { ReplicateCall, ReplicateEvent, ReplicateRequest, StatusCall } from "./operator-calls.js";
import { createPeerServer, secretChecker } from "./peer-auth.js";
import {
  type ChangeEntry,
  encodeBitmap,
  frameHeader,
  MAX_IDS_PER_HAS,
  MAX_IDS_PER_REQUEST,
  MAX_PROBE_BYTES,
  MIN_PROBE_BYTES,
  MISSING_CHUNK,
  PEER_API_PREFIX,
  PEER_API_VERSION,
  splitIds,
} from "./peer-protocol.js";

export interface PeerApiOptions {
  site: string;
  /** The site's own store, not the SiteStore over it: a peer must get only what this site holds, never what it would fetch. */
  store: Store;
  /** The blobs of that store: gzip layers held as their content are served as their forms. */
  blobs: BlobService;
  log: ServedLog;
  access: PeerAccess;
  logLine: (line: string) => void;
  statusCall: StatusCall;
  replicateCall: ReplicateCall;
}

/** The site's change log (sites/log/change-log.ts), as `info` and `log` serve it. */
export interface ServedLog {
  readonly head: number;
  /** Up to `limit` entries after `after`, in order. */
  read(after: number, limit: number): Promise<ChangeEntry[]>;
}

/** Log entries per `log` reply. */
const LOG_PAGE = 1000;
/** Chunks read from the store per call while a `chunks` reply streams out. */
const READ_BATCH = 64;
/** A `probe` reply repeats this many random bytes: no compressor's window on the way spans a repeat. */
const PROBE_BLOCK_BYTES = 1024 * 1024;

/** The peer API server (peer-protocol.ts describes the calls); the caller listens and closes. */
export function createPeerApiServer(options: PeerApiOptions): Server {
  const authorized = secretChecker(options.access.secret);
  // Made at the first probe, so that a site nobody probes never makes it.
  let probeBlock: Buffer | undefined;
  const probe = () => (probeBlock ??= randomBytes(PROBE_BLOCK_BYTES));
  const server = createPeerServer(options.access.tls, (req, res) => {
    if (!authorized(req.headers.authorization)) {
      req.resume();
      send(res, 401, "text/plain", "peer secret required\n");
      return;
    }
    handle(options, probe, req, res).catch((error: unknown) => {
      const clientFault = isDedupError(error, "INPUT_INVALID") || isDedupError(error, "DIGEST_INVALID");
      if (!clientFault) options.logLine(`peer API ${req.method} ${req.url}: ${(error as Error).message}`);
      if (res.headersSent) res.destroy();
      else send(res, clientFault ? 400 : 500, "text/plain", `${(error as Error).message}\n`);
    });
  });
  server.keepAliveTimeout = 60_000;
  return server;
}

async function handle(options: PeerApiOptions, probe: () => Buffer, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://peer");
  const call = url.pathname.startsWith(PEER_API_PREFIX) ? url.pathname.slice(PEER_API_PREFIX.length) : undefined;
  const route = `${req.method} ${call?.startsWith("recipes/") ? "recipes/" : call?.startsWith("forms/") ? "forms/" : call}`;
  switch (route) {
    case "GET info":
      return send(res, 200, "application/json", JSON.stringify({ site: options.site, version: PEER_API_VERSION, head: options.log.head }));
    case "GET status":
      return send(res, 200, "application/json", JSON.stringify(await options.statusCall.status(url.searchParams.get("image") ?? undefined)));
    case "POST replicate":
      return replicate(options.replicateCall, req, res, options.logLine);
    case "POST has": {
      const ids = splitIds(await readBody(req, peerBodyRules(MAX_IDS_PER_HAS * 32)), MAX_IDS_PER_HAS);
      return send(res, 200, "application/octet-stream", encodeBitmap(await options.store.hasChunks(ids)));
    }
    case "POST chunks":
      return sendChunks(options.store, splitIds(await readBody(req, peerBodyRules(MAX_IDS_PER_REQUEST * 32)), MAX_IDS_PER_REQUEST), res);
    case "GET recipes/": {
      const recipe = await options.store.getRecipe(parseDigest(call!.slice("recipes/".length)));
      return recipe === undefined ? send(res, 404, "text/plain", "no such recipe\n") : send(res, 200, "application/octet-stream", encodeRecipe(recipe, { sealed: false }));
    }
    case "GET forms/": {
      const form = await options.blobs.gzipForm(parseDigest(call!.slice("forms/".length)));
      return form === undefined ? send(res, 404, "text/plain", "no such form\n") : send(res, 200, "application/json", encodeGzipForm(form));
    }
    case "GET probe": {
      const bytes = Number(url.searchParams.get("bytes"));
      if (!Number.isSafeInteger(bytes) || bytes < MIN_PROBE_BYTES || bytes > MAX_PROBE_BYTES) {
        return send(res, 400, "text/plain", `bytes: expected ${MIN_PROBE_BYTES} to ${MAX_PROBE_BYTES}\n`);
      }
      return sendProbe(bytes, probe(), res);
    }
    case "GET log": {
      const after = Number(url.searchParams.get("after") ?? 0);
      if (!Number.isSafeInteger(after) || after < 0) return send(res, 400, "text/plain", "after: expected a sequence number\n");
      const entries = await options.log.read(after, LOG_PAGE);
      return send(res, 200, "application/json", JSON.stringify({ entries, head: options.log.head }));
    }
  }
  req.resume();
  send(res, 404, "text/plain", `no such peer call: ${req.method} ${url.pathname.slice(0, 200)}\n`);
}

/**
 * `replicate`: checked, then done here or passed on to the destination, the reply streamed back
 * as it comes. Once the reply has begun, a failure is its last line (`{"type": "error"}`).
 */
async function replicate(call: ReplicateCall, req: IncomingMessage, res: ServerResponse, logLine: (line: string) => void): Promise<void> {
  let request: ReplicateRequest;
  try {
    request = JSON.parse((await readBody(req, peerBodyRules(64 * 1024))).toString("utf8")) as ReplicateRequest;
  } catch (error) {
    throw new DedupError("INPUT_INVALID", `replicate: the body is not JSON: ${(error as Error).message}`);
  }
  if (typeof request !== "object" || request === null) throw new DedupError("INPUT_INVALID", "replicate: expected a JSON object");
  const destination = call.route(request);
  if (destination !== undefined) {
    const digest = request.digest ?? (await call.resolve(request));
    const reply = await destination.replicate({ ...request, ...(digest === undefined ? {} : { digest }) });
    res.writeHead(reply.statusCode ?? 502, { "Content-Type": reply.headers["content-type"] ?? "text/plain" });
    try {
      for await (const part of reply as AsyncIterable<Buffer>) await write(res, part);
    } catch (error) {
      res.write(`${JSON.stringify({ type: "error", message: `site ${destination.name} stopped answering: ${(error as Error).message}` })}\n`);
    }
    res.end();
    return;
  }
  res.writeHead(200, { "Content-Type": "application/x-ndjson" });
  const emit = (event: ReplicateEvent) => {
    if (!res.destroyed) res.write(`${JSON.stringify(event)}\n`);
  };
  try {
    await call.replicate(request, emit);
  } catch (error) {
    logLine(`replicate ${request.repository}:${request.reference}: ${(error as Error).message}`);
    emit({ type: "error", message: (error as Error).message });
  }
  res.end();
}

/** Frames go out as the store reads them, a batch at a time, with backpressure. */
async function sendChunks(store: Store, ids: Buffer[], res: ServerResponse): Promise<void> {
  res.writeHead(200, { "Content-Type": "application/octet-stream" });
  for (let from = 0; from < ids.length; from += READ_BATCH) {
    const batch = ids.slice(from, from + READ_BATCH);
    // A chunk goes out apart from its run (store/runs.ts): a peer takes only the chunks it lacks.
    const stored = await chunksApart(store, batch, store.settings.compression);
    for (const [i, data] of stored.entries()) {
      res.write(frameHeader(data === undefined ? MISSING_CHUNK : data.length));
      if (data !== undefined) await write(res, data);
      if (res.destroyed) return;
    }
  }
  res.end();
}

/** `bytes` of random data, `block` over and over. */
async function sendProbe(bytes: number, block: Buffer, res: ServerResponse): Promise<void> {
  res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": bytes });
  for (let left = bytes; left > 0 && !res.destroyed; left -= block.length) await write(res, block.subarray(0, Math.min(left, block.length)));
  res.end();
}

/** Writes with backpressure: resolves once the response takes more, or is gone (a peer that hangs up must not leave the reply waiting for ever). */
async function write(res: ServerResponse, data: Uint8Array): Promise<void> {
  if (res.write(data) || res.destroyed) return;
  await new Promise<void>((resolve) => {
    const go = () => {
      res.off("drain", go).off("close", go);
      resolve();
    };
    res.on("drain", go).on("close", go);
  });
}

/** A peer request's body: at most `maxBytes`, and at the usual minimum rate. */
function peerBodyRules(maxBytes: number): BodyRules & { maxBytes: number } {
  return {
    maxBytes,
    refuse: (why, limit) => new DedupError("INPUT_INVALID", why === "too-large" ? `request body over ${limit} bytes` : `request body slower than ${limit} bytes per second`),
  };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer): void {
  res.writeHead(status, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}
