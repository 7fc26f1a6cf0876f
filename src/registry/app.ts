import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { MirrorConfig } from "../config/serve-config.js";
import type { Store } from "../store/types.js";
import { deleteBlob, getBlob } from "./blobs.js";
import type { Exchange, Registry } from "./context.js";
import { sendJson } from "./http-util.js";
import { listReferrers, listRepositories, listTags } from "./listings.js";
import { deleteManifest, getManifest, putManifest } from "./manifests.js";
import { RegistryMetadata } from "./metadata.js";
import { handleMirrored, Mirror } from "./mirror.js";
import { isValidRepositoryName } from "./names.js";
import { ReadGate } from "./read-gate.js";
import { RegistryError, sendError, toRegistryError } from "./oci-errors.js";
import { ALLOWED_METHODS, matchRoute, type Route } from "./routes.js";
import { DEFAULT_UPLOAD_LIMITS, UploadSessions, type UploadLimits } from "./upload-session.js";
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from "./uploads.js";

export interface RegistryOptions {
  store: Store;
  uploads?: Partial<UploadLimits>;
  /** Blobs rebuilt at once; 0 (the default) means no limit, 1 serves one layer at a time. */
  maxConcurrentReads?: number;
  /** Server-side messages; default: stderr. */
  log?: (line: string) => void;
  /** Also log one line per request. */
  accessLog?: boolean;
  /** Mirror mode: a pull-through cache of these upstreams (see mirror.ts). */
  mirror?: MirrorConfig;
  /** Serve HTTPS (node:https) with this PEM certificate (chain) and private key instead of plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

export interface RegistryServer {
  /** An https.Server when `tls` was given; the same API otherwise. */
  readonly server: Server | HttpsServer;
  readonly registry: Registry;
  /** Stops accepting connections and waits for requests in flight; upload sessions stay in the store. */
  close(): Promise<void>;
}

/**
 * The OCI Distribution Spec v1.1 registry on a dedup store, on plain node:http, or node:https
 * with `tls`. The caller listens (and owns the store); `close` does not close the store. With
 * `tls`, a bad certificate or key throws here, before anything listens.
 */
export function createRegistryServer(options: RegistryOptions): RegistryServer {
  const log = options.log ?? ((line: string) => process.stderr.write(`docker-dedup: ${line}\n`));
  const meta = new RegistryMetadata(options.store);
  const mirror = options.mirror === undefined || options.mirror.mirrors.length === 0 ? undefined : new Mirror(options.mirror, { store: options.store, meta, log });
  const registry: Registry = {
    store: options.store,
    meta,
    uploads: new UploadSessions(options.store, { ...DEFAULT_UPLOAD_LIMITS, ...options.uploads }, log),
    reads: new ReadGate(options.maxConcurrentReads ?? 0),
    log,
    ...(mirror === undefined ? {} : { mirror }),
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => void handle(registry, req, res, options.accessLog ?? false);
  const secure = options.tls !== undefined;
  const server = options.tls === undefined ? createServer(listener) : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener);
  // Uploads of large layers can take long; only the request headers have a deadline.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.on("clientError", (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => answerUnparsable(error, socket, secure));
  // Over TLS, a failed handshake (a plain-HTTP client, an untrusting one) only drops that connection.
  if (secure) server.on("tlsClientError", (_error: Error, socket: Socket) => socket.destroy());

  return {
    server,
    registry,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await registry.uploads.close();
      await mirror?.close();
    },
  };
}

async function handle(registry: Registry, req: IncomingMessage, res: ServerResponse, accessLog: boolean): Promise<void> {
  const started = Date.now();
  const method = req.method ?? "GET";
  const url = requestTarget(req.url ?? "/");
  const ex: Exchange = { registry, req, res, method, query: url.searchParams };
  res.setHeader("Docker-Distribution-Api-Version", "registry/2.0");
  res.setHeader("X-Content-Type-Options", "nosniff");
  if (accessLog) res.once("close", () => registry.log(`${method} ${url.pathname}${url.search} ${res.statusCode} ${Date.now() - started}ms`));
  try {
    await dispatch(ex, url.pathname);
  } catch (thrown) {
    if (res.writableEnded || res.destroyed || req.socket.destroyed || isClientGone(thrown)) {
      // Nobody is left to answer. A response cut by the server's own failure is still worth a line.
      if (!isClientGone(thrown) && res.headersSent) registry.log(`${method} ${url.pathname}: response cut: ${describe(thrown)}`);
      res.destroy();
      return;
    }
    const error = toRegistryError(thrown);
    if (error.isServerFault) registry.log(`${method} ${url.pathname}: ${describe(thrown)}`);
    sendError(res, error);
  }
}

