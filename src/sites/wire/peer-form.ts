import { candidateEncoders, type EncoderSpec } from "../../deflate/encoders.js";
import { parseGzipHeader, type GzipHeader } from "../../deflate/gzip-header.js";
import { DedupError, isDedupError } from "../../errors.js";
import { decodeGzipForm, type GzipForm } from "../../layers/gzip/form.js";

/**
 * A gzip layer's form as a peer sent it (`GET forms/<digest>`), checked as far as it can be
 * before its content is here: well-formed (decodeGzipForm: every field, the members over the
 * content, headers, checkpoints), and each member's encoder one this site's converter could have
 * proven for that header (so a peer picks among the encoders and settings the library offers,
 * never a level or block size of its own). That the form writes the layer, byte for byte, is
 * proven only by re-creating it from the content (BlobService.adoptGzipForm). STORE_INVALID,
 * naming the peer, if it is not.
 */
export function readPeerForm(peer: string, digest: string, bytes: Uint8Array): GzipForm {
  const refuse = (why: string) => new DedupError("STORE_INVALID", `peer ${peer} sent a gzip form of ${digest} that ${why}`, { peer, digest });
  let form: GzipForm;
  try {
    form = decodeGzipForm(digest, bytes);
  } catch (error) {
    if (!isDedupError(error, "STORE_INVALID")) throw error;
    throw refuse(typeof error.detail.why === "string" ? error.detail.why : error.message);
  }
  form.members.forEach((member, i) => {
    const header = parseGzipHeader(member.header) as GzipHeader;
    if (!candidateEncoders(header).some((candidate) => sameEncoder(candidate, member.encoder))) {
      throw refuse(`names encoder ${JSON.stringify(member.encoder)} for member ${i + 1}, not one its header allows`);
    }
  });
  return form;
}

function sameEncoder(a: EncoderSpec, b: EncoderSpec): boolean {
  const mine = a as unknown as Record<string, unknown>;
  const other = b as unknown as Record<string, unknown>;
  const keys = Object.keys(other);
  return keys.length === Object.keys(mine).length && keys.every((key) => other[key] === mine[key]);
}
