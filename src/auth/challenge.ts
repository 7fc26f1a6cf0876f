import { formatScope, type ResourceScope } from "./scope.js";

/**
 * The `WWW-Authenticate` challenges this registry sends (RFC 7617 Basic, RFC 6750 Bearer as
 * distribution writes it) and the `Authorization` header it reads.
 */

/** `Basic realm="..."`: clients then send `Authorization: Basic base64(user:password)`. */
export function basicChallenge(realm: string): string {
  return `Basic realm=${quote(realm)}`;
}

/** The `error` of a Bearer challenge (RFC 6750 section 3.1). */
export type BearerError = "invalid_request" | "invalid_token" | "insufficient_scope";

/**
 * `Bearer realm="https://host/token",service="...",scope="repository:x:pull,push"`, plus
 * `error=` when a token was sent and refused. Clients take service and scope to the realm to
 * get a token. Several scopes are separated by a space in the one parameter, as distribution
 * writes them. Scopes whose text could not be sent in a quoted string are left out, not sent.
 */
export function bearerChallenge(options: { realm: string; service: string; scopes?: readonly ResourceScope[]; error?: BearerError }): string {
  let challenge = `Bearer realm=${quote(options.realm)},service=${quote(options.service)}`;
  const scopes = (options.scopes ?? []).map(formatScope).filter((scope) => SAFE_SCOPE.test(scope));
  if (scopes.length > 0) challenge += `,scope=${quote(scopes.join(" "))}`;
  if (options.error !== undefined) challenge += `,error=${quote(options.error)}`;
  return challenge;
}

const SAFE_SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
// Printable ASCII and spaces: what a config value may hold to go into a header.
const HEADER_SAFE = /^[\x20-\x7e]*$/;

/** Whether `value` may go into a challenge (no control characters or non-ASCII). Config checks call this. */
export function isHeaderSafe(value: string): boolean {
  return HEADER_SAFE.test(value);
}

/** RFC 7230 quoted-string. Control characters cannot be quoted and are dropped, so that no value can split the header. */
function quote(value: string): string {
  return `"${value.replace(/[^\x20-\x7e]/g, "").replace(/["\\]/g, "\\$&")}"`;
}

/** What a request's `Authorization` header says. Every header gives one of these; nothing throws. */
export type Credentials =
  | { kind: "none" }
  | { kind: "basic"; username: string; password: string }
  | { kind: "bearer"; token: string }
  | { kind: "invalid"; reason: string };

/** Longer headers are garbage: a JWT of a busy push stays far below. */
const MAX_AUTHORIZATION_LENGTH = 16 * 1024;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Parses an `Authorization` header: `Basic base64(user:password)` (the password may hold `:`;
 * the user may not, as RFC 7617 says) or `Bearer <token>`. The scheme is case-insensitive.
 * Other schemes, bad base64, bytes that are not UTF-8, or an empty user are `invalid`; Basic with
 * an empty user and an empty password is `none`, as containers/image sends it for "no credentials".
 */
export function parseAuthorization(header: string | readonly string[] | undefined): Credentials {
  if (header === undefined) return { kind: "none" };
  if (typeof header !== "string") {
    if (header.length === 0) return { kind: "none" };
    if (header.length > 1) return invalid("more than one Authorization header");
    return parseAuthorization(header[0]);
  }
  if (header.length > MAX_AUTHORIZATION_LENGTH) return invalid("Authorization header too long");
  const trimmed = header.trim();
  if (trimmed === "") return { kind: "none" };
  const space = trimmed.search(/[ \t]/);
  const scheme = (space === -1 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  const value = space === -1 ? "" : trimmed.slice(space + 1).trim();
  if (scheme === "basic") return parseBasic(value);
  if (scheme === "bearer") {
    if (!TOKEN68.test(value)) return invalid("Bearer without a token");
    return { kind: "bearer", token: value };
  }
  return invalid(`unsupported authorization scheme ${JSON.stringify(scheme.slice(0, 20))}`);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function parseBasic(value: string): Credentials {
  // Some clients leave out the padding; Buffer would also quietly skip bad characters, so check first.
  const padded = value.length % 4 === 0 ? value : value + "=".repeat(4 - (value.length % 4));
  if (!BASE64.test(padded) || padded.length % 4 !== 0 || value.length % 4 === 1) return invalid("Basic credentials are not base64");
  let text: string;
  try {
    text = UTF8.decode(Buffer.from(padded, "base64"));
  } catch {
    return invalid("Basic credentials are not UTF-8");
  }
  const colon = text.indexOf(":");
  if (colon === -1) return invalid("Basic credentials without a ':'");
  // skopeo, podman and buildah (containers/image) send an empty user and password when they
  // have no credentials: that is an anonymous request, not a login attempt.
  if (text === ":") return { kind: "none" };
  const username = text.slice(0, colon);
  if (username === "") return invalid("Basic credentials with an empty user");
  return { kind: "basic", username, password: text.slice(colon + 1) };
}

function invalid(reason: string): Credentials {
  return { kind: "invalid", reason };
}
