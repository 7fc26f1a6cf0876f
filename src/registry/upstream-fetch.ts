import type { ServerResponse } from "node:http";
import type { BlobService } from "../layers/blob-service.js";
import type { RegistryMetadata } from "./metadata.js";
import { badUpstream, upstreamFailure, type MirrorTarget } from "./upstream.js";

/** Where a fetched blob goes: into the blobs, linked in the repository's records. */
export interface UpstreamFetchDeps {
  blobs: BlobService;
  meta: RegistryMetadata;
  log: (line: string) => void;
  /** The time now, in ms since the epoch: links record it, tag TTLs and upstream tokens run by it. */
  now: () => number;
}

/** How long a client may keep a teed blob waiting before it is disconnected. */
const STALL_MS = 60_000;

interface Client {
  res: ServerResponse;
}

/**
 * One upstream fetch of a blob, teed to the store and to attached clients. `done` settles when
 * the blob is committed and linked, or the fetch failed (nothing stored then).
 */
export class UpstreamFetch {
  readonly done: Promise<void>;
  readonly #deps: UpstreamFetchDeps;
  readonly #target: MirrorTarget;
  readonly #digest: string;
  readonly #signal: AbortSignal;
  readonly #clients = new Set<Client>();
  /** Settles once the upstream has answered: its Content-Length, or the failure. */
  readonly #answered: Promise<number | undefined>;
  #resolveAnswered!: (size: number | undefined) => void;
  #rejectAnswered!: (error: unknown) => void;
  #pumped = 0;

  constructor(deps: UpstreamFetchDeps, target: MirrorTarget, digest: string, signal: AbortSignal) {
    this.#deps = deps;
    this.#target = target;
    this.#digest = digest;
    this.#signal = signal;
    this.#answered = new Promise((resolve, reject) => {
      this.#resolveAnswered = resolve;
      this.#rejectAnswered = reject;
    });
    this.#answered.catch(() => undefined);
    this.done = this.#run();
    this.done.catch(() => undefined);
  }

  /**
   * Attaches the request that started the fetch, once the upstream has answered: true when it
   * was served by the tee (its response is finished or cut), false when it must wait for the
   * commit (the upstream sent no length). Throws the upstream's failure before any byte went out.
   */
  async attachFirst(res: ServerResponse): Promise<boolean> {
    const size = await this.#answered;
    if (size === undefined || this.#pumped > 0 || res.destroyed) return false;
    res.writeHead(200, {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(size),
      "Docker-Content-Digest": this.#digest,
      ETag: `"${this.#digest}"`,
      "Cache-Control": "max-age=31536000",
      "Accept-Ranges": "bytes",
    });
    const client: Client = { res };
    this.#clients.add(client);
    const finished = new Promise<void>((resolve) => res.once("close", resolve));
    // The client's fate is the fetch's: a failed fetch has cut its connection already.
    await Promise.race([finished, this.done.then(() => finished, () => undefined)]);
    return true;
  }

  async #run(): Promise<void> {
    const { blobs, meta } = this.#deps;
    const target = this.#target;
    let res: Response;
    try {
      res = await target.upstream.request("GET", target.upstreamName, `blobs/${this.#digest}`, {}, this.#signal);
      if (!res.ok) throw await upstreamFailure(res, target, "blob", this.#digest);
    } catch (error) {
      this.#rejectAnswered(error);
      throw error;
    }
    const lengthHeader = res.headers.get("content-length");
    const size = lengthHeader !== null && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
    this.#resolveAnswered(size);
    // Attachments happen on the answer's continuations; let them run before the first byte moves.
    await new Promise((resolve) => setImmediate(resolve));

    let held: Buffer | undefined;
    const source = async function* (this: UpstreamFetch): AsyncGenerator<Uint8Array> {
      for await (const part of res.body as AsyncIterable<Uint8Array>) {
        const piece = Buffer.from(part.buffer, part.byteOffset, part.byteLength);
        this.#pumped += piece.length;
        if (size !== undefined && this.#pumped > size) throw badUpstream(target, `blob ${this.#digest} is longer than its Content-Length ${size}`);
        if (held !== undefined) await this.#deliver(held);
        held = piece;
        yield piece;
      }
      if (size !== undefined && this.#pumped !== size) throw badUpstream(target, `blob ${this.#digest} ended after ${this.#pumped} of ${size} bytes`);
    }.call(this);
    try {
      let result;
      try {
        result = await blobs.ingest(source, { expectedDigest: this.#digest });
      } catch (error) {
        if ((error as { code?: string }).code === "DIGEST_MISMATCH") {
          throw badUpstream(target, `blob ${this.#digest} arrived with a different digest (${String((error as { detail?: { actual?: string } }).detail?.actual)}); not stored`);
        }
        throw error;
      }
      await meta.linkBlob(target.localName, this.#digest, { size: result.size, linked: this.#deps.now() });
      if (held !== undefined) await this.#deliver(held);
      for (const client of this.#clients) client.res.end();
    } catch (error) {
      await res.body?.cancel().catch(() => undefined);
      for (const client of this.#clients) client.res.destroy();
      throw error;
    } finally {
      this.#clients.clear();
    }
  }

  /** Writes a piece to every attached client, waiting for slow ones, dropping stalled or gone ones. */
  async #deliver(piece: Buffer): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const client of this.#clients) {
      const { res } = client;
      if (res.destroyed || res.writableEnded) {
        this.#clients.delete(client);
        continue;
      }
      if (!res.write(piece)) waits.push(this.#drained(client));
    }
    if (waits.length > 0) await Promise.all(waits);
  }

  #drained(client: Client): Promise<void> {
    const { res } = client;
    return new Promise<void>((resolve) => {
      const settle = () => {
        clearTimeout(timer);
        res.off("drain", settle);
        res.off("close", settle);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#deps.log(`mirror: a client stalled for ${STALL_MS / 1000} s on ${this.#digest}; disconnecting it, the fetch goes on`);
        this.#clients.delete(client);
        res.destroy();
        settle();
      }, STALL_MS);
      res.once("drain", settle);
      res.once("close", settle);
    });
  }
}
