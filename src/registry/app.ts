import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { MirrorConfig } from "../config/serve-config.js";
import type { BlobService } from "../layers/blob-service.js";
import type { Store } from "../store/types.js";
import { answerTokenRequest, authorizeRequest } from "./access.js";
import { deleteBlob, getBlob } from "./blobs.js";
import type { Exchange, Registry, RegistryAuth } from "./context.js";
import { sendJson } from "./http-util.js";
import { listReferrers, listRepositories, listTags } from "./listings.js";
import { deleteManifest, getManifest, putManifest } from "./manifests.js";
import { RegistryMetadata } from "./metadata.js";
import { Mirror } from "./mirror.js";
import { checkRepositoryName } from "./names.js";
import { ReadGate } from "./read-gate.js";
import { errorBody, RegistryError, sendError, toRegistryError } from "./oci-errors.js";
import { DEFAULT_REQUEST_LIMITS, type RequestLimits } from "./limits.js";
import { ALLOWED_METHODS, matchRoute, type Route } from "./routes.js";
import { DEFAULT_UPLOAD_LIMITS, UploadSessions, type UploadLimits } from "./upload-session.js";
import { cancelUpload, finishUpload, patchUpload, startUpload, uploadStatus } from "./uploads.js";
import { countBodyBytes, REQUEST_ID_HEADER, requestIdOf, type RequestRecord } from "./request-record.js";

export interface RegistryOptions {
  /** Where the registry keeps its records (repositories, tags, links, upload sessions). */
  store: Store;
  /** The blobs, built over the same store. */
  blobs: BlobService;
  uploads?: Partial<UploadLimits>;
  limits?: Partial<RequestLimits>;
  /** Blobs rebuilt at once; 0 (the default) means no limit, 1 serves one layer at a time. */
  maxConcurrentReads?: number;
  /** Server-side messages; default: stderr. */
  log?: (line: string) => void;
  /** Hears of every request once its response is done or cut: metrics, a structured access log (observe/). */
  onRequest?: (record: RequestRecord) => void;
  /** Endpoints beside the API by path (health probes, metrics), answered before any auth. */
  endpoints?: ReadonlyMap<string, PlainEndpoint>;
  /** Pages under one path prefix (the web page, ui/). */
  pages?: PagesUnder;
  /** Mirror mode: a pull-through cache of these upstreams (see mirror.ts). */
  mirror?: MirrorConfig;
  /** The time now, in ms since the epoch (default Date.now): upload sessions, tag TTLs and upstream tokens expire by it. */
  now?: () => number;
  /** Serve HTTPS (node:https) with this PEM certificate (chain) and private key instead of plain HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Authentication and authorization (access.ts); without it, anyone may do anything. */
  auth?: RegistryAuth;
}

/**
 * An endpoint outside /v2/ that is no part of the registry API: answered to anyone (probes and
 * scrapers carry no registry credentials), so it must tell nothing a client may not know.
 */