async function dispatch(ex: Exchange, pathname: string): Promise<void> {
  const route = matchRoute(pathname);
  if (route === undefined) throw new RegistryError("UNSUPPORTED", `no such endpoint: ${pathname.slice(0, 200)}`, { status: 404 });
  if (route === "invalid") throw new RegistryError("NAME_INVALID", "the request path is not valid percent-encoding");
  const allowed = ALLOWED_METHODS[route.kind];
  if (!allowed.includes(ex.method)) {
    throw new RegistryError("UNSUPPORTED", `${ex.method} is not supported on this endpoint`, { headers: { Allow: allowed.join(", ") } });
  }
  if (ex.registry.mirror !== undefined && "name" in route && isValidRepositoryName(route.name)) {
    const target = ex.registry.mirror.resolve(route.name, ex.query);
    if (target !== undefined) return handleMirrored(ex, route, target);
  }
  await ROUTE_HANDLERS[route.kind](ex, route as never);
}

type Handler<K extends Route["kind"]> = (ex: Exchange, route: Extract<Route, { kind: K }>) => Promise<void>;

const ROUTE_HANDLERS: { [K in Route["kind"]]: Handler<K> } = {
  // The spec's version check: 200 means "this is a v2 registry and you may use it".
  base: async (ex) => sendJson(ex.res, 200, {}),
  catalog: (ex) => listRepositories(ex),
  blob: (ex, r) => (ex.method === "DELETE" ? deleteBlob(ex, r.name, r.digest) : getBlob(ex, r.name, r.digest)),
  uploads: (ex, r) => startUpload(ex, r.name),
  upload: (ex, r) => {
    switch (ex.method) {
      case "GET":
        return uploadStatus(ex, r.name, r.id);
      case "PATCH":
        return patchUpload(ex, r.name, r.id);
      case "PUT":
        return finishUpload(ex, r.name, r.id);
      default:
        return cancelUpload(ex, r.name, r.id);
    }
  },
  manifest: (ex, r) => {
    switch (ex.method) {
      case "PUT":
        return putManifest(ex, r.name, r.reference);
      case "DELETE":
        return deleteManifest(ex, r.name, r.reference);
      default:
        return getManifest(ex, r.name, r.reference);
    }
  },
  tags: (ex, r) => listTags(ex, r.name),
  referrers: (ex, r) => listReferrers(ex, r.name, r.digest),
};

/**
 * Bytes node cannot parse as HTTP. dockerd tries TLS first on any registry not marked
 * insecure: its ClientHello lands here. Answering with a plain HTTP 400 makes Go's TLS client
 * report "server gave HTTP response to HTTPS client", after which dockerd retries over HTTP.
 */
function answerUnparsable(error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket, secure: boolean): void {
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const tls = !secure && error.rawPacket?.[0] === 0x16;
  if (error.code === "HPE_HEADER_OVERFLOW") {
    socket.end("HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
    return;
  }
  const body = tls ? "this registry speaks plain HTTP, not TLS\n" : "malformed HTTP request\n";
  socket.end(`HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

/**
 * The path and query of a request, as sent. WHATWG URL parsing would resolve `.` and `..`
 * segments, turning `/v2/a/../b/...` into a request for repository `b`; taken raw, such a name
 * reaches the name check and is refused.
 */
function requestTarget(target: string): { pathname: string; search: string; searchParams: URLSearchParams } {
  const originForm = target.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, ""); // absolute-form, as sent to proxies
  const queryAt = originForm.indexOf("?");
  const pathname = queryAt === -1 ? originForm : originForm.slice(0, queryAt);
  const search = queryAt === -1 ? "" : originForm.slice(queryAt);
  return { pathname: pathname === "" ? "/" : pathname, search, searchParams: new URLSearchParams(search) };
}

function isClientGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException)?.code;
  return code === "ERR_STREAM_PREMATURE_CLOSE" || code === "ECONNRESET" || code === "EPIPE";
}

function describe(error: unknown): string {
  const root = error instanceof RegistryError && error.cause !== undefined ? error.cause : error;
  if (process.env.DOCKER_DEDUP_DEBUG && root instanceof Error) return root.stack ?? root.message;
  return root instanceof Error ? root.message : String(root);
}
