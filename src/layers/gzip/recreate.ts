import { decodeCheckpoint } from "../../deflate/go-flate/index.js";
import { PGZIP_TAIL_SIZE } from "../../deflate/klauspost-flate/index.js";
import { ContentTape } from "./content-tape.js";
import { inPieces, type EncodePool } from "./encode-pool.js";
import type { EncodeJob } from "./encode-protocol.js";
import type { GzipForm, GzipMember } from "./form.js";
import type { ReadRange } from "./prove.js";

/** Input Go's encoder needs before a part's start (its window) and after its end (its lookahead). */
const GO_BEFORE = 32 << 10;
const GO_AFTER = 64 << 10;
/** pgzip blocks per part: a few MiB of input per thread at a time. */
const PGZIP_PART_BYTES = 4 << 20;

/**
 * The bytes of a gzip blob, written again from its form: each member's header, its deflate
 * stream re-encoded from the stored content by the proven encoder, its trailer; then the trailing
 * bytes. A long stream is re-encoded in parts on the encode pool's threads (Go's between its
 * checkpoints, pgzip's at block boundaries) and comes out in order. Not checked here: the caller
 * hashes the whole against the digest.
 */
export async function* recreateGzip(form: GzipForm, content: ReadRange, pool: EncodePool): AsyncGenerator<Uint8Array> {
  for (const member of form.members) {
    yield member.header;
    const tape = new ContentTape(content, member.contentStart, member.contentStart + member.contentLength);
    try {
      yield* inOrder(memberParts(member, content, tape, pool), pool.threads);
    } finally {
      await tape.close();
    }
    yield member.trailer;
  }
  if (form.trailing.length > 0) yield form.trailing;
}

/** One part of a member's deflate stream: its output, when asked for. */
type Part = () => AsyncGenerator<Uint8Array>;

function memberParts(member: GzipMember, content: ReadRange, tape: ContentTape, pool: EncodePool): Part[] {
  const start = member.contentStart;
  const run = (job: EncodeJob, input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Part =>
    async function* () {
      for await (const event of pool.encode(job, input)) if ("output" in event) yield event.output;
    };
  const { encoder } = member;
  if (encoder.family === "go" && member.checkpoints !== undefined && member.checkpoints.length > 0) {
    const cuts: (Uint8Array | null)[] = [null, ...member.checkpoints, null];
    const parts: Part[] = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
      const from = cuts[i]!;
      const to = cuts[i + 1]!;
      const fromAt = from === null ? 0 : decodeCheckpoint(from).inputOffset;
      const toAt = to === null ? member.contentLength : Math.min(member.contentLength, decodeCheckpoint(to).inputOffset + GO_AFTER);
      const windowAt = Math.max(0, fromAt - GO_BEFORE);
      parts.push(async function* () {
        const bytes = await tape.take(start + windowAt, start + toAt);
        const preceding = bytes.subarray(0, fromAt - windowAt);
        yield* run({ kind: "go-part", level: encoder.level, from, to, preceding }, inPieces(bytes.subarray(fromAt - windowAt)))();
      });
    }
    return parts;
  }
  if (encoder.family === "pgzip") {
    const blocksPerPart = Math.max(1, Math.floor(PGZIP_PART_BYTES / encoder.blockSize));
    const partBytes = blocksPerPart * encoder.blockSize;
    const parts: Part[] = [];
    // A content that is a multiple of the part size still ends with a part: pgzip's empty last block.
    for (let at = 0; at < member.contentLength || parts.length === 0 || at === member.contentLength; at += partBytes) {
      const last = at + partBytes > member.contentLength;
      const partStart = at;
      // The block before is a full one, longer than the tail: its tail is the dictionary.
      const dictionaryAt = partStart === 0 ? 0 : partStart - PGZIP_TAIL_SIZE;
      parts.push(async function* () {
        const bytes = await tape.take(start + dictionaryAt, Math.min(start + member.contentLength, start + partStart + partBytes));
        const dictionary = bytes.subarray(0, partStart - dictionaryAt);
        yield* run({ kind: "pgzip-part", level: encoder.level, blockSize: encoder.blockSize, dictionary, last }, inPieces(bytes.subarray(partStart - dictionaryAt)))();
      });
      if (last) break;
    }
    return parts;
  }
  return [run({ kind: "stream", spec: encoder }, content(start, start + member.contentLength))];
}

/**
 * The parts' outputs in order, `concurrency` parts running at once: the first streams as it
 * comes, the others are collected until their turn (each a few MiB at most).
 */
async function* inOrder(parts: Part[], concurrency: number): AsyncGenerator<Uint8Array> {
  const started: { pieces: Uint8Array[]; done: Promise<void>; wake: () => void; finished: boolean; failed?: unknown }[] = [];
  const startNext = () => {
    const part = parts[started.length];
    if (part === undefined) return;
    const entry = { pieces: [] as Uint8Array[], done: Promise.resolve(), wake: () => undefined, finished: false } as (typeof started)[number];
    entry.done = (async () => {
      try {
        for await (const piece of part()) {
          entry.pieces.push(piece);
          entry.wake();
        }
      } catch (error) {
        entry.failed = error;
      } finally {
        entry.finished = true;
        entry.wake();
      }
    })();
    started.push(entry);
  };
  for (let i = 0; i < Math.min(concurrency, parts.length); i++) startNext();
  for (let next = 0; next < parts.length; next++) {
    const entry = started[next]!;
    for (;;) {
      if (entry.pieces.length > 0) {
        yield entry.pieces.shift()!;
        continue;
      }
      if (entry.failed !== undefined) throw entry.failed;
      if (entry.finished) break;
      await new Promise<void>((resolve) => (entry.wake = resolve));
    }
    startNext();
  }
}