export interface PlainEndpoint {
  /** What the access log and the metrics call its requests. */
  name: string;
  answer(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/**
 * Pages beside the API under one path prefix (the web page, ui/), answered before /v2/'s
 * dispatch: they authorize what needs it themselves (access.ts, authorizeListing).
 */
export interface PagesUnder {
  /** e.g. "/ui": the prefix itself and every path below it. */
  prefix: string;
  /** What the access log and the metrics call its requests. */
  name: string;
  answer(ex: Exchange, pathname: string): Promise<void>;
}

export interface RegistryServer {
  /** An https.Server when `tls` was given; the same API otherwise. */
  readonly server: Server | HttpsServer;
  readonly registry: Registry;
  /** Mirror mode's pull-through cache, when upstreams are configured (its outcome counts feed metrics). */
  readonly mirror: Mirror | undefined;
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
  const limits: RequestLimits = { ...DEFAULT_REQUEST_LIMITS, ...options.limits };
  const now = options.now ?? Date.now;
  const meta = new RegistryMetadata(options.store);
  const mirror =
    options.mirror === undefined || options.mirror.mirrors.length === 0 ? undefined : new Mirror(options.mirror, { blobs: options.blobs, meta, log, maxManifestBytes: limits.maxManifestBytes, now });
  const registry: Registry = {
    blobs: options.blobs,
    meta,
    uploads: new UploadSessions(options.store, options.blobs, { ...DEFAULT_UPLOAD_LIMITS, ...options.uploads }, log, now),
    limits,
    reads: new ReadGate(options.maxConcurrentReads ?? 0),
    log,
    now,
    ...(mirror === undefined ? {} : { mirror }),
    ...(options.auth === undefined ? {} : { auth: options.auth }),
  };
  // Every request's work is awaited here, and anything it throws past its own error handling is
  // a bug: logged, its connection cut, and the server goes on serving the others.
  const refused = new WeakSet<Socket>();
  const observers: Observers = { endpoints: options.endpoints ?? new Map(), onRequest: options.onRequest, pages: options.pages };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    // A connection over the client's limit was answered already; a request on it is not served.
    if (refused.has(req.socket)) return void res.destroy();
    void handle(registry, req, res, observers).catch((error: unknown) => {
      log(`bug: ${req.method} ${req.url?.slice(0, 200)} failed outside its error handling: ${describe(error)}`);
      res.destroy();
    });
  };
  const secure = options.tls !== undefined;
  const server = options.tls === undefined ? createServer(listener) : createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener);
  // Uploads of large layers can take long, so a request as a whole has no deadline; its headers
  // do, its body must keep a minimum rate (limits.ts), and a silent connection is closed.
  server.requestTimeout = 0;
  server.headersTimeout = limits.headersTimeoutMs;
  server.setTimeout(limits.idleTimeoutMs);
  server.on("clientError", (error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket) => answerUnparsable(error, socket, secure));
  server.on("checkExpectation", (_req: IncomingMessage, res: ServerResponse) =>
    sendError(res, new RegistryError("UNSUPPORTED", "the Expect header names an expectation this registry does not support", { status: 417 })),
  );
  limitConnectionsPerClient(server, limits.maxConnectionsPerClient, secure, refused);
  // Over TLS, a failed handshake (a plain-HTTP client, an untrusting one) only drops that connection.
  if (secure) server.on("tlsClientError", (_error: Error, socket: Socket) => socket.destroy());

  return {
    server,
    registry,
    mirror,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      await registry.uploads.close();
      await mirror?.close();
    },
  };
}

/** What hears of requests besides their handlers: the plain endpoints, and who takes each request's record. */
interface Observers {
  endpoints: ReadonlyMap<string, PlainEndpoint>;
  onRequest?: (record: RequestRecord) => void;
  pages?: PagesUnder | undefined;
}

async function handle(registry: Registry, req: IncomingMessage, res: ServerResponse, observers: Observers): Promise<void> {
  const started = performance.now();
  const method = req.method ?? "GET";
  const url = requestTarget(req.url ?? "/");
  const ex: Exchange = { registry, req, res, method, query: url.searchParams };
  const id = requestIdOf(req);
  res.setHeader("Docker-Distribution-Api-Version", "registry/2.0");
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader(REQUEST_ID_HEADER, id);
  const { onRequest } = observers;
  if (onRequest !== undefined) {
    const bytes = countBodyBytes(req, res);
    res.once("close", () =>
      onRequest({
        id,
        method,
        route: routeName(registry, observers, url.pathname),
        target: `${url.pathname}${url.search}`.slice(0, 1000),
        status: res.statusCode,
        bytesIn: bytes.in,
        bytesOut: bytes.out,
        seconds: (performance.now() - started) / 1000,
        client: req.socket.remoteAddress ?? "unknown",
        user: ex.who?.user,
        complete: res.writableFinished,
      }),
    );
  }
  try {
    const endpoint = observers.endpoints.get(url.pathname);
    if (endpoint !== undefined) return await endpoint.answer(req, res);
    if (isUnder(url.pathname, observers.pages)) return await observers.pages.answer(ex, url.pathname);
    await dispatch(ex, url.pathname);
  } catch (thrown) {
    if (res.headersSent || res.destroyed || !res.socket || res.socket.destroyed || isClientGone(thrown)) {
      // Nobody is left to answer, or the status line is gone: cutting the connection is all
      // that is left. A response cut by the server's own failure is still worth a line.
      if (!isClientGone(thrown) && res.headersSent) registry.log(`${method} ${url.pathname}: response cut: ${describe(thrown)}`);
      res.destroy();
      return;
    }
    const error = toRegistryError(thrown);
    if (error.isServerFault) registry.log(`${method} ${url.pathname}: ${describe(thrown)}`);
    sendError(res, error);
  }
}

/** What a request's record calls its endpoint: few names, so that metrics stay small. */
function routeName(registry: Registry, observers: Observers, pathname: string): string {
  const endpoint = observers.endpoints.get(pathname);
  if (endpoint !== undefined) return endpoint.name;
  if (isUnder(pathname, observers.pages)) return observers.pages.name;
  if (pathname === registry.auth?.tokenService?.path) return "token";
  const route = matchRoute(pathname);
  return route === undefined || route === "invalid" ? "other" : route.kind;
}

