import type { IncomingMessage } from "node:http";
import { answerWithin } from "../deadline.js";

/**
 * Request bodies, read with bounds. A body is taken piece by piece and refused as soon as it
 * breaks a rule: more bytes than allowed, or a trickle slower than the minimum rate (a client
 * sending a byte every few seconds would otherwise hold a request, a session and its memory for
 * ever). Leaving a body early never destroys the request, so the refusal can still be answered;
 * the answer then closes the connection (see `closesConnection`), as the unread rest is dropped.
 */

export type BodyRefusal = "too-large" | "too-slow";

export interface BodyRules {
  /** Refused once more than this many bytes came (the rest is not read). */
  maxBytes?: number;
  /** Refused when a window of `windowMs` brings fewer than `minBytesPerSecond` x window bytes. */
  minBytesPerSecond?: number;
  windowMs?: number;
  /** The error to throw for a refusal; the caller's protocol decides what it says. */
  refuse: (why: BodyRefusal, limit: number) => Error;
}

/** The defaults of `BodyRules`' rate: 1 KiB/s, judged over 30 s, so a stalled or trickling body is cut within a minute. */
export const DEFAULT_MIN_BODY_RATE = 1024;
export const DEFAULT_BODY_WINDOW_MS = 30_000;

/** The body's pieces, in order, within the rules. */
export async function* bodyPieces(req: IncomingMessage, rules: BodyRules): AsyncGenerator<Buffer> {
  const iterator = req.iterator({ destroyOnReturn: false }) as AsyncIterator<Buffer>;
  const windowMs = rules.windowMs ?? DEFAULT_BODY_WINDOW_MS;
  const minPerWindow = ((rules.minBytesPerSecond ?? DEFAULT_MIN_BODY_RATE) * windowMs) / 1000;
  let windowEnds = Date.now() + windowMs;
  let windowBytes = 0;
  let total = 0;
  try {
    for (;;) {
      const next = iterator.next();
      let result = minPerWindow > 0 ? await answerWithin(next, windowEnds - Date.now()) : await next;
      while (result === undefined) {
        // A window ended with no piece in flight: it passes if it brought enough before.
        if (windowBytes < minPerWindow) {
          next.catch(() => undefined); // settles when the connection goes; nobody waits for it
          throw rules.refuse("too-slow", rules.minBytesPerSecond ?? DEFAULT_MIN_BODY_RATE);
        }
        windowEnds += windowMs;
        windowBytes = 0;
        result = await answerWithin(next, windowEnds - Date.now());
      }
      if (result.done) return;
      const piece = result.value;
      total += piece.length;
      if (rules.maxBytes !== undefined && total > rules.maxBytes) throw rules.refuse("too-large", rules.maxBytes);
      windowBytes += piece.length;
      if (Date.now() >= windowEnds) {
        if (windowBytes < minPerWindow) throw rules.refuse("too-slow", rules.minBytesPerSecond ?? DEFAULT_MIN_BODY_RATE);
        windowEnds = Date.now() + windowMs;
        windowBytes = 0;
      }
      // Time the consumer spends on a piece (a loaded store) is not the client's: the window waits.
      const handedOver = Date.now();
      yield piece;
      windowEnds += Date.now() - handedOver;
    }
  } finally {
    // Stops the iterator without destroying the request (destroyOnReturn is off).
    void iterator.return?.();
  }
}

/** A small body whole (a manifest, a peer request), within the rules. */
export async function readBody(req: IncomingMessage, rules: BodyRules & { maxBytes: number }): Promise<Buffer> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > rules.maxBytes) throw rules.refuse("too-large", rules.maxBytes);
  const parts: Buffer[] = [];
  let total = 0;
  for await (const piece of bodyPieces(req, rules)) {
    parts.push(piece);
    total += piece.length;
  }
  return Buffer.concat(parts, total);
}

/** The request's Content-Length when it is a plain decimal number; undefined otherwise (chunked, or malformed). */
function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers["content-length"];
  return header !== undefined && /^\d+$/.test(header) ? Number(header) : undefined;
}

/**
 * Whether an answer to `req` must close the connection: its body was not read to the end, so
 * the next bytes on the connection are not the start of a request.
 */
export function closesConnection(req: IncomingMessage): boolean {
  return !req.complete;
}
