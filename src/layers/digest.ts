import { createHash } from "node:crypto";
import { DedupError } from "../errors.js";

/** Lowercase hex of a SHA-256 hash: a blob's name in registry storage, an OCI layout, the seed's uuid. */
export const SHA256_HEX = /^[a-f0-9]{64}$/;

export function isSha256Digest(text: string): boolean {
  return text.startsWith("sha256:") && SHA256_HEX.test(text.slice(7));
}

/** The `sha256:<hex>` digest of some bytes held in memory (a manifest, a config). */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** Accepts `sha256:<hex>` or bare hex (the seed's uuid form); returns the canonical `sha256:<hex>`. */
export function parseDigest(text: string): string {
  const digest = SHA256_HEX.test(text) ? `sha256:${text}` : text;
  if (!isSha256Digest(digest)) {
    throw new DedupError("DIGEST_INVALID", `not a sha256 digest: ${JSON.stringify(text.slice(0, 100))}`, { digest: text });
  }
  return digest;
}
