import type { MirrorEntry } from "../config/serve-config.js";
import { RegistryError } from "./oci-errors.js";

/**
 * An HTTP client for one upstream registry, as a pull-through mirror needs it: GET and HEAD of
 * manifests and blobs, with the registry auth flows.
 *
 * - Basic: sent once the upstream has challenged with `WWW-Authenticate: Basic`, and from then on
 *   up front.
 * - Bearer (the Docker token flow): on `WWW-Authenticate: Bearer realm=..,service=..,scope=..` a
 *   token is fetched from `realm` (with basic credentials if configured, anonymously otherwise),
 *   cached per scope until shortly before it expires, and the request is retried once. Later
 *   requests for the same repository send the cached token up front.
 *
 * Bodies are never read here except for token answers: callers stream them.
 */
export class UpstreamClient {
  readonly base: string;
  readonly #entry: MirrorEntry;
  /** Bearer tokens by scope, with the time they stop being used (ms since epoch). */
  readonly #tokens = new Map<string, { token: string; until: number }>();
  /** Bearer parameters from the last challenge, to build token requests for new scopes up front. */
  #bearer: { realm: string; service: string | undefined } | undefined;
  #basicChallenged = false;
  readonly #headersTimeoutMs: number;
  /** The time now, in ms since the epoch: tokens expire by it. */
  readonly #now: () => number;

