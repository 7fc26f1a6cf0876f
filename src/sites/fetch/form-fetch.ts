import { DedupError, isDedupError } from "../../errors.js";
import type { GzipForm } from "../../layers/gzip/form.js";
import type { Store } from "../../store/types.js";
import { PeerFetch } from "./peer-fetch.js";

export interface FormFetchContext {
  /** This site's own store. */
  store: Store;
  /** The fetch of a blob some peer holds (the one under way, or a new one): the content's. */
  fetch(digest: string): Promise<PeerFetch | FormFetch | undefined>;
  /** Stores the form once its content is here, after re-creating the layer from it and checking its digest; announces it. */
  adopt(form: GzipForm): Promise<void>;
  log(line: string): void;
}

/**
 * A gzip layer fetched from a peer that holds it as its content and form: the form came with the
 * answer, the content is a blob fetched as any other (only the chunks this site lacks, planned over
 * the peers that hold them, shared with a pull of the content itself), then the form is adopted:
 * the layer is re-created from the content here and checked against its digest before the form
 * is stored. The compressed bytes never travel, and this site stores the layer as the peer does.
 * A pull that asked meanwhile re-creates the layer from the content as it arrives.
 */
export class FormFetch {
  readonly form: GzipForm;
  /** The peer the form came from. */
  readonly peer: string;
  /** Settles when the form is stored here, or when the fetch failed. */
  readonly done: Promise<void>;
  readonly #ctx: FormFetchContext;
  #content: PeerFetch | undefined;

  constructor(ctx: FormFetchContext, form: GzipForm, peer: string) {
    this.#ctx = ctx;
    this.form = form;
    this.peer = peer;
    this.done = this.#run();
    // Whoever waits sees the failure too; a pull that started the fetch may be gone.
    this.done.catch((error: Error) => ctx.log(`fetching gzip layer ${form.digest} from peers failed: ${error.message}`));
  }

  /** Plain bytes of the content's distinct chunks this site lacked when its fetch began (0 if it held the content). */
  get missingBytes(): number {
    return this.#content?.missingBytes ?? 0;
  }

  /** Plain bytes of those chunks received and verified so far. */
  get receivedBytes(): number {
    return this.#content?.receivedBytes ?? 0;
  }

  /** Plain bytes of what the chunks make: the content. */
  get chunkedBytes(): number {
    return this.form.contentSize;
  }

  async #run(): Promise<void> {
    const { form } = this;
    if ((await this.#ctx.store.getRecipe(form.content)) === undefined) {
      const content = await this.#ctx.fetch(form.content);
      if (content === undefined) throw new DedupError("BLOB_UNKNOWN", `no reachable site holds ${form.content}, the content of gzip layer ${form.digest}`, { digest: form.digest, content: form.content });
      if (!(content instanceof PeerFetch)) throw new DedupError("STORE_INVALID", `the content ${form.content} of gzip layer ${form.digest} is itself held as a gzip form: not supported`, { digest: form.digest });
      if (content.recipe.size !== form.contentSize) {
        throw new DedupError("STORE_INVALID", `peer ${this.peer}'s form of ${form.digest} says its content ${form.content} is ${form.contentSize} bytes; its recipe says ${content.recipe.size}`, { digest: form.digest, peer: this.peer });
      }
      this.#content = content;
      await content.done;
    }
    try {
      await this.#ctx.adopt(form);
    } catch (error) {
      if (isDedupError(error, "STORE_UNAVAILABLE")) throw error;
      const detail = { digest: form.digest, content: form.content, peer: this.peer };
      // The layer re-created from its content, verified chunk by chunk, has another digest: the form is wrong.
      if (isDedupError(error, "CHUNK_CORRUPT") && error.detail.digest === form.digest && typeof error.detail.actual === "string") {
        throw new DedupError("CHUNK_CORRUPT", `peer ${this.peer}'s form of gzip layer ${form.digest} does not write it: re-created from its content ${form.content}, it has digest ${error.detail.actual}`, { ...detail, actual: error.detail.actual });
      }
      throw new DedupError(isDedupError(error) ? error.code : "STORE_INVALID", `peer ${this.peer}'s form of gzip layer ${form.digest} (content ${form.content}) was not stored: ${(error as Error).message}`, detail, { cause: error });
    }
  }
}
