import { DedupError } from "../../errors.js";
import type { EncoderSpec } from "../../deflate/encoders.js";

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

export function decodeGzipForm(digest: string, bytes: Uint8Array): GzipForm {
  let raw: {
    v?: number;
    digest?: string;
    size?: number;
    content?: string;
    contentSize?: number;
    members?: { header: string; encoder: EncoderSpec; contentStart: number; contentLength: number; deflateLength: number; trailer: string; checkpoints?: string[] }[];
    trailing?: string;
  };
  try {
    raw = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch {
    throw new DedupError("STORE_INVALID", `the gzip form of ${digest} is not JSON`, { digest });
  }
  if (raw.v !== VERSION || raw.digest !== digest || typeof raw.content !== "string" || !Array.isArray(raw.members) || typeof raw.size !== "number") {
    throw new DedupError("STORE_INVALID", `the gzip form of ${digest} is not in a known format`, { digest });
  }
  const members = raw.members.map((m) => ({
    header: Buffer.from(m.header, "base64"),
    encoder: m.encoder,
    contentStart: m.contentStart,
    contentLength: m.contentLength,
    deflateLength: m.deflateLength,
    trailer: Buffer.from(m.trailer, "base64"),
    ...(m.checkpoints === undefined ? {} : { checkpoints: m.checkpoints.map((c) => Buffer.from(c, "base64")) }),
  }));
  const trailing = Buffer.from(raw.trailing ?? "", "base64");
  const size = members.reduce((sum, m) => sum + m.header.length + m.deflateLength + m.trailer.length, 0) + trailing.length;
  if (size !== raw.size) throw new DedupError("STORE_INVALID", `the gzip form of ${digest} adds up to ${size} bytes, not ${raw.size}`, { digest });
  return { digest, size: raw.size, content: raw.content, contentSize: raw.contentSize ?? 0, members, trailing };
}
