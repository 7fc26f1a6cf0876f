import type { Agent, IncomingMessage } from "node:http";
import { isIP } from "node:net";
import type { PeerAccess, PeerEntry } from "../../config/site-config.js";
import { DedupError } from "../../errors.js";
import type { ChunkId } from "../../store/chunk-id.js";
import type { GzipForm } from "../../layers/gzip/form.js";
import { decodeRecipe, type Recipe } from "../../store/recipe.js";
import { authorizationHeader, peerTransport, type PeerTransport } from "./peer-auth.js";
import { readPeerForm } from "./peer-form.js";
import { type ChangeEntry, decodeBitmap, joinIds, MAX_IDS_PER_HAS, PEER_API_PREFIX, readFrames } from "./peer-protocol.js";
import { readBody } from "../../http/body.js";

/** Connections kept open to each peer: enough for several `chunks` requests in flight at once. */
const SOCKETS_PER_PEER = 8;
/** A peer silent this long on an open request is taken for dead. */
const IDLE_TIMEOUT_MS = 20_000;
/** The most a whole answer (a recipe, a log page, a bitmap) may hold: a 16 GiB blob's recipe at 16 KiB chunks is 36 MB. */
const MAX_ANSWER_BYTES = 256 << 20;

/** What a `probe` measured: the bytes that arrived while the clock ran, and for how long it ran. */
export interface ProbeMeasurement {
  bytes: number;
  seconds: number;
}

/** One peer's API (peer-protocol.ts), over kept-alive connections. */
export class PeerClient {
  readonly name: string;
  readonly url: string;
  readonly #transport: PeerTransport;
  readonly #agent: Agent;
  readonly #authorization: string;
  /** The address requests leave from: the site's own, so the peer (and a shaped link) sees which site asks. */
  readonly #localAddress: string | undefined;

  /** `listenHost`: the host this site's peer API listens on; an IP address other than a wildcard is also where requests leave from. */
  constructor(peer: PeerEntry, access: PeerAccess, listenHost?: string) {
    this.name = peer.name;
    this.url = peer.url;
    this.#transport = peerTransport(access.tls);
    this.#agent = this.#transport.agent({ keepAlive: true, maxSockets: SOCKETS_PER_PEER });
    this.#authorization = authorizationHeader(access.secret);
    this.#localAddress = sourceAddress(listenHost, new URL(peer.url).hostname.replace(/^\[|\]$/g, ""));
  }

