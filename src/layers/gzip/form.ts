import { DedupError } from "../../errors.js";
import { encoderSpecProblem, type EncoderSpec } from "../../deflate/encoders.js";
import { decodeCheckpoint } from "../../deflate/go-flate/index.js";
import { parseGzipHeader } from "../../deflate/gzip-header.js";
import { isSha256Digest } from "../digest.js";

/**
 * A gzip blob stored as its uncompressed content (a blob of its own, chunked like any other, so it
 * dedups against every layer, gzip or not) plus this record of its framing: enough to write the
 * original gzip bytes again, proven byte for byte before the record was written.
 *
 * Kept in the store's metadata under `layers/gzip/<digest>`, as JSON (buffers in base64):
 *   {"v":1, "digest", "size", "content", "contentSize",
 *    "members": [{"header", "encoder", "contentStart", "contentLength", "deflateLength", "trailer",
 *                 "checkpoints"?}], "trailing"}
 */
export interface GzipForm {
  /** The gzip blob's digest and size. */
  digest: string;
  size: number;
  /** The uncompressed content (every member's, end to end): a stored blob. */
  content: string;
  contentSize: number;
  members: GzipMember[];
  /** Bytes after the last member, verbatim (usually none). */
  trailing: Buffer;
}

export interface GzipMember {
  /** The member's header, verbatim. */
  header: Buffer;
  /** The encoder that re-creates the member's deflate stream from its content, exactly. */
  encoder: EncoderSpec;
  /** Where the member's uncompressed bytes lie in the content. */
  contentStart: number;
  contentLength: number;
  deflateLength: number;
  /** CRC-32 and ISIZE, verbatim. */
  trailer: Buffer;
  /**
   * Go encoder only: points where the deflate stream can be re-created from on its own
   * (go-flate checkpoints, encoded), so that a long member is re-created on several threads.
   */
  checkpoints?: Buffer[];
}

export const GZIP_FORM_PREFIX = "layers/gzip/";

export function gzipFormKey(digest: string): string {
  return GZIP_FORM_PREFIX + digest;
}

const VERSION = 1;

export function encodeGzipForm(form: GzipForm): Buffer {
  return Buffer.from(
    JSON.stringify({
      v: VERSION,
      digest: form.digest,
      size: form.size,
      content: form.content,
      contentSize: form.contentSize,
      members: form.members.map((m) => ({
        header: m.header.toString("base64"),
        encoder: m.encoder,
        contentStart: m.contentStart,
        contentLength: m.contentLength,
        deflateLength: m.deflateLength,
        trailer: m.trailer.toString("base64"),
        ...(m.checkpoints === undefined ? {} : { checkpoints: m.checkpoints.map((c) => c.toString("base64")) }),
      })),
      trailing: form.trailing.toString("base64"),
    }),
  );
}

/** A gzip trailer: CRC-32 and ISIZE. */
const TRAILER_BYTES = 8;

/**
 * A stored form, checked as far as it can be without its content: every field of its type (so
 * that no shape of JSON makes this throw anything but STORE_INVALID), its content another blob,
 * its members laid end to end over that content, each one's header a gzip header of exactly its
 * bytes, its encoder one the library can run, its checkpoints (Go) readable, of its level and in
 * order, its sizes adding up. That it writes the blob, byte for byte, only a re-creation proves.
 * The error's `detail.why` says what is wrong, for callers that name where the form came from.
 */
