import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * One request as the access log and the metrics see it, once its response is done or cut. The
 * registry makes these and hands them out (`onRequest`); what becomes of them (log lines, JSON
 * logs, Prometheus counters) is decided at the edge, in observe/.
 */
export interface RequestRecord {
  /** The request's id, sent back as X-Request-Id (see `requestIdOf`). */
  id: string;
  method: string;
  /** The endpoint, to group requests by (metrics' label): a route kind of routes.ts, "token", a plain endpoint's name, or "other". */
  route: string;
  /** Path and query as sent, cut at 1000 characters. */
  target: string;
  status: number;
  /** Body bytes received from the client and sent to it (headers not counted). */
  bytesIn: number;
  bytesOut: number;
  seconds: number;
  /** The address of the connection's peer. */
  client: string;
  /** Who asked, once authenticated. */
  user: string | undefined;
  /** false when the response was cut before its end (the client left, or the server failed mid-body). */
  complete: boolean;
}

export const REQUEST_ID_HEADER = "X-Request-Id";

/**
 * The id a request goes by in logs: the X-Request-Id it came with, when a proxy in front set a
 * sane one (so that the proxy's logs and these tell of the same request), else a new UUID.
 * CNCF distribution logs such an id (`http.request.id`) without sending it; Harbor and most
 * proxies send it back in X-Request-Id, which this registry does too, so a client can quote it.
 */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers["x-request-id"];
  return typeof given === "string" && /^[\w.:@+=-]{1,128}$/.test(given) ? given : randomUUID();
}

/**
 * Counts the body bytes of one exchange as they pass. Node counts neither: a socket's counters
 * include the headers and mix the requests of a keep-alive connection. Body pieces reach a
 * request through push() (node's parser calls it) and leave a response through write() and
 * end(), so these instances' methods are wrapped. A HEAD response has no body (node drops
 * what is written), so nothing is counted for it.
 */
export function countBodyBytes(req: IncomingMessage, res: ServerResponse): { readonly in: number; readonly out: number } {
  const counts = { in: 0, out: 0 };
  const push = req.push;
  req.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    counts.in += byteLength(chunk, encoding);
    return push.call(this, chunk, encoding);
  };
  if (req.method === "HEAD") return counts;
  const write = res.write as (...args: unknown[]) => boolean;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]): boolean {
    counts.out += byteLength(chunk, rest[0]);
    return write.call(this, chunk, ...rest);
  } as ServerResponse["write"];
  const end = res.end as (...args: unknown[]) => ServerResponse;
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]): ServerResponse {
    counts.out += byteLength(chunk, rest[0]);
    return end.call(this, chunk, ...rest);
  } as ServerResponse["end"];
  return counts;
}

function byteLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === "string") return Buffer.byteLength(chunk, typeof encoding === "string" ? (encoding as BufferEncoding) : "utf8");
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}
