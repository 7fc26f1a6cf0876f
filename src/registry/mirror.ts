import { namespaceComponent, type MirrorConfig } from "../config/serve-config.js";
import { getBlob } from "./blobs.js";
import type { Exchange, MirrorRoutes } from "./context.js";
import { sendJson } from "./http-util.js";
import { listReferrers, listTags } from "./listings.js";
import { MediaType, parseManifest } from "./manifest-format.js";
import { getManifest, storeManifest } from "./manifests.js";
import { checkDigest, isValidRepositoryName, parseReference } from "./names.js";
import { RegistryError } from "./oci-errors.js";
import type { Route } from "./routes.js";
import { badUpstream, upstreamFailure, UpstreamClient, type MirrorTarget } from "./upstream.js";
import { UpstreamFetch, type UpstreamFetchDeps } from "./upstream-fetch.js";
import { sha256Digest } from "../layers/digest.js";

/**
 * Mirror mode: a pull-through cache in front of upstream registries.
 *
 * Routing. A request's namespace is containerd's `?ns=<registry host>`, else a first name
 * component naming a mirrored namespace (`/v2/ghcr.io/org/app/...`), else the default namespace
 * (dockerd's `registry-mirrors` sends bare names). In `docker.io`, a one-component name means
 * `library/<name>`. A mirrored repository is stored locally as `<namespace>/<upstream name>`
 * (`docker.io/library/busybox`; a `:` in the namespace becomes `-`), so namespaces never mix and
 * the prefixed form of a name reaches the same repository. Names whose `?ns=` is not mirrored,
 * and all names when no default namespace is set, stay local: an ordinary registry.
 *
 * Manifests. By digest: fetched once, verified against the digest, kept for good. By tag: served
 * from the store while younger than the TTL, then revalidated with a HEAD (no download when the
 * upstream's Docker-Content-Digest is unchanged); if the upstream is unreachable or failing, the
 * cached tag is served stale and the fact logged.
 *
 * Blobs. A blob the repository does not link is fetched once (concurrent requests for it share
 * one upstream fetch) and teed: the bytes go to the store's chunker and to every client attached
 * from the start, paced by the slower of the two, so nothing is buffered whole. The last piece is
 * held back until the store has verified the digest and committed the recipe and the link, so a
 * client never receives a complete blob that is not stored; a bad digest cuts the clients'
 * connections and stores nothing. A client that leaves does not stop the fetch (like CNCF
 * distribution's proxyblobstore); one that stalls for `STALL_MS` is dropped. Requests that join
 * a fetch already under way, and Range requests, wait for the commit and are served from the
 * store. A blob the store already holds for another repository costs only a HEAD upstream
 * (confirming this repository has it) before it is linked.
 *
 * Pushes. A mirrored repository is read-only: uploads, manifest PUTs and DELETEs answer 405
 * UNSUPPORTED, as CNCF distribution's proxy mode does.
 */

/** What a mirror asks upstreams for: every manifest kind this registry can store. */
const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(", ");

export interface MirrorDeps extends UpstreamFetchDeps {
  maxManifestBytes: number;
}

/** How a mirror answered reads of one kind: from the store (hits), fetched upstream (misses), or failing upstream (errors). */
export interface MirrorOutcomes {
  hits: number;
  misses: number;
  errors: number;
}

export class Mirror implements MirrorRoutes {
  readonly config: MirrorConfig;
  /** Running totals for metrics. A stale tag served while its upstream fails counts as a hit and an error. */
  readonly outcomes: Record<"blob" | "manifest", MirrorOutcomes> = { blob: { hits: 0, misses: 0, errors: 0 }, manifest: { hits: 0, misses: 0, errors: 0 } };
  readonly #deps: MirrorDeps;
  readonly #upstreams = new Map<string, { component: string; client: UpstreamClient }>();
  /** When each `<local name>:<tag>` was last confirmed with its upstream (ms since epoch). */
  readonly #tagChecked = new Map<string, number>();
  /** Manifest fetches under way, by `<local name>@<reference>`. */
  readonly #manifestFetches = new Map<string, Promise<unknown>>();
  /** Blob fetches under way, by `<local name>@<digest>`. */
  readonly #blobFetches = new Map<string, UpstreamFetch>();
  readonly #closing = new AbortController();
  /** Upstream GETs of blobs started (tests check coalescing with it). */
  blobFetchesStarted = 0;

