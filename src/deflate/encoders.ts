import { GO_FLATE_FAMILY, GoFlateEncoder } from "./go-flate/index.js";
import type { GzipHeader } from "./gzip-header.js";
import { KLAUSPOST_LEVEL_VERSIONS, KlauspostFlateEncoder, PGZIP_DEFAULT_BLOCK_SIZE, PGZIP_TAIL_SIZE, PgzipBodyEncoder } from "./klauspost-flate/index.js";
import { ZLIB_DEFAULT_MEM_LEVEL, ZLIB_FAMILY, ZlibEncoder } from "./zlib/index.js";

/**
 * The exact deflate encoders a gzip layer can be re-created with, each one named by what made
 * such layers: a spec is stored with a layer, so a family's output must never change (its
 * golden vectors, made by the real tools in the tests, pin it).
 *
 *   go         Go 1.8-1.26 compress/gzip: docker push, BuildKit, containerd (level 6), crane, ko, kaniko (1)
 *   pgzip      klauspost/pgzip over klauspost/compress 1.15.10-1.18.0: skopeo, podman, buildah (1 MiB blocks), umoci 0.4 (256 KiB)
 *   klauspost  klauspost/compress/gzip, one stream
 *   zlib       vanilla zlib 1.2.13-1.3.2: Jib, Python's gzip, libarchive
 *
 * The ports repeat themselves where their originals do (klauspost's level encoders, Go's
 * huffman writer and klauspost's fork of it are hand-inlined variations of one another): each
 * file follows its upstream function by function, so that it can be read side by side with it,
 * and a shared helper would change what V8 inlines in the hottest loops of the library.
 */
export type EncoderSpec =
  | { family: "go"; level: number }
  | { family: "pgzip"; level: number; blockSize: number }
  | { family: "klauspost"; level: number }
  | { family: "zlib"; level: number; memLevel: number };

/** A deflate stream being written: output goes to the sink it was opened with. */
export interface DeflateWriter {
  write(input: Uint8Array): void;
  close(): void;
}

/** An encoder of `spec` writing its output to `sink` (a view valid only during the call). */
export function openEncoder(spec: EncoderSpec, sink: (bytes: Uint8Array) => void): DeflateWriter {
  switch (spec.family) {
    case "go":
      return new GoFlateEncoder(spec.level, sink);
    case "pgzip":
      return new PgzipBodyEncoder(spec.level, spec.blockSize, sink);
    case "klauspost":
      return new KlauspostFlateEncoder(spec.level, sink);
    case "zlib":
      return new ZlibEncoder(spec.level, sink, { memLevel: spec.memLevel });
  }
}

/** The largest pgzip block a stored form may name: re-creating one holds a block of input and its output in memory. */
const MAX_PGZIP_BLOCK = 64 << 20;

/** Why `value` is no encoder spec this library can run (unknown family, level or setting), if it is not one. */
export function encoderSpecProblem(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null) return "is not an object";
  const spec = value as Record<string, unknown>;
  const keys = Object.keys(spec).sort().join(",");
  const level = spec.level;
  const levelIn = (...levels: number[]) => typeof level === "number" && levels.includes(level);
  switch (spec.family) {
    case "go":
      return keys === "family,level" && levelIn(-2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9) ? undefined : "is not a Go level (-2-9)";
    case "klauspost":
      return keys === "family,level" && levelIn(-2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9) ? undefined : "is not a klauspost level (-2-9)";
    case "pgzip": {
      const block = spec.blockSize;
      const blockOk = Number.isSafeInteger(block) && (block as number) > PGZIP_TAIL_SIZE && (block as number) <= MAX_PGZIP_BLOCK;
      return keys === "blockSize,family,level" && levelIn(-2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9) && blockOk ? undefined : `is not a pgzip level (-2-9) with blocks of ${PGZIP_TAIL_SIZE + 1}..${MAX_PGZIP_BLOCK} bytes`;
    }
    case "zlib":
      return keys === "family,level,memLevel" && levelIn(1, 2, 3, 4, 5, 6, 7, 8, 9) && [1, 2, 3, 4, 5, 6, 7, 8, 9].includes(spec.memLevel as number) ? undefined : "is not a zlib level (1-9) and memLevel (1-9)";
    default:
      return "names no known encoder family";
  }
}

/** For people: the encoder and the versions whose output it reproduces. */
export function describeEncoder(spec: EncoderSpec): string {
  switch (spec.family) {
    case "go":
      return `${GO_FLATE_FAMILY} level ${spec.level}`;
    case "pgzip":
      return `pgzip over klauspost/compress ${KLAUSPOST_LEVEL_VERSIONS[spec.level]} level ${spec.level}, ${spec.blockSize >> 10} KiB blocks`;
    case "klauspost":
      return `klauspost/compress ${KLAUSPOST_LEVEL_VERSIONS[spec.level]} level ${spec.level}`;
    case "zlib":
      return `${ZLIB_FAMILY} level ${spec.level}${spec.memLevel === ZLIB_DEFAULT_MEM_LEVEL ? "" : `, memLevel ${spec.memLevel}`}`;
  }
}

/** MTIME that pgzip and klauspost's gzip write for an unset time (the zero time.Time's Unix seconds): bytes 00 09 6e 88. */
const KLAUSPOST_MTIME = 0x886e0900;
/** OS byte 255 (unknown): Go, pgzip and JDK 16+ write it; zlib's own wrapper and GNU gzip write 3. */
const OS_UNKNOWN = 255;

/**
 * The encoders worth trying for a member with this header, likeliest first: the header is a
 * fingerprint (MTIME, XFL and OS differ between the tools), and a wrong candidate costs little
 * (it fails within its first block, compared with early abort). XFL tells level 9 (2) and level
 * 1 (4) apart from the rest (0).
 */
export function candidateEncoders(header: GzipHeader): EncoderSpec[] {
  // Go's and zlib's default is 6, klauspost's 5: each family's default first.
  const go = levelsFor(header.xfl, 6).map((level): EncoderSpec => ({ family: "go", level }));
  const zlib = levelsFor(header.xfl, 6).flatMap((level): EncoderSpec[] => [
    { family: "zlib", level, memLevel: ZLIB_DEFAULT_MEM_LEVEL },
    { family: "zlib", level, memLevel: 9 },
  ]);
  const pgzip = levelsFor(header.xfl, 5).flatMap((level): EncoderSpec[] => [
    { family: "pgzip", level, blockSize: PGZIP_DEFAULT_BLOCK_SIZE },
    { family: "pgzip", level, blockSize: 256 << 10 },
  ]);
  const klauspost = levelsFor(header.xfl, 5).map((level): EncoderSpec => ({ family: "klauspost", level }));
  if (header.mtime === KLAUSPOST_MTIME) return [...pgzip, ...klauspost, ...go, ...zlib];
  if (header.os === OS_UNKNOWN && !header.named) return [...go, ...zlib, ...pgzip, ...klauspost];
  return [...zlib, ...go, ...pgzip, ...klauspost];
}

/** The levels a header's XFL allows: 9 for 2, 1 for 4, the others for 0 (`usual` first). */
function levelsFor(xfl: number, usual: number): number[] {
  if (xfl === 2) return [9];
  if (xfl === 4) return [1];
  return [usual, ...[2, 3, 4, 5, 6, 7, 8].filter((level) => level !== usual)];
}