export function decodeGzipForm(digest: string, bytes: Uint8Array): GzipForm {
  const refuse = (why: string) => new DedupError("STORE_INVALID", `the gzip form of ${digest} ${why}`, { digest, why });
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw refuse("is not JSON");
  }
  const shapeProblem = problemWithShape(raw);
  if (shapeProblem !== undefined) throw refuse(shapeProblem);
  const form = raw as RawForm;
  if (form.digest !== digest) throw refuse(`names another blob, ${JSON.stringify(form.digest.slice(0, 100))}`);
  if (!isSha256Digest(form.content) || form.content === digest) throw refuse(`names ${JSON.stringify(form.content.slice(0, 100))} as its content`);
  if (form.members.length === 0) throw refuse("has no members");
  let at = 0;
  const members = form.members.map((m, i): GzipMember => {
    const member = {
      header: Buffer.from(m.header, "base64"),
      encoder: m.encoder as EncoderSpec,
      contentStart: m.contentStart,
      contentLength: m.contentLength,
      deflateLength: m.deflateLength,
      trailer: Buffer.from(m.trailer, "base64"),
      ...(m.checkpoints === undefined ? {} : { checkpoints: m.checkpoints.map((c) => Buffer.from(c, "base64")) }),
    };
    const header = parseGzipHeader(member.header);
    if (typeof header !== "object" || header.bytes.length !== member.header.length) throw refuse(`has no gzip header of its own length in member ${i + 1}`);
    const encoderProblem = encoderSpecProblem(m.encoder);
    if (encoderProblem !== undefined) throw refuse(`names an encoder that ${encoderProblem} in member ${i + 1}`);
    if (member.contentStart !== at) throw refuse(`starts member ${i + 1} at ${member.contentStart} of its content, not ${at}`);
    at += member.contentLength;
    if (member.trailer.length !== TRAILER_BYTES) throw refuse(`has a ${member.trailer.length}-byte trailer in member ${i + 1}`);
    if (member.checkpoints !== undefined) checkCheckpoints(member.checkpoints, member.encoder, member.contentLength, (why) => refuse(`${why} in member ${i + 1}`));
    return member;
  });
  if (at !== form.contentSize) throw refuse(`lays its members over ${at} bytes of content, not its ${form.contentSize}`);
  const trailing = Buffer.from(form.trailing ?? "", "base64");
  const size = members.reduce((sum, m) => sum + m.header.length + m.deflateLength + m.trailer.length, 0) + trailing.length;
  if (size !== form.size) throw refuse(`adds up to ${size} bytes, not ${form.size}`);
  return { digest, size: form.size, content: form.content, contentSize: form.contentSize, members, trailing };
}

interface RawForm {
  v: number;
  digest: string;
  size: number;
  content: string;
  contentSize: number;
  members: { header: string; encoder: unknown; contentStart: number; contentLength: number; deflateLength: number; trailer: string; checkpoints?: string[] }[];
  trailing?: string;
}

/** Why parsed JSON is not of a form's shape, if it is not. */
function problemWithShape(raw: unknown): string | undefined {
  if (!isObject(raw)) return "is not a JSON object";
  if (raw.v !== VERSION) return `is of version ${JSON.stringify(raw.v)}, not ${VERSION}`;
  if (typeof raw.digest !== "string" || typeof raw.content !== "string") return "lacks its digest or its content";
  if (!isCount(raw.size) || !isCount(raw.contentSize)) return "has no byte counts for its size and its content's";
  if (raw.trailing !== undefined && typeof raw.trailing !== "string") return "has trailing bytes that are not base64";
  if (!Array.isArray(raw.members)) return "has no list of members";
  for (const [i, member] of raw.members.entries()) {
    if (!isObject(member)) return `has member ${i + 1} that is not an object`;
    if (typeof member.header !== "string" || typeof member.trailer !== "string") return `has no header or trailer in member ${i + 1}`;
    if (![member.contentStart, member.contentLength, member.deflateLength].every(isCount)) return `has no byte counts in member ${i + 1}`;
    if (member.checkpoints !== undefined && !(Array.isArray(member.checkpoints) && member.checkpoints.every((c) => typeof c === "string"))) return `has checkpoints that are not base64 in member ${i + 1}`;
  }
  return undefined;
}

/** Go checkpoints: readable, of the member's level, strictly inside the member and in order. */
function checkCheckpoints(checkpoints: readonly Buffer[], encoder: EncoderSpec, contentLength: number, refuse: (why: string) => DedupError): void {
  if (checkpoints.length > 0 && encoder.family !== "go") throw refuse(`has checkpoints for a ${encoder.family} encoder`);
  let previous = 0;
  for (const bytes of checkpoints) {
    let offset: number;
    let level: number;
    try {
      ({ inputOffset: offset, level } = decodeCheckpoint(bytes));
    } catch (error) {
      throw refuse(`has an unreadable checkpoint (${(error as Error).message})`);
    }
    if (level !== encoder.level) throw refuse(`has a checkpoint of level ${level}, not ${encoder.level}`);
    if (!(offset > previous && offset <= contentLength)) throw refuse(`has a checkpoint at ${offset}, after ${previous} and within ${contentLength} expected`);
    previous = offset;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
