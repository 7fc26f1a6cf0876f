import { candidateEncoders, type EncoderSpec } from "../../deflate/encoders.js";
import { decodeCheckpoint } from "../../deflate/go-flate/index.js";
import { parseGzipHeader } from "../../deflate/gzip-header.js";
import { DedupError } from "../../errors.js";
import { isSha256Digest } from "../../layers/digest.js";
import { decodeGzipForm, type GzipForm } from "../../layers/gzip/form.js";

/** A gzip trailer: CRC-32 and ISIZE. */
const TRAILER_BYTES = 8;

/**
 * A gzip layer's form as a peer sent it (`GET forms/<digest>`), checked as far as it can be
 * before its content is here: well-formed (decodeGzipForm, after a check of every field's type, so
 * that no shape of JSON makes it throw anything but this refusal), its content another blob, its
 * members laid end to end over that content, each one's header a gzip header of exactly its bytes
 * and its encoder one that this site's converter could have proven for that header (so a peer
 * picks among the encoders and settings the library offers, never a block size or a level of its
 * own), its checkpoints (Go) readable and in order. That the form writes the layer, byte for
 * byte, is proven only by re-creating it from the content (BlobService.adoptGzipForm).
 * STORE_INVALID, naming the peer, if it is not.
 */
export function readPeerForm(peer: string, digest: string, bytes: Uint8Array): GzipForm {
  const refuse = (why: string) => new DedupError("STORE_INVALID", `peer ${peer} sent a gzip form of ${digest} that ${why}`, { peer, digest });
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw refuse("is not JSON");
  }
  const shapeProblem = problemWithShape(raw);
  if (shapeProblem !== undefined) throw refuse(shapeProblem);
  let form: GzipForm;
  try {
    form = decodeGzipForm(digest, bytes);
  } catch (error) {
    throw refuse(`is not in a known format (${(error as Error).message})`);
  }
  if (!isSha256Digest(form.content) || form.content === digest) throw refuse(`names ${JSON.stringify(form.content.slice(0, 100))} as its content`);
  if (form.members.length === 0) throw refuse("has no members");
  let at = 0;
  const members = form.members.map((member, i) => {
    const header = parseGzipHeader(member.header);
    if (typeof header !== "object" || header.bytes.length !== member.header.length) throw refuse(`has no gzip header of its own length in member ${i + 1}`);
    const encoder = candidateEncoders(header).find((candidate) => sameEncoder(candidate, member.encoder));
    if (encoder === undefined) throw refuse(`names encoder ${JSON.stringify(member.encoder)} for member ${i + 1}, not one its header allows`);
    if (member.contentStart !== at) throw refuse(`starts member ${i + 1} at ${member.contentStart} of its content, not ${at}`);
    at += member.contentLength;
    if (member.trailer.length !== TRAILER_BYTES) throw refuse(`has a ${member.trailer.length}-byte trailer in member ${i + 1}`);
    if (member.checkpoints !== undefined) checkCheckpoints(member.checkpoints, encoder, member.contentLength, (why) => refuse(`${why} in member ${i + 1}`));
    return { ...member, encoder };
  });
  if (at !== form.contentSize) throw refuse(`lays its members over ${at} bytes of content, not its ${form.contentSize}`);
  return { ...form, members };
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

function sameEncoder(a: EncoderSpec, b: unknown): boolean {
  if (typeof b !== "object" || b === null) return false;
  const other = b as Record<string, unknown>;
  const mine = a as unknown as Record<string, unknown>;
  const keys = Object.keys(other);
  return keys.length === Object.keys(mine).length && keys.every((key) => other[key] === mine[key]);
}

/** Why a parsed form's JSON is not of the shape decodeGzipForm reads, if it is not. */
function problemWithShape(raw: unknown): string | undefined {
  if (!isObject(raw)) return "is not a JSON object";
  if (typeof raw.digest !== "string" || typeof raw.content !== "string") return "lacks its digest or its content";
  if (!isCount(raw.size) || !isCount(raw.contentSize)) return "has no byte counts for its size and its content's";
  if (raw.trailing !== undefined && typeof raw.trailing !== "string") return "has trailing bytes that are not base64";
  if (!Array.isArray(raw.members)) return "has no list of members";
  for (const [i, member] of raw.members.entries()) {
    if (!isObject(member)) return `has member ${i + 1} that is not an object`;
    if (typeof member.header !== "string" || typeof member.trailer !== "string") return `has no header or trailer in member ${i + 1}`;
    if (!isObject(member.encoder)) return `has no encoder in member ${i + 1}`;
    if (![member.contentStart, member.contentLength, member.deflateLength].every(isCount)) return `has no byte counts in member ${i + 1}`;
    if (member.checkpoints !== undefined && !(Array.isArray(member.checkpoints) && member.checkpoints.every((c) => typeof c === "string"))) return `has checkpoints that are not base64 in member ${i + 1}`;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
