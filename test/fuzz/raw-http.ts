import { connect, type Socket } from "node:net";

/**
 * HTTP/1.1 at the byte level, for requests no well-behaved client library would send: any
 * request line, duplicate or contradictory headers, bodies that disagree with their framing,
 * pieces sent with pauses, or no HTTP at all. One connection per exchange.
 */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawRequest {
  /** Everything up to the end of the headers is built from these, unless `raw` is given. */
  method?: string;
  target?: string;
  headers?: [string, string][];
  /** The body, sent after the headers as it is (the caller frames it: chunked or not). */
  body?: Uint8Array;
  /** Bytes sent instead of a request (garbage, a half request, two pipelined requests). */
  raw?: Uint8Array;
  /** The client's own address (any 127.x.y.z on Linux), to be another client. */
  from?: string;
  /** Sends the bytes in pieces of this size with `pauseMs` between them (a slow client). */
  pieceSize?: number;
  pauseMs?: number;
}

/**
 * Sends a request and reads the first response; undefined if the connection closed without one.
 * Throws if neither happens within `timeoutMs`: the server is wedged.
 */
export async function exchange(port: number, request: RawRequest, timeoutMs = 30_000): Promise<RawResponse | undefined> {
  const bytes = request.raw ?? requestBytes(request);
  const socket = connect({ port, host: "127.0.0.1", ...(request.from === undefined ? {} : { localAddress: request.from }) });
  socket.setNoDelay(true);
  const received: Buffer[] = [];
  const closed = new Promise<void>((resolve) => {
    socket.on("data", (piece: Buffer) => received.push(piece));
    socket.on("close", () => resolve());
    socket.on("error", () => undefined);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    socket.destroy();
  }, timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const head = request.method === "HEAD";
    await send(socket, bytes, request.pieceSize, request.pauseMs ?? 0, () => parse(Buffer.concat(received), head) !== undefined);
    // Reads until a whole response is in or the server closes the connection.
    for (;;) {
      const parsed = parse(Buffer.concat(received), head);
      if (parsed !== undefined) return parsed;
      const more = await Promise.race([closed.then(() => "closed" as const), new Promise<"more">((resolve) => socket.once("data", () => resolve("more")))]);
      if (more === "closed") {
        if (timedOut) throw new Error(`no answer within ${timeoutMs} ms`);
        return parse(Buffer.concat(received), head, true);
      }
    }
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

export function requestBytes(request: RawRequest): Buffer {
  const lines = [`${request.method ?? "GET"} ${request.target ?? "/v2/"} HTTP/1.1`, "Host: fuzz"];
  for (const [name, value] of request.headers ?? []) lines.push(`${name}: ${value}`);
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  return request.body === undefined ? head : Buffer.concat([head, request.body]);
}

/** A body in chunked transfer coding, cut into `pieces` chunks. */
export function chunked(body: Uint8Array, pieces = 1): Buffer {
  const parts: Buffer[] = [];
  const size = Math.max(1, Math.ceil(body.length / pieces));
  for (let at = 0; at < body.length; at += size) {
    const piece = body.subarray(at, at + size);
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), Buffer.from(piece), Buffer.from("\r\n"));
  }
  parts.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(parts);
}

async function send(socket: Socket, bytes: Uint8Array, pieceSize: number | undefined, pauseMs: number, answered: () => boolean): Promise<void> {
  if (pieceSize === undefined) {
    socket.write(bytes);
    return;
  }
  for (let at = 0; at < bytes.length && !socket.destroyed && !answered(); at += pieceSize) {
    socket.write(bytes.subarray(at, at + pieceSize));
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

/** A response from the bytes so far: undefined until it is whole (or, `atEnd`, what arrived is all there is). An answer to HEAD has no body. */
function parse(data: Buffer, head: boolean, atEnd = false): RawResponse | undefined {
  const headEnd = data.indexOf("\r\n\r\n");
  if (headEnd === -1) return undefined;
  const [statusLine, ...headerLines] = data.subarray(0, headEnd).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? "")?.[1]);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = data.subarray(headEnd + 4);
  if (head) return { status, headers, body: Buffer.alloc(0) };
  const length = headers["content-length"];
  if (length !== undefined) {
    const wanted = Number(length);
    if (rest.length >= wanted) return { status, headers, body: rest.subarray(0, wanted) };
    return atEnd ? { status, headers, body: rest } : undefined;
  }
  if (headers["transfer-encoding"] === "chunked") {
    const body = dechunk(rest);
    if (body !== undefined) return { status, headers, body };
    return atEnd ? { status, headers, body: rest } : undefined;
  }
  // No length: 1xx, 204 and 304 end at their headers; anything else ends with the connection.
  if (status < 200 || status === 204 || status === 304 || atEnd) return { status, headers, body: rest };
  return undefined;
}

function dechunk(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf("\r\n", at);
    if (lineEnd === -1) return undefined;
    const size = parseInt(data.subarray(at, lineEnd).toString("latin1"), 16);
    if (size === 0) return Buffer.concat(parts);
    if (data.length < lineEnd + 2 + size + 2) return undefined;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