  constructor(config: MirrorConfig, deps: MirrorDeps) {
    this.config = config;
    this.#deps = deps;
    for (const entry of config.mirrors) {
      this.#upstreams.set(entry.namespace, { component: namespaceComponent(entry.namespace)!, client: new UpstreamClient(entry, { now: deps.now }) });
    }
  }

  /** Serves a request if it names a mirrored repository (reads go upstream as needed, writes are refused); false when the repository is local. */
  async handle(ex: Exchange, route: Extract<Route, { name: string }>): Promise<boolean> {
    const target = this.resolve(route.name, ex.query);
    if (target === undefined) return false;
    try {
      await this.#serve(ex, route, target);
    } catch (error) {
      if (isUpstreamFailure(error) && (route.kind === "blob" || route.kind === "manifest")) this.outcomes[route.kind].errors++;
      throw error;
    }
    return true;
  }

  async #serve(ex: Exchange, route: Extract<Route, { name: string }>, target: MirrorTarget): Promise<void> {
    switch (route.kind) {
      case "blob":
        if (ex.method === "DELETE") throw readOnly(target, "deleting a blob");
        await this.getBlob(ex, target, route.digest);
        break;
      case "manifest":
        if (ex.method === "PUT") throw readOnly(target, "pushing a manifest");
        if (ex.method === "DELETE") throw readOnly(target, "deleting a manifest");
        await this.getManifest(ex, target, route.reference);
        break;
      case "uploads":
      case "upload":
        throw readOnly(target, "pushing a blob");
      case "tags":
        await this.listTags(ex, target, route.name);
        break;
      case "referrers":
        await listReferrers(ex, target.localName, route.digest);
        break;
    }
  }

  /** The mirrored repository a request names, or undefined for a local one. `name` is valid. */
  resolve(name: string, query: URLSearchParams): MirrorTarget | undefined {
    const ns = query.get("ns");
    let namespace: string | undefined;
    let upstreamName = name;
    if (ns !== null) {
      namespace = ns.toLowerCase();
      if (!this.#upstreams.has(namespace)) return undefined;
    } else {
      const slash = name.indexOf("/");
      const first = slash === -1 ? undefined : name.slice(0, slash);
      const prefixed = first === undefined ? undefined : [...this.#upstreams].find(([, u]) => u.component === first)?.[0];
      if (prefixed !== undefined) {
        namespace = prefixed;
        upstreamName = name.slice(slash + 1);
      } else {
        if (this.config.defaultNamespace === null) return undefined;
        namespace = this.config.defaultNamespace;
      }
    }
    const upstream = this.#upstreams.get(namespace)!;
    if (namespace === "docker.io" && !upstreamName.includes("/")) upstreamName = `library/${upstreamName}`;
    const localName = `${upstream.component}/${upstreamName}`;
    if (!isValidRepositoryName(localName)) {
      throw new RegistryError("NAME_INVALID", `repository ${name} of ${namespace} would be stored as ${localName}, which is too long`, { detail: { name } });
    }
    return { namespace, upstreamName, localName, upstream: upstream.client };
  }

  /** GET/HEAD of a manifest: fetched or revalidated as needed, then served from the store. */
  async getManifest(ex: Exchange, target: MirrorTarget, rawReference: string): Promise<void> {
    const reference = parseReference(rawReference, false);
    if (reference.kind === "digest") {
      const stored = (await this.#deps.meta.getManifest(target.localName, reference.digest)) !== undefined;
      if (!stored) await this.#once(this.#manifestFetches, `${target.localName}@${reference.digest}`, () => this.#fetchManifest(target, reference.digest, reference.digest));
      this.outcomes.manifest[stored ? "hits" : "misses"]++;
    } else {
      this.outcomes.manifest[(await this.#freshTag(target, reference.tag)) ? "hits" : "misses"]++;
    }
    await getManifest(ex, target.localName, rawReference);
  }

  /** GET/HEAD of a blob: from the store if linked, else from the upstream (teed into the store). */
  async getBlob(ex: Exchange, target: MirrorTarget, rawDigest: string): Promise<void> {
    const digest = checkDigest(rawDigest);
    const { meta, blobs } = this.#deps;
    if ((await meta.blobLink(target.localName, digest)) !== undefined) {
      this.outcomes.blob.hits++;
      return getBlob(ex, target.localName, digest);
    }
    const known = await blobs.open(digest);
    if (known !== undefined) {
      // The bytes are here already (another repository's); the upstream only has to confirm that this repository has them.
      const head = await target.upstream.request("HEAD", target.upstreamName, `blobs/${digest}`, {}, this.#closing.signal);
      if (!head.ok) throw await upstreamFailure(head, target, "blob", digest);
      this.outcomes.blob.hits++;
      await meta.linkBlob(target.localName, digest, { size: known.size, linked: this.#deps.now() });
      return getBlob(ex, target.localName, digest);
    }
    const key = `${target.localName}@${digest}`;
    this.outcomes.blob.misses++;
    let fetch = this.#blobFetches.get(key);
    if (fetch === undefined && ex.method === "HEAD") return this.#headBlob(ex, target, digest);
    if (fetch === undefined) {
      fetch = new UpstreamFetch(this.#deps, target, digest, this.#closing.signal);
      this.blobFetchesStarted++;
      this.#blobFetches.set(key, fetch);
      const started = fetch;
      started.done.then(
        () => this.#blobFetches.delete(key),
        (error: unknown) => {
          this.#blobFetches.delete(key);
          if (!(error instanceof RegistryError) || error.isServerFault) this.#deps.log(`mirror: fetching ${digest} for ${target.localName} failed: ${(error as Error).message}`);
        },
      );
      if (ex.method === "GET" && ex.req.headers.range === undefined) {
        const attached = await started.attachFirst(ex.res);
        if (attached) return;
      }
    }
    await fetch.done;
    return getBlob(ex, target.localName, digest);
  }

  /** GET of a tag list: the upstream's, or the local one if the upstream fails. */
  async listTags(ex: Exchange, target: MirrorTarget, requestedName: string): Promise<void> {
    const forwarded = new URLSearchParams();
    for (const key of ["n", "last"]) {
      const value = ex.query.get(key);
      if (value !== null) forwarded.set(key, value);
    }
    const query = forwarded.toString();
    try {
      const res = await target.upstream.request("GET", target.upstreamName, `tags/list${query === "" ? "" : `?${query}`}`, { Accept: "application/json" }, this.#closing.signal);
      if (res.status === 200) {
        const body = (await res.json()) as { tags?: unknown };
        const headers: Record<string, string> = {};
        const link = res.headers.get("link");
        // The upstream's next-page link names its repository; the client knows this one by its own name.
        if (link !== null) headers.Link = link.replace(`/v2/${target.upstreamName}/`, `/v2/${requestedName}/`);
        sendJson(ex.res, 200, { name: requestedName, tags: Array.isArray(body.tags) ? body.tags : [] }, headers);
        return;
      }
      await res.body?.cancel();
    } catch (error) {
      if (error instanceof RegistryError && error.code !== "UNAVAILABLE") throw error;
    }
    await listTags(ex, target.localName);
  }

  /** Stops upstream fetches in flight and waits for them to settle. */
  async close(): Promise<void> {
    this.#closing.abort(new Error("the registry is shutting down"));
    await Promise.allSettled([...this.#blobFetches.values()].map((f) => f.done));
    await Promise.allSettled([...this.#manifestFetches.values()]);
  }

  async #headBlob(ex: Exchange, target: MirrorTarget, digest: string): Promise<void> {
    const head = await target.upstream.request("HEAD", target.upstreamName, `blobs/${digest}`, {}, this.#closing.signal);
    if (!head.ok) throw await upstreamFailure(head, target, "blob", digest);
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream", "Docker-Content-Digest": digest, ETag: `"${digest}"`, "Accept-Ranges": "bytes" };
    const length = head.headers.get("content-length");
    if (length !== null) headers["Content-Length"] = length;
    ex.res.writeHead(200, headers);
    ex.res.end();
  }

  /** Makes the tag fresh enough to serve; whether its manifest was served from the store (true) or fetched again. */
  async #freshTag(target: MirrorTarget, tag: string): Promise<boolean> {
    const { meta, log } = this.#deps;
    const key = `${target.localName}:${tag}`;
    const cached = await meta.getTag(target.localName, tag);
    const checked = this.#tagChecked.get(key);
    if (cached !== undefined && checked !== undefined && this.#deps.now() - checked < this.config.manifestTtlSeconds * 1000) return true;
    try {
      return await this.#once(this.#manifestFetches, key, async () => {
        if (cached !== undefined && (await meta.getManifest(target.localName, cached)) !== undefined) {
          const head = await target.upstream.request("HEAD", target.upstreamName, `manifests/${tag}`, { Accept: MANIFEST_ACCEPT, "If-None-Match": `"${cached}"` }, this.#closing.signal);
          if ((head.ok || head.status === 304) && (head.status === 304 || head.headers.get("docker-content-digest") === cached)) {
            this.#tagChecked.set(key, this.#deps.now());
            return true;
          }
          if (!head.ok && head.status !== 304) throw await upstreamFailure(head, target, "manifest", tag);
        }
        const digest = await this.#fetchManifest(target, tag, undefined);
        await meta.setTag(target.localName, tag, digest);
        this.#tagChecked.set(key, this.#deps.now());
        return false;
      });
    } catch (error) {
      if (cached !== undefined && error instanceof RegistryError && (error.code === "UNAVAILABLE" || error.code === "TOOMANYREQUESTS")) {
        log(`mirror: serving ${target.localName}:${tag} from the cache, unrevalidated: ${error.message}`);
        this.outcomes.manifest.errors++;
        return true;
      }
      throw error;
    }
  }

  /** Fetches a manifest, verifies it, stores its bytes and links it to the repository; its digest. */
  async #fetchManifest(target: MirrorTarget, reference: string, expected: string | undefined): Promise<string> {
    const res = await target.upstream.request("GET", target.upstreamName, `manifests/${reference}`, { Accept: MANIFEST_ACCEPT }, this.#closing.signal);
    if (!res.ok) throw await upstreamFailure(res, target, "manifest", reference);
    const parts: Buffer[] = [];
    let total = 0;
    for await (const part of res.body as AsyncIterable<Uint8Array>) {
      total += part.length;
      if (total > this.#deps.maxManifestBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw badUpstream(target, `manifest ${reference} is larger than ${this.#deps.maxManifestBytes} bytes`);
      }
      parts.push(Buffer.from(part.buffer, part.byteOffset, part.byteLength));
    }
    const bytes = Buffer.concat(parts, total);
    const digest = sha256Digest(bytes);
    if (expected !== undefined && digest !== expected) throw badUpstream(target, `manifest ${expected} arrived with digest ${digest}`);
    const stated = res.headers.get("docker-content-digest");
    if (expected === undefined && stated !== null && stated.startsWith("sha256:") && stated !== digest) {
      throw badUpstream(target, `manifest ${reference} arrived with digest ${digest}, not the ${stated} it stated`);
    }
    let manifest;
    try {
      manifest = parseManifest(bytes, res.headers.get("content-type") ?? undefined);
    } catch (error) {
      throw badUpstream(target, `manifest ${reference} cannot be mirrored: ${(error as Error).message}`);
    }
    await storeManifest(this.#deps, target.localName, digest, bytes, manifest);
    return digest;
  }

  /** Runs `work` once per key at a time; concurrent callers share its outcome. */
  async #once<T>(inFlight: Map<string, Promise<unknown>>, key: string, work: () => Promise<T>): Promise<T> {
    const running = inFlight.get(key);
    if (running !== undefined) return running as Promise<T>;
    const task = work().finally(() => inFlight.delete(key));
    inFlight.set(key, task);
    return task;
  }
}

/** An upstream that could not be reached, failed, lied, refused the mirror's credentials or rate-limited it (its 404 is an answer, not a failure). */
function isUpstreamFailure(error: unknown): boolean {
  return error instanceof RegistryError && (error.code === "UNAVAILABLE" || error.code === "DENIED" || error.code === "TOOMANYREQUESTS");
}

/** A mirrored repository refuses writes. */
export function readOnly(target: MirrorTarget, what: string): RegistryError {
  return new RegistryError("UNSUPPORTED", `${what} is not supported: ${target.localName} is a read-only mirror of ${target.namespace} (${target.upstream.base})`, {
    detail: { namespace: target.namespace },
  });
}
