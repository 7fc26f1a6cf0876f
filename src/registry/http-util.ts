import type { IncomingMessage, ServerResponse } from "node:http";
import { RegistryError } from "./oci-errors.js";

/** Sends a JSON body with an exact Content-Length (also right for HEAD, which drops the body). */
export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", ...headers, "Content-Length": String(body.length) });
  res.end(body);
}

/** Sends a bodyless answer (201, 202, 204) with its headers. */
export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, status === 204 ? headers : { ...headers, "Content-Length": "0" });
  res.end();
}

/** The request's Content-Length, or undefined when it has none (chunked transfer). */
export function contentLength(req: IncomingMessage): number | undefined {
  const header = req.headers["content-length"];
  if (header === undefined) return undefined;
  const length = Number(header);
  if (!/^\d+$/.test(header) || !Number.isSafeInteger(length)) {
    throw new RegistryError("SIZE_INVALID", `invalid Content-Length ${JSON.stringify(header)}`);
  }
  return length;
}

export async function* oneBuffer(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

/**
 * The `n` and `last` parameters of tag and catalog listings. Without `n` a listing is whole;
 * `n` above `maxPage` is lowered to it (the spec lets a registry return fewer, with a Link).
 */
export function parsePagination(query: URLSearchParams, maxPage: number): { n: number | undefined; last: string | undefined } {
  const nText = query.get("n");
  let n: number | undefined;
  if (nText !== null && nText !== "") {
    if (!/^\d+$/.test(nText)) {
      throw new RegistryError("UNSUPPORTED", `invalid page size n=${JSON.stringify(nText.slice(0, 50))}: expected a non-negative integer`, { status: 400 });
    }
    n = Math.min(Number(nText), maxPage);
  }
  const last = query.get("last") ?? undefined;
  return { n, last: last === "" ? undefined : last };
}

/** RFC 5988 `Link` to the next page, as CNCF distribution writes it. */
export function nextPageLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
