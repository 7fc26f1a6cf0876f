import { randomBytes, sign, verify, type KeyObject } from "node:crypto";
import type { ResourceScope } from "./scope.js";
import type { SigningAlgorithm, SigningKey, TrustedKey } from "./keys.js";

/**
 * Bearer tokens as distribution reads them (docs/spec/auth/jwt.md): a compact JWS whose header
 * is `{"typ":"JWT","alg":"ES256"|"RS256","kid":...}` and whose claims are
 *
 *   iss  the token service          sub  the user ("" when anonymous)
 *   aud  the registry's service      exp, nbf, iat  seconds since the epoch
 *   jti  a random id                 access  [{type, name, actions}]
 *
 * Only ES256 and RS256 are accepted, and the algorithm must be the one of the trusted key the
 * `kid` names: never `none`, never an HMAC keyed with a public key. Keys carried inside a token
 * (`jwk`, `x5c` headers) are never trusted.
 */

export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  exp: number;
  nbf: number;
  iat: number;
  jti: string;
  access: ResourceScope[];
}

export interface IssueOptions {
  issuer: string;
  /** The registry's service name: the token's audience. */
  service: string;
  /** The user; "" for an anonymous token. */
  subject: string;
  access: readonly ResourceScope[];
  ttlSeconds: number;
  key: SigningKey;
  /** Issue time (a Date or ms since the epoch); default the clock. */
  now?: Date | number;
  /** Default: 16 random bytes. */
  jti?: string;
}

export interface IssuedToken {
  token: string;
  issuedAt: Date;
  expiresIn: number;
  claims: TokenClaims;
}

export function issueToken(options: IssueOptions): IssuedToken {
  const issuedAtMs = toMs(options.now ?? Date.now());
  const iat = Math.floor(issuedAtMs / 1000);
  const claims: TokenClaims = {
    iss: options.issuer,
    sub: options.subject,
    aud: options.service,
    exp: iat + options.ttlSeconds,
    nbf: iat,
    iat,
    jti: options.jti ?? randomBytes(16).toString("base64url"),
    access: options.access.map(({ type, name, actions }) => ({ type, name, actions: [...actions] })),
  };
  const header = { typ: "JWT", alg: options.key.alg, kid: options.key.kid };
  const signingInput = `${encodeJson(header)}.${encodeJson(claims)}`;
  const signature = signWith(options.key.alg, options.key.privateKey, Buffer.from(signingInput));
  return { token: `${signingInput}.${signature.toString("base64url")}`, issuedAt: new Date(iat * 1000), expiresIn: options.ttlSeconds, claims };
}

export interface VerifyOptions {
  /** The token service(s) whose tokens count (`iss`). */
  issuer: string | readonly string[];
  /** This registry's service name; the token's `aud` must name it. */
  service: string;
  keys: readonly TrustedKey[];
  /** Leeway on exp and nbf, as distribution's (60 s, RFC 7519 section 4.1.5). */
  clockSkewSeconds?: number;
  /** The time to check against (a Date or ms since the epoch); default the clock. */
  now?: Date | number;
}

/** Why a token was refused. */
export type TokenRejection =
  | "malformed"
  | "unsupported_algorithm"
  | "unknown_key"
  | "bad_signature"
  | "wrong_issuer"
  | "wrong_audience"
  | "expired"
  | "not_yet_valid";

export type VerifyResult =
  | { ok: true; subject: string; access: ResourceScope[]; issuer: string; expiresAt: Date; jti: string | undefined }
  | { ok: false; reason: TokenRejection; message: string };

/** Tokens this long are garbage (node refuses headers past 16 KiB anyway). */
export const MAX_TOKEN_LENGTH = 16 * 1024;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const ACCEPTED: readonly string[] = ["ES256", "RS256"] satisfies SigningAlgorithm[];