  /** `head`: the peer's log head (sites before `status` existed leave it out). */
  async info(): Promise<{ site: string; version: number; head?: number }> {
    return JSON.parse((await this.#call("GET", "info")).toString("utf8")) as { site: string; version: number; head?: number };
  }

  /** Passes a `replicate` request on to this peer; the caller reads the reply (status and progress lines). */
  replicate(request: unknown): Promise<IncomingMessage> {
    return this.#open("POST", "replicate", Buffer.from(JSON.stringify(request)), "application/json");
  }

  async has(ids: readonly ChunkId[]): Promise<boolean[]> {
    const answers: boolean[] = [];
    for (let from = 0; from < ids.length; from += MAX_IDS_PER_HAS) {
      const batch = ids.slice(from, from + MAX_IDS_PER_HAS);
      answers.push(...decodeBitmap(await this.#call("POST", "has", joinIds(batch)), batch.length));
    }
    return answers;
  }

  /** The chunks' stored forms, in the order asked, as they arrive; undefined for a chunk the peer lacks. */
  async *chunks(ids: readonly ChunkId[]): AsyncGenerator<Buffer | undefined> {
    const res = await this.#open("POST", "chunks", joinIds(ids));
    await expectOk(this.name, res);
    let count = 0;
    for await (const stored of readFrames(res as AsyncIterable<Buffer>)) {
      if (++count > ids.length) throw new DedupError("CHUNK_CORRUPT", `peer ${this.name} sent more chunk frames than the ${ids.length} asked for`);
      yield stored;
    }
    if (count !== ids.length) throw new DedupError("CHUNK_MISSING", `peer ${this.name} sent ${count} of ${ids.length} chunk frames`);
  }

  /** The blob's recipe if the peer holds the blob. */
  async recipe(digest: string): Promise<Recipe | undefined> {
    const res = await this.#open("GET", `recipes/${digest}`);
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    // Not proven here, whatever the peer sent (version 1 now; a seal would prove nothing from a
    // peer): a read of it hashes the whole blob (checkRecipe).
    return { ...decodeRecipe(digest, await readAll(this.name, res)), proven: false };
  }

  /**
   * The blob's gzip form if the peer holds it as a gzip layer's content and form, checked
   * (peer-form.ts); undefined if it does not (a site from before forms answers 404 as well).
   */
  async form(digest: string): Promise<GzipForm | undefined> {
    const res = await this.#open("GET", `forms/${digest}`);
    if (res.statusCode === 404) {
      res.resume();
      return undefined;
    }
    return readPeerForm(this.name, digest, await readAll(this.name, res));
  }

  /**
   * Downloads `bytes` of the peer's `probe` and times the body alone, from its first piece to its
   * last: connection set-up and the peer's time to first byte are not the link's rate. The first
   * piece arrived before the clock started, so its bytes are not counted either.
   */
  async probe(bytes: number, signal?: AbortSignal): Promise<ProbeMeasurement> {
    const res = await this.#open("GET", `probe?bytes=${bytes}`, undefined, undefined, signal);
    await expectOk(this.name, res);
    let received = 0;
    let uncounted = 0;
    let first = 0;
    let last = 0;
    try {
      for await (const piece of res as AsyncIterable<Buffer>) {
        last = performance.now();
        if (received === 0) {
          first = last;
          uncounted = piece.length;
        }
        received += piece.length;
      }
    } catch (error) {
      throw unavailable(this.name, error);
    }
    if (received !== bytes) throw new DedupError("STORE_UNAVAILABLE", `peer ${this.name} sent ${received} of ${bytes} probe bytes`);
    return { bytes: received - uncounted, seconds: (last - first) / 1000 };
  }

  async log(after: number): Promise<{ entries: ChangeEntry[]; head: number }> {
    return JSON.parse((await this.#call("GET", `log?after=${after}`)).toString("utf8")) as { entries: ChangeEntry[]; head: number };
  }

  close(): void {
    this.#agent.destroy();
  }

  async #call(method: string, path: string, body?: Buffer): Promise<Buffer> {
    return readAll(this.name, await this.#open(method, path, body));
  }

  #open(method: string, path: string, body?: Buffer, type = "application/octet-stream", signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { Authorization: this.#authorization };
      if (body !== undefined) Object.assign(headers, { "Content-Type": type, "Content-Length": body.length });
      const req = this.#transport.request(`${this.url}${PEER_API_PREFIX}${path}`, { method, agent: this.#agent, headers, timeout: IDLE_TIMEOUT_MS, localAddress: this.#localAddress, signal }, resolve);
      req.on("timeout", () => req.destroy(new DedupError("STORE_UNAVAILABLE", `peer ${this.name} did not answer for ${IDLE_TIMEOUT_MS / 1000} s`)));
      req.on("error", (error) => reject(unavailable(this.name, error)));
      req.end(body);
    });
  }
}

/**
 * The listening host as the address to connect from, when it is one: an IP address, not a
 * wildcard, of the peer's family, and not a loopback address for a peer that is not on loopback.
 */
function sourceAddress(listenHost: string | undefined, peerHost: string): string | undefined {
  if (listenHost === undefined || listenHost === "0.0.0.0" || listenHost === "::") return undefined;
  const family = isIP(listenHost);
  if (family === 0 || family !== isIP(peerHost)) return undefined;
  const loopback = (host: string) => host.startsWith("127.") || host === "::1";
  return loopback(listenHost) === loopback(peerHost) ? listenHost : undefined;
}

async function expectOk(peer: string, res: IncomingMessage): Promise<void> {
  if (res.statusCode === 200) return;
  const text = (await readAll(peer, res, false)).toString("utf8").trim().slice(0, 200);
  throw new DedupError("STORE_UNAVAILABLE", `peer ${peer} answered ${res.statusCode}: ${text}`, { peer, status: res.statusCode });
}

/** A whole answer of the peer's (a recipe, a bitmap, an error text): bounded, as everything a peer sends. */
async function readAll(peer: string, res: IncomingMessage, checkStatus = true): Promise<Buffer> {
  if (checkStatus) await expectOk(peer, res);
  try {
    return await readBody(res, { maxBytes: MAX_ANSWER_BYTES, refuse: (why, limit) => new DedupError("STORE_UNAVAILABLE", `peer ${peer} sent ${why === "too-large" ? `more than ${limit} bytes` : `slower than ${limit} bytes per second`}`, { peer }) });
  } catch (error) {
    throw unavailable(peer, error);
  }
}

function unavailable(peer: string, error: unknown): DedupError {
  if (error instanceof DedupError) return error;
  return new DedupError("STORE_UNAVAILABLE", `peer ${peer}: ${(error as Error).message}`, { peer }, { cause: error });
}