  constructor(entry: MirrorEntry, options: { headersTimeoutMs?: number; now?: () => number } = {}) {
    this.#entry = entry;
    this.base = entry.upstream;
    this.#headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * One request to `/v2/<repository>/<path>`; answers with the upstream's response after auth,
   * whatever its status. Network failures become 503 UNAVAILABLE.
   */
  async request(method: "GET" | "HEAD", repository: string, path: string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
    const url = `${this.base}/v2/${repository}/${path}`;
    const scope = `repository:${repository}:pull`;
    let response = await this.#send(method, url, headers, this.#authorization(scope), signal);
    if (response.status !== 401) return response;
    const challenge = parseChallenge(response.headers.get("www-authenticate"));
    await response.body?.cancel().catch(() => undefined);
    if (challenge === undefined) throw upstreamDenied(this.base, repository, "it answered 401 without a usable WWW-Authenticate challenge");
    let authorization: string | undefined;
    if (challenge.scheme === "basic") {
      if (this.#entry.username === undefined) throw upstreamDenied(this.base, repository, "it asks for credentials and none are configured");
      this.#basicChallenged = true;
      authorization = this.#basic();
    } else {
      this.#bearer = { realm: challenge.params.realm!, service: challenge.params.service };
      authorization = `Bearer ${await this.#fetchToken(challenge.params.realm!, challenge.params.service, challenge.params.scope ?? scope, scope, signal)}`;
    }
    response = await this.#send(method, url, headers, authorization, signal);
    return response;
  }

  #authorization(scope: string): string | undefined {
    const cached = this.#tokens.get(scope);
    if (cached !== undefined && cached.until > this.#now()) return `Bearer ${cached.token}`;
    if (this.#basicChallenged) return this.#basic();
    return undefined;
  }

  #basic(): string {
    return `Basic ${Buffer.from(`${this.#entry.username}:${this.#entry.password}`).toString("base64")}`;
  }

  async #fetchToken(realm: string, service: string | undefined, scope: string, cacheScope: string, signal?: AbortSignal): Promise<string> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError("UNAVAILABLE", `upstream ${this.base} named an invalid token realm`, { status: 502 });
    }
    if (service !== undefined) url.searchParams.set("service", service);
    for (const s of scope.split(" ")) if (s !== "") url.searchParams.append("scope", s);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (this.#entry.username !== undefined) headers.Authorization = this.#basic();
    const response = await this.#send("GET", url.href, headers, headers.Authorization, signal);
    const text = await response.text();
    if (response.status === 401 || response.status === 403) {
      throw upstreamDenied(this.base, scope, `its token service ${url.origin} refused the ${this.#entry.username === undefined ? "anonymous " : ""}request (${response.status})`);
    }
    if (!response.ok) throw new RegistryError("UNAVAILABLE", `the token service of upstream ${this.base} answered ${response.status}`, { status: 502 });
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new RegistryError("UNAVAILABLE", `the token service of upstream ${this.base} sent no JSON`, { status: 502 });
    }
    const token = typeof body.token === "string" && body.token !== "" ? body.token : body.access_token;
    if (typeof token !== "string" || token === "") throw new RegistryError("UNAVAILABLE", `the token service of upstream ${this.base} sent no token`, { status: 502 });
    // The spec's default lifetime is 60 s; a token is dropped 10% (at least 5 s) early.
    const lifetime = typeof body.expires_in === "number" && body.expires_in > 0 ? body.expires_in : 60;
    const now = this.#now();
    const issued = typeof body.issued_at === "string" && !Number.isNaN(Date.parse(body.issued_at)) ? Math.min(Date.parse(body.issued_at), now) : now;
    const until = issued + lifetime * 1000 - Math.max(5000, lifetime * 100);
    if (until > now) {
      this.#tokens.set(cacheScope, { token, until });
      if (scope !== cacheScope) this.#tokens.set(scope, { token, until });
    }
    return token;
  }

  /** Tokens currently cached (for tests and diagnostics). */
  get cachedTokens(): number {
    return this.#tokens.size;
  }

  async #send(method: string, url: string, headers: Record<string, string>, authorization: string | undefined, signal?: AbortSignal): Promise<Response> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(new Error(`no answer within ${this.#headersTimeoutMs / 1000} s`)), this.#headersTimeoutMs);
    const onAbort = () => timeout.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      return await fetch(url, {
        method,
        // Blobs must arrive as stored: no transparent decompression.
        headers: { "Accept-Encoding": "identity", "User-Agent": "docker-dedup-mirror", ...headers, ...(authorization === undefined ? {} : { Authorization: authorization }) },
        redirect: "follow",
        signal: timeout.signal,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      const cause = (error as Error & { cause?: Error }).cause;
      throw new RegistryError("UNAVAILABLE", `upstream ${new URL(url).origin} is unreachable: ${cause?.message ?? (error as Error).message}`);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

export function upstreamDenied(base: string, what: string, why: string): RegistryError {
  return new RegistryError("DENIED", `upstream ${base} refused access to ${what}: ${why} (check the mirror's credentials; Docker Hub also answers so for repositories that do not exist)`, {
    status: 403,
  });
}

export interface Challenge {
  scheme: "basic" | "bearer";
  params: Record<string, string>;
}

/** `Bearer realm="..",service="..",scope=".."` or `Basic realm=".."`; undefined for anything else. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (header === null) return undefined;
  const match = /^\s*(basic|bearer)\b\s*(.*)$/i.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase() as "basic" | "bearer";
  const params: Record<string, string> = {};
  const param = /([a-zA-Z_][a-zA-Z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  for (let m = param.exec(match[2]!); m !== null; m = param.exec(match[2]!)) {
    params[m[1]!.toLowerCase()] = m[2] !== undefined ? m[2].replace(/\\(.)/g, "$1") : (m[3] ?? "");
    if (m[0] === "") break;
  }
  if (scheme === "bearer" && (params.realm === undefined || params.realm === "")) return undefined;
  return { scheme, params };
}

/** A request's mirrored repository. */
export interface MirrorTarget {
  namespace: string;
  /** The repository's name at the upstream (`library/busybox`). */
  upstreamName: string;
  /** Where it lives in this store (`docker.io/library/busybox`). */
  localName: string;
  upstream: UpstreamClient;
}

export function badUpstream(target: MirrorTarget, what: string): RegistryError {
  return new RegistryError("UNAVAILABLE", `upstream ${target.upstream.base} sent bad data: ${what}`, { status: 502 });
}

/** An upstream's non-2xx answer as this registry's error. */
export async function upstreamFailure(res: Response, target: MirrorTarget, kind: "manifest" | "blob", reference: string): Promise<RegistryError> {
  await res.body?.cancel().catch(() => undefined);
  const where = `upstream ${target.upstream.base}`;
  if (res.status === 404) {
    return kind === "manifest"
      ? new RegistryError("MANIFEST_UNKNOWN", `manifest ${reference} is unknown to ${target.upstreamName} at ${where}`, { detail: { name: target.upstreamName, reference } })
      : new RegistryError("BLOB_UNKNOWN", `blob ${reference} is unknown to ${target.upstreamName} at ${where}`, { detail: { digest: reference } });
  }
  if (res.status === 401 || res.status === 403) return upstreamDenied(target.upstream.base, target.upstreamName, `it answered ${res.status}`);
  if (res.status === 429) {
    const retry = res.headers.get("retry-after");
    return new RegistryError("TOOMANYREQUESTS", `${where} is rate-limiting this mirror`, retry === null ? {} : { headers: { "Retry-After": retry } });
  }
  return new RegistryError("UNAVAILABLE", `${where} answered ${res.status} for ${kind} ${reference} of ${target.upstreamName}`, { status: 502 });
}

