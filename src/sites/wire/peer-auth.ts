import { createHash, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import type { PeerTls } from "../../config/site-config.js";

/** How a site's peer API checks who calls it (PeerAccess, config/site-config.ts), and how callers present themselves. */

/**
 * The shared secret, checked in constant time: both sides are hashed first, so neither the
 * comparison's time nor a length check tells an attacker how much of a guess was right.
 */
export function secretChecker(secret: string): (authorization: string | undefined) => boolean {
  const expected = createHash("sha256").update(`Bearer ${secret}`).digest();
  return (authorization) => authorization !== undefined && timingSafeEqual(createHash("sha256").update(authorization).digest(), expected);
}

export function authorizationHeader(secret: string): string {
  return `Bearer ${secret}`;
}

/** The peer API's server: plain HTTP, or HTTPS that requires a client certificate signed by the sites' CA. */
export function createPeerServer(tls: PeerTls | undefined, handler: http.RequestListener): http.Server {
  if (tls === undefined) return http.createServer(handler);
  return https.createServer({ ...tls, requestCert: true, rejectUnauthorized: true }, handler);
}

/** How requests reach peers: the request function, and options (agent or certificates) to give it. */
export interface PeerTransport {
  request: typeof http.request;
  agent(options: { keepAlive: boolean; maxSockets: number }): http.Agent;
  /** Options for a request made without an agent of this transport's. */
  readonly tlsOptions: https.RequestOptions;
}

export function peerTransport(tls: PeerTls | undefined): PeerTransport {
  if (tls === undefined) return { request: http.request, agent: (options) => new http.Agent(options), tlsOptions: {} };
  return { request: https.request, agent: (options) => new https.Agent({ ...options, ...tls }), tlsOptions: { ...tls } };
}