/** Checks a token's form, signature and claims, in that order; never throws. */
export function verifyToken(token: string, options: VerifyOptions): VerifyResult {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH) return refuse("malformed", "the token is too long");
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((part) => !BASE64URL.test(part) || part.length % 4 === 1)) return refuse("malformed", "not a compact JWS (header.claims.signature in base64url)");
  const [headerPart, claimsPart, signaturePart] = parts as [string, string, string];
  const header = decodeJson(headerPart);
  if (header === undefined) return refuse("malformed", "the token header is not a JSON object");

  const alg = header.alg;
  if (typeof alg !== "string" || !ACCEPTED.includes(alg)) return refuse("unsupported_algorithm", `algorithm ${JSON.stringify(alg)} is not accepted: only ES256 and RS256`);
  // RFC 7515 section 4.1.11: an extension we would have to understand to verify.
  if (header.crit !== undefined) return refuse("malformed", "the token header has crit extensions, which are not supported");
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== "string") return refuse("malformed", "kid must be a string");
  // A token without a kid is tried against every key of its algorithm: the signature decides.
  const named = kid === undefined ? options.keys : options.keys.filter((key) => key.kids.includes(kid));
  if (named.length === 0) return refuse("unknown_key", kid === undefined ? "no trusted keys" : `no trusted key has id ${JSON.stringify(kid.slice(0, 100))}`);
  const candidates = named.filter((key) => key.alg === alg);
  if (candidates.length === 0) return refuse("unknown_key", kid === undefined ? `no trusted ${alg} key` : `key ${JSON.stringify(kid.slice(0, 100))} is not an ${alg} key`);

  const signature = Buffer.from(signaturePart, "base64url");
  const signingInput = Buffer.from(`${headerPart}.${claimsPart}`);
  if (!candidates.some((key) => verifyWith(alg as SigningAlgorithm, key.publicKey, signingInput, signature))) return refuse("bad_signature", "the token's signature does not verify");

  const claims = decodeJson(claimsPart);
  if (claims === undefined) return refuse("malformed", "the token claims are not a JSON object");
  return checkClaims(claims, options);
}

function checkClaims(claims: Record<string, unknown>, options: VerifyOptions): VerifyResult {
  const { iss, sub, aud, exp, nbf, jti } = claims;
  if (typeof iss !== "string") return refuse("malformed", "iss is missing");
  const issuers = typeof options.issuer === "string" ? [options.issuer] : options.issuer;
  if (!issuers.includes(iss)) return refuse("wrong_issuer", `issued by ${JSON.stringify(iss.slice(0, 100))}, not by a trusted issuer`);
  // RFC 7519: aud is a string or a list of them (distribution accepts both).
  const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) && aud.every((each) => typeof each === "string") ? (aud as string[]) : undefined;
  if (audiences === undefined) return refuse("malformed", "aud is missing");
  if (!audiences.includes(options.service)) return refuse("wrong_audience", `meant for ${JSON.stringify(audiences.join(", ").slice(0, 100))}, not for ${JSON.stringify(options.service)}`);
  if (!isSeconds(exp)) return refuse("malformed", "exp is missing");
  if (nbf !== undefined && !isSeconds(nbf)) return refuse("malformed", "nbf is not a time");
  if (sub !== undefined && typeof sub !== "string") return refuse("malformed", "sub is not a string");
  if (jti !== undefined && typeof jti !== "string") return refuse("malformed", "jti is not a string");

  const nowSeconds = toMs(options.now ?? Date.now()) / 1000;
  const skew = options.clockSkewSeconds ?? 60;
  if (nowSeconds > exp + skew) return refuse("expired", `expired at ${new Date(exp * 1000).toISOString()}`);
  if (nbf !== undefined && nowSeconds < nbf - skew) return refuse("not_yet_valid", `not valid before ${new Date(nbf * 1000).toISOString()}`);

  const access = parseAccess(claims.access);
  if (access === undefined) return refuse("malformed", "access is not a list of {type, name, actions}");
  return { ok: true, subject: sub ?? "", access, issuer: iss, expiresAt: new Date(exp * 1000), jti };
}

function parseAccess(value: unknown): ResourceScope[] | undefined {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) return undefined;
  const access: ResourceScope[] = [];
  for (const entry of value) {
    if (typeof entry !== "object" || entry === null) return undefined;
    const { type, name, actions } = entry as Record<string, unknown>;
    if (typeof type !== "string" || typeof name !== "string") return undefined;
    if (actions !== undefined && actions !== null && !(Array.isArray(actions) && actions.every((action) => typeof action === "string"))) return undefined;
    access.push({ type, name, actions: (actions as string[] | null | undefined) ?? [] });
  }
  return access;
}

function signWith(alg: SigningAlgorithm, key: KeyObject, data: Buffer): Buffer {
  // JWS ES256 signatures are r||s (64 bytes), not DER: RFC 7518 section 3.4.
  return alg === "ES256" ? sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }) : sign("sha256", data, key);
}

function verifyWith(alg: SigningAlgorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    if (alg === "ES256") return signature.length === 64 && verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
    return verify("sha256", data, key, signature);
  } catch {
    return false;
  }
}

function encodeJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

function decodeJson(part: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function isSeconds(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function toMs(time: Date | number): number {
  return typeof time === "number" ? time : time.getTime();
}

function refuse(reason: TokenRejection, message: string): VerifyResult {
  return { ok: false, reason, message };
}