async function dispatch(ex: Exchange, pathname: string): Promise<void> {
  const auth = ex.registry.auth;
  if (auth?.tokenService !== undefined && pathname === auth.tokenService.path) return answerTokenRequest(ex, auth.tokenService.handler);
  const route = matchRoute(pathname);
  if (route === undefined) throw new RegistryError("UNSUPPORTED", `no such endpoint: ${pathname.slice(0, 200)}`, { status: 404 });
  if (route === "invalid") throw new RegistryError("NAME_INVALID", "the request path is not valid percent-encoding");
  const allowed = ALLOWED_METHODS[route.kind];
  if (!allowed.includes(ex.method)) {
    throw new RegistryError("UNSUPPORTED", `${ex.method} is not supported on this endpoint`, { headers: { Allow: allowed.join(", ") } });
  }
  // A bad name is NAME_INVALID whoever asks, as distribution answers; then who may do what.
  if ("name" in route) checkRepositoryName(route.name);
  if (auth !== undefined) ex.who = await authorizeRequest(ex, auth.authorizer, route);
  if (ex.registry.mirror !== undefined && "name" in route && (await ex.registry.mirror.handle(ex, route))) return;
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
 * Every answer carries the spec's JSON error body, like every other error of this registry.
 */
function answerUnparsable(error: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Socket, secure: boolean): void {
  // The client closed or reset its side (mid-request, or between requests): nobody to answer.
  if (error.code === "ECONNRESET" || error.code === "HPE_INVALID_EOF_STATE" || !socket.writable) {
    socket.destroy();
    return;
  }
  // (`_httpMessage` is node's own link from a socket to the response in progress on it.)
  const inProgress = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inProgress !== undefined && inProgress !== null && !inProgress.writableFinished && !inProgress.destroyed) {
    if (!inProgress.req.complete) {
      // The request being answered has a body whose framing broke: it is refused (nothing of it
      // is kept, unlike a body cut by a lost connection), and as no answer can follow a body
      // that never ended, the connection is closed.
      inProgress.req.destroy(new RegistryError("UNSUPPORTED", `malformed request body: ${error.code ?? error.message}`));
      socket.destroy();
      return;
    }
    // Bytes after a request that is still being answered (a pipelined one): that answer goes
    // out first, so that the client reads its answers in order.
    inProgress.once("close", () => answerUnparsable(error, socket, secure));
    return;
  }
  if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
    socket.end(rawAnswer(408, "Request Timeout", new RegistryError("UNSUPPORTED", "the request's headers did not arrive in time", { status: 408 })));
    return;
  }
  if (error.code === "HPE_HEADER_OVERFLOW") {
    socket.end(rawAnswer(431, "Request Header Fields Too Large", new RegistryError("UNSUPPORTED", "the request's headers are too large", { status: 431 })));
    return;
  }
  const tls = !secure && error.rawPacket?.[0] === 0x16;
  const message = tls ? "this registry speaks plain HTTP, not TLS" : "malformed HTTP request";
  socket.end(rawAnswer(400, "Bad Request", new RegistryError("UNSUPPORTED", message, { status: 400 })));
}

/** A whole HTTP/1.1 response that closes the connection, for sockets no ServerResponse has. */
function rawAnswer(status: number, reason: string, error: RegistryError): string {
  const body = errorBody(error).toString();
  return `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/**
 * Caps the connections each client address holds open at once: one more is answered 429 and
 * closed, so that one client cannot take every socket the others need.
 */
function limitConnectionsPerClient(server: Server | HttpsServer, max: number, secure: boolean, refused: WeakSet<Socket>): void {
  const open = new Map<string, number>();
  server.on("connection", (socket: Socket) => {
    const client = socket.remoteAddress ?? "unknown";
    const count = (open.get(client) ?? 0) + 1;
    if (count > max) {
      refused.add(socket);
      const busy = new RegistryError("TOOMANYREQUESTS", `this client has ${max} connections open, the most one client may`, { status: 429 });
      // Over TLS nothing can be said before the handshake: the connection is only dropped.
      if (secure) socket.destroy();
      else socket.end(rawAnswer(429, "Too Many Requests", busy));
      return;
    }
    open.set(client, count);
    socket.once("close", () => {
      const left = (open.get(client) ?? 1) - 1;
      if (left === 0) open.delete(client);
      else open.set(client, left);
    });
  });
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

function isUnder(pathname: string, pages: PagesUnder | undefined): pages is PagesUnder {
  return pages !== undefined && (pathname === pages.prefix || pathname.startsWith(`${pages.prefix}/`));
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
