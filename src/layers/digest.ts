import { DedupError } from "../errors.js";

const SHA256 = /^sha256:[a-f0-9]{64}$/;

/** Accepts `sha256:<hex>` or bare hex (the seed's uuid form); returns the canonical `sha256:<hex>`. */
export function parseDigest(text: string): string {
  const digest = /^[a-f0-9]{64}$/.test(text) ? `sha256:${text}` : text;
  if (!SHA256.test(digest)) {
    throw new DedupError("DIGEST_INVALID", `not a sha256 digest: ${JSON.stringify(text.slice(0, 100))}`, { digest: text });
  }
  return digest;
}
