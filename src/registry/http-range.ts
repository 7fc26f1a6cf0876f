import type { ByteRange } from "../layers/reconstruct.js";

/**
 * What a blob GET's `Range` header asks for (RFC 9110 section 14): `whole` when there is none
 * or it is one the server may ignore (malformed, several ranges, another unit), `unsatisfiable`
 * when no byte of it exists (answered 416 with `Content-Range: bytes *\/size`).
 */
export type RangeRequest = { kind: "whole" } | { kind: "part"; range: ByteRange } | { kind: "unsatisfiable" };

export function parseRangeHeader(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: "whole" };
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return { kind: "whole" };
  const [, first, last] = match as unknown as [string, string, string];
  if (first === "") {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: "unsatisfiable" };
    return { kind: "part", range: { start: Math.max(0, size - length), end: size - 1 } };
  }
  const start = Number(first);
  if (last !== "" && Number(last) < start) return { kind: "whole" }; // syntactically invalid: ignored, as RFC 9110 says
  if (start >= size) return { kind: "unsatisfiable" };
  const end = last === "" ? size - 1 : Number(last);
  return { kind: "part", range: { start, end: Math.min(end, size - 1) } };
}

/** A PATCH's `Content-Range: <start>-<end>` (the spec's form, without a unit), inclusive. */
export function parseUploadRange(header: string): ByteRange | undefined {
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return { start, end };
}
