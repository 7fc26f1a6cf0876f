import type { IncomingMessage } from "node:http";
import { checkPeerScheme, checkPeerUrl, type PeerAccess } from "../../config/site-config.js";
import { DedupError } from "../../errors.js";
import { authorizationHeader, peerTransport } from "./peer-auth.js";
import { PEER_API_PREFIX } from "./peer-protocol.js";
import { readBody } from "../../http/body.js";

/** A site silent this long is taken for gone (a replicate sends a progress line every 250 ms). */
const IDLE_TIMEOUT_MS = 60_000;

/**
 * One call of a running site's peer API by an operator's command (`sites`, `replicate`), with
 * the shared secret, over mutual TLS when the sites use it. Resolves with the reply once its
 * status is 200; otherwise throws one clear error naming the site and what it answered.
 */
export async function callSite(siteUrl: string, access: PeerAccess, method: string, path: string, body?: unknown): Promise<IncomingMessage> {
  const base = checkPeerUrl(siteUrl, "--site-url");
  checkPeerScheme(base, access.tls !== undefined, "--site-url");
  const transport = peerTransport(access.tls);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const headers: Record<string, string | number> = { Authorization: authorizationHeader(access.secret) };
    if (payload !== undefined) Object.assign(headers, { "Content-Type": "application/json", "Content-Length": payload.length });
    const req = transport.request(`${base}${PEER_API_PREFIX}${path}`, { method, headers, timeout: IDLE_TIMEOUT_MS, ...transport.tlsOptions }, resolve);
    req.on("timeout", () => req.destroy(new Error(`no answer for ${IDLE_TIMEOUT_MS / 1000} s`)));
    req.on("error", (error) => reject(new DedupError("STORE_UNAVAILABLE", `cannot reach the site at ${base}: ${error.message}`)));
    req.end(payload);
  });
  if (res.statusCode === 200) return res;
  const text = (await readText(res)).trim().slice(0, 500);
  if (res.statusCode === 401) throw new DedupError("INPUT_INVALID", `the site at ${base} refused the peer secret`);
  if (res.statusCode === 404 && text.startsWith("no such peer call")) throw new DedupError("INPUT_INVALID", `the site at ${base} does not answer ${path.split("?")[0]} (an older docker-dedup, or not a site's peer API)`);
  throw new DedupError(res.statusCode === 400 ? "INPUT_INVALID" : "STORE_UNAVAILABLE", `the site at ${base} answered ${res.statusCode}: ${text}`);
}

/** A site's whole answer as text (a status, an error): at most 16 MiB. */
export async function readText(res: IncomingMessage): Promise<string> {
  const body = await readBody(res, { maxBytes: 16 << 20, refuse: (why, limit) => new DedupError("STORE_UNAVAILABLE", `the site's answer is ${why === "too-large" ? `over ${limit} bytes` : "too slow"}`) });
  return body.toString("utf8");
}

/** The reply's lines as they arrive. */
export async function* lines(res: IncomingMessage): AsyncGenerator<string> {
  let pending = "";
  for await (const part of res as AsyncIterable<Buffer>) {
    pending += part.toString("utf8");
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim() !== "") yield line;
    }
  }
  if (pending.trim() !== "") yield pending;
}
