import { describeEncoder } from "../../deflate/encoders.js";
import { isDedupError } from "../../errors.js";
import type { Store } from "../../store/types.js";
import type { EncodePool } from "./encode-pool.js";
import { encodeGzipForm, gzipFormKey, type GzipForm } from "./form.js";
import { inflateGzip, type GzipLayout } from "./inflate.js";
import { proveMember, type ReadRange } from "./prove.js";

/**
 * Turns gzip blobs stored as their compressed bytes into their uncompressed content (a blob of
 * its own, which dedups) plus a form that writes the original bytes again, after the push was
 * acknowledged, one blob at a time, in the background:
 *
 *   1. the blob is inflated and its content stored (chunked, committed, synced);
 *   2. each member is re-encoded from that content by the encoders its header suggests, until
 *      one writes the member's deflate stream exactly, every byte compared (prove.ts);
 *   3. the form is committed and synced: from now on reads re-create the blob from it; the
 *      compressed bytes go into the cache of re-created layers, if there is one;
 *   4. the compressed bytes' recipe is deleted (garbage collection frees their chunks);
 *   5. the blob's pending mark goes.
 * A crash at any step leaves the blob readable: through its recipe until step 4, through its form
 * after; a pending mark left behind makes the next start do it again. A blob no encoder of the
 * library writes stays as it is, and the reason is kept (`layers/gzip-kept/<digest>`).
 */

/** Metadata: a blob waiting for conversion, and a blob kept as its compressed bytes, with why. */
export const GZIP_PENDING_PREFIX = "layers/gzip-pending/";
export const GZIP_KEPT_PREFIX = "layers/gzip-kept/";

/** What the converter needs of the blob service it works for. */
export interface ConverterHost {
  store: Store;
  pool: EncodePool;
  /** The bytes [start, end) of a blob stored as chunks (a recipe), verified. */
  readRecipeRange(digest: string, start: number, end: number): AsyncIterable<Uint8Array>;
  /** The size of a blob stored as chunks, if it is. */
  recipeSize(digest: string): Promise<number | undefined>;
  /**
   * Keeps a converted blob's bytes, read from its recipe (still there), in the cache of
   * re-created layers where there is one, so that its first pull does not re-create it.
   */
  keepConverted(digest: string, size: number): Promise<void>;
  /** Stores a blob; its digest. */
  ingest(source: AsyncIterable<Uint8Array>): Promise<{ digest: string; size: number }>;
  log(line: string): void;
}

export type Conversion = { kind: "converted"; form: GzipForm } | { kind: "kept"; reason: string } | { kind: "gone" };

export class GzipConverter {
  readonly #host: ConverterHost;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  #running: Promise<void> | undefined;
  #stopped = false;
  readonly #idle: (() => void)[] = [];

  constructor(host: ConverterHost) {
    this.#host = host;
  }

  /** Marks a stored gzip blob for conversion (the mark survives a crash) and queues it. */
  async mark(digest: string): Promise<void> {
    await this.#host.store.putMeta(GZIP_PENDING_PREFIX + digest, Buffer.alloc(0));
    this.#enqueue(digest);
  }

  /** Queues every blob marked and not converted yet (after a restart). */
  async resume(): Promise<number> {
    let count = 0;
    for await (const [key] of this.#host.store.scanMeta(GZIP_PENDING_PREFIX)) {
      this.#enqueue(key.slice(GZIP_PENDING_PREFIX.length));
      count++;
    }
    return count;
  }

  /** Resolves once the queue is empty. */
  async settled(): Promise<void> {
    if (this.#running === undefined) return;
    await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** Stops after the conversion under way (its blob, if unfinished, keeps its mark for the next start). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  /** Converts one blob now (not queued); what became of it. */
  async convert(digest: string): Promise<Conversion> {
    const { store, pool } = this.#host;
    const size = await this.#host.recipeSize(digest);
    if (size === undefined) {
      await store.deleteMeta(GZIP_PENDING_PREFIX + digest);
      return { kind: "gone" };
    }
    const compressed: ReadRange = (start, end) => this.#host.readRecipeRange(digest, start, end);
    const layout: GzipLayout = { members: [], trailing: Buffer.alloc(0) };
    let kept: string | undefined;
    let form: GzipForm | undefined;
    try {
      const content = await this.#host.ingest(inflateGzip((start) => compressed(start, size), size, layout));
      const contentRange: ReadRange = (start, end) => this.#host.readRecipeRange(content.digest, start, end);
      const members: GzipForm["members"] = [];
      for (const [i, member] of layout.members.entries()) {
        const proof = await proveMember(pool, member, contentRange, compressed);
        if (proof === undefined) {
          kept = `member ${i + 1} of ${layout.members.length} (${member.contentLength} bytes): no encoder of the library writes it`;
          break;
        }
        members.push({
          header: Buffer.from(member.header.bytes),
          encoder: proof.encoder,
          contentStart: member.contentStart,
          contentLength: member.contentLength,
          deflateLength: member.deflateLength,
          trailer: member.trailer,
          ...(proof.checkpoints === undefined ? {} : { checkpoints: proof.checkpoints }),
        });
      }
      if (kept === undefined) form = { digest, size, content: content.digest, contentSize: content.size, members, trailing: layout.trailing };
    } catch (error) {
      if (!isDedupError(error, "INPUT_INVALID")) throw error;
      kept = `not re-creatable gzip: ${error.message}`;
    }
    if (form === undefined) {
      await store.putMeta(GZIP_KEPT_PREFIX + digest, Buffer.from(kept!));
      await store.deleteMeta(GZIP_PENDING_PREFIX + digest);
      await store.sync();
      return { kind: "kept", reason: kept! };
    }
    await store.putMeta(gzipFormKey(digest), encodeGzipForm(form));
    await store.sync();
    // The bytes the client sent are the bytes a pull of the form sends (just proven): they are
    // the cheapest re-creation there is. A failure only costs the first pull a re-creation.
    await this.#host.keepConverted(digest, size).catch((error: Error) => this.#host.log(`gzip ${digest}: not kept in the cache of re-created layers: ${error.message}`));
    await store.deleteRecipe(digest);
    await store.deleteMeta(GZIP_PENDING_PREFIX + digest);
    await store.deleteMeta(GZIP_KEPT_PREFIX + digest);
    await store.sync();
    return { kind: "converted", form };
  }

  #enqueue(digest: string): void {
    if (this.#stopped || this.#queued.has(digest)) return;
    this.#queued.add(digest);
    this.#queue.push(digest);
    this.#running ??= this.#drain().finally(() => {
      this.#running = undefined;
      for (const resolve of this.#idle.splice(0)) resolve();
    });
  }

  async #drain(): Promise<void> {
    for (let digest = this.#queue.shift(); digest !== undefined && !this.#stopped; digest = this.#queue.shift()) {
      try {
        const outcome = await this.convert(digest);
        if (outcome.kind === "converted") {
          const encoders = [...new Set(outcome.form.members.map((m) => describeEncoder(m.encoder)))].join("; ");
          this.#host.log(`gzip ${digest}: stored as its content ${outcome.form.content} (${encoders})`);
        } else if (outcome.kind === "kept") {
          this.#host.log(`gzip ${digest}: kept as its compressed bytes: ${outcome.reason}`);
        }
      } catch (error) {
        // The mark stays: the next start tries again.
        this.#host.log(`gzip ${digest}: conversion failed, to be tried again at the next start: ${(error as Error).message}`);
      } finally {
        this.#queued.delete(digest);
      }
    }
  }
}
