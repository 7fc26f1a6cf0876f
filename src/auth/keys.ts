import { createHash, createPrivateKey, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from "node:crypto";
import { AuthConfigError } from "./errors.js";

/**
 * Token signing and verification keys: EC P-256 (ES256) or RSA of 2048 bits or more (RS256),
 * nothing else.
 *
 * Key ids. A token names its key in the JWT header's `kid`, and a registry looks the key up by it:
 *
 * - distribution 2.x (and docker/libtrust) use the libtrust key id: SHA-256 of the key's DER
 *   SubjectPublicKeyInfo, its first 30 bytes (240 bits) in base32 (RFC 4648 alphabet, no
 *   padding: 48 characters), cut into 12 groups of 4 joined by `:`, e.g.
 *   `UEV2:PPF2:4DMU:WZYF:WOWU:677P:B7XU:SGFA:BMUG:NCTC:R7CL:XFKZ` (libtrust's util.go
 *   `keyIDEncode` and `keyIDFromCryptoKey`). This is what tokens issued here carry by default.
 * - distribution 3.x looks keys from its root certificate bundle up by their RFC 7638 JWK
 *   thumbprint instead (token/util.go `GetJWKThumbprint`), and keys from a JWKS file by the
 *   JWKS's own `kid`. (Its EC thumbprint hashes the curve's generator point instead of the
 *   key's, so all its P-256 thumbprints are the same; to sign for such a registry, give it a JWKS
 *   made with `toJwks`, whose `kid` is the one used here.)
 *
 * So a trusted key here answers to its libtrust id, its (correct) RFC 7638 thumbprint and, when
 * it came from a JWKS, the JWKS `kid`.
 */

export type SigningAlgorithm = "ES256" | "RS256";

/** A private key that signs tokens, with the `kid` its tokens carry. */
export interface SigningKey {
  alg: SigningAlgorithm;
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A public key that tokens may be signed with, and every id it is known by. */
export interface TrustedKey {
  alg: SigningAlgorithm;
  kids: string[];
  publicKey: KeyObject;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The libtrust key id of a public (or private) key; see the top of this file. */
export function libtrustKeyId(key: KeyObject): string {
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const der = publicKey.export({ type: "spki", format: "der" });
  const digest = createHash("sha256").update(der).digest().subarray(0, 30);
  let encoded = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of digest) {
    buffer = ((buffer << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      encoded += BASE32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  // 240 bits are exactly 48 base32 digits: no remainder, no padding.
  return encoded.match(/.{4}/g)!.join(":");
}

/** The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key. */
export function jwkThumbprint(key: KeyObject): string {
  const jwk = (key.type === "private" ? createPublicKey(key) : key).export({ format: "jwk" });
  // RFC 7638 section 3.2: the required members only, in lexicographic order, no whitespace.
  const canonical = jwk.kty === "EC" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url");
}

/** ES256 for an EC P-256 key, RS256 for RSA of at least 2048 bits; anything else is refused. */
export function algorithmOf(key: KeyObject, where: string): SigningAlgorithm {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "ec" && details?.namedCurve === "prime256v1") return "ES256";
  if (key.asymmetricKeyType === "rsa") {
    if ((details?.modulusLength ?? 0) < 2048) throw new AuthConfigError(where, `RSA key of ${details?.modulusLength} bits: at least 2048 are needed`);
    return "RS256";
  }
  const kind = key.asymmetricKeyType === "ec" ? `EC key on ${details?.namedCurve}` : `${key.asymmetricKeyType ?? key.type} key`;
  throw new AuthConfigError(where, `${kind}: only EC P-256 (ES256) and RSA (RS256) keys are supported`);
}

/** The signing key from a PEM private key (PKCS#8, SEC1 or PKCS#1). `kid` defaults to the libtrust id. */
export function signingKeyFromPem(pem: string | Buffer, options: { kid?: string; where?: string } = {}): SigningKey {
  const where = options.where ?? "signing key";
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new AuthConfigError(where, `not a PEM private key: ${(error as Error).message}`, { cause: error });
  }
  const alg = algorithmOf(privateKey, where);
  return { alg, kid: options.kid ?? libtrustKeyId(privateKey), privateKey, publicKey: createPublicKey(privateKey) };
}

/**
 * The keys to trust from a file's text: PEM blocks (public keys, certificates, or private keys
 * whose public half is taken), a JWKS (`{"keys": [...]}`) or a single JWK. Certificates are
 * taken for their key only; their chain and dates are not checked, as distribution does for its
 * root bundle. Throws AuthConfigError for a key that cannot be used.
 */
export function trustedKeysFrom(text: string | Buffer, where = "trusted keys"): TrustedKey[] {
  const source = typeof text === "string" ? text : text.toString("utf8");
  const trimmed = source.trim();
  const keys = trimmed.startsWith("{") ? keysFromJson(trimmed, where) : keysFromPem(source, where);
  if (keys.length === 0) throw new AuthConfigError(where, "holds no key");
  return keys;
}

/** A trusted key for the public half of a signing key, known by the signing key's kid too. */
export function trustedKeyOf(key: SigningKey): TrustedKey {
  return withIds(key.publicKey, key.alg, [key.kid]);
}

/** A JWKS of public keys, each with its `kid` (the signing key's own, or the libtrust id), `alg` and `use: "sig"`. */
export function toJwks(keys: readonly (SigningKey | TrustedKey)[]): { keys: JsonWebKey[] } {
  return {
    keys: keys.map((key) => ({ ...key.publicKey.export({ format: "jwk" }), kid: "kid" in key ? key.kid : key.kids[0], alg: key.alg, use: "sig" })),
  };
}

function withIds(publicKey: KeyObject, alg: SigningAlgorithm, extra: (string | undefined)[]): TrustedKey {
  const kids = [...extra, libtrustKeyId(publicKey), jwkThumbprint(publicKey)].filter((kid): kid is string => kid !== undefined && kid !== "");
  return { alg, kids: [...new Set(kids)], publicKey };
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

function keysFromPem(text: string, where: string): TrustedKey[] {
  const keys: TrustedKey[] = [];
  let index = 0;
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1]!;
    const block = match[0];
    const blockWhere = `${where}: PEM block ${++index} (${label})`;
    // `openssl ecparam -genkey` writes the curve's parameters before the key.
    if (label === "EC PARAMETERS") continue;
    let publicKey: KeyObject;
    try {
      if (label === "CERTIFICATE") publicKey = new X509Certificate(block).publicKey;
      else if (label.endsWith("PRIVATE KEY")) publicKey = createPublicKey(createPrivateKey(block));
      else publicKey = createPublicKey(block);
    } catch (error) {
      throw new AuthConfigError(blockWhere, `cannot be read: ${(error as Error).message}`, { cause: error });
    }
    keys.push(withIds(publicKey, algorithmOf(publicKey, blockWhere), []));
  }
  if (keys.length === 0 && !text.includes("-----BEGIN")) throw new AuthConfigError(where, "neither PEM nor a JSON Web Key (Set)");
  return keys;
}

function keysFromJson(text: string, where: string): TrustedKey[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AuthConfigError(where, `not valid JSON: ${(error as Error).message}`, { cause: error });
  }
  const set = parsed as { keys?: unknown };
  const list = Array.isArray(set.keys) ? set.keys : [parsed];
  return list.map((jwk, i) => keyFromJwk(jwk, Array.isArray(set.keys) ? `${where}: keys[${i}]` : where));
}

function keyFromJwk(value: unknown, where: string): TrustedKey {
  if (typeof value !== "object" || value === null) throw new AuthConfigError(where, "not a JSON Web Key");
  const jwk = value as JsonWebKey & { kid?: unknown; alg?: unknown; use?: unknown; d?: unknown };
  if (jwk.use !== undefined && jwk.use !== "sig") throw new AuthConfigError(where, `key use ${JSON.stringify(jwk.use)}: only signature keys ("sig") verify tokens`);
  if (jwk.kid !== undefined && typeof jwk.kid !== "string") throw new AuthConfigError(where, "kid must be a string");
  let publicKey: KeyObject;
  try {
    // Only the public members: a JWKS that (wrongly) holds private parts is still usable.
    const { kty, crv, x, y, n, e } = jwk;
    publicKey = createPublicKey({ key: { kty, crv, x, y, n, e } as JsonWebKey, format: "jwk" });
  } catch (error) {
    throw new AuthConfigError(where, `cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const alg = algorithmOf(publicKey, where);
  if (jwk.alg !== undefined && jwk.alg !== alg) throw new AuthConfigError(where, `alg ${JSON.stringify(jwk.alg)} does not fit this key: only ${alg} is accepted for it`);
  return withIds(publicKey, alg, [jwk.kid as string | undefined]);
}
