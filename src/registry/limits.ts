import type { IncomingMessage } from "node:http";
import { DEFAULT_BODY_WINDOW_MS, DEFAULT_MIN_BODY_RATE, type BodyRefusal, type BodyRules } from "../http/body.js";
import { RegistryError, type OciErrorCode } from "./oci-errors.js";

/**
 * What one request, and one client, may take of the registry. Every bound answers with the
 * spec's error codes, and none of them lets one client lock out the others: connections and
 * upload sessions are counted per client (its address; for upload sessions its user, when
 * authenticated) as well as in total.
 */
export interface RequestLimits {
  /** The largest blob a push may create (413 SIZE_INVALID beyond). */
  maxBlobBytes: number;
  /** The largest manifest (413 MANIFEST_INVALID beyond), as CNCF distribution and the spec's guidance. */
  maxManifestBytes: number;
  /** A request body slower than this, judged over `bodyWindowMs`, is cut (408). */
  minBodyBytesPerSecond: number;
  bodyWindowMs: number;
  /** The request line and headers must arrive within this. */
  headersTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed (a client that stopped reading, too). */
  idleTimeoutMs: number;
  /** Connections one client address may hold open at once; more are answered 429 and closed. */
  maxConnectionsPerClient: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = Object.freeze({
  maxBlobBytes: 16 * 2 ** 30,
  maxManifestBytes: 4 << 20,
  minBodyBytesPerSecond: DEFAULT_MIN_BODY_RATE,
  bodyWindowMs: DEFAULT_BODY_WINDOW_MS,
  headersTimeoutMs: 60_000,
  idleTimeoutMs: 120_000,
  maxConnectionsPerClient: 128,
});

/** The rules for a request body, refusing with `code`: 413 when too large, 408 when too slow. */
export function bodyRules(limits: RequestLimits, code: OciErrorCode, what: string, maxBytes: number): BodyRules & { maxBytes: number } {
  return {
    maxBytes,
    minBytesPerSecond: limits.minBodyBytesPerSecond,
    windowMs: limits.bodyWindowMs,
    refuse: (why: BodyRefusal, limit: number) =>
      why === "too-large"
        ? new RegistryError(code, `${what} is larger than the ${limit}-byte limit`, { status: 413, detail: { limit } })
        : new RegistryError(code, `${what} arrived slower than ${limit} bytes per second; the request was cut`, { status: 408, detail: { minBytesPerSecond: limit } }),
  };
}

/**
 * Who a request counts against in per-client limits: its user when one is authenticated (so a
 * user behind a shared NAT or proxy is not counted with everyone else there, and one user cannot
 * dodge the cap from many addresses), else its peer address. Connections are counted before any
 * request is read, so they stay per address.
 */
export function clientOf(req: IncomingMessage, user?: string): string {
  // "user:" cannot begin an address (IPv6 ones hold only hex digits, ":" and ".").
  return user !== undefined ? `user:${user}` : (req.socket?.remoteAddress ?? "unknown");
}
