import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { answerWithin } from "../deadline.js";
import type { MetadataStore } from "../store/types.js";

export interface ReadinessOptions {
  /** The store, which each check writes a small record to, reads back and deletes. */
  store: MetadataStore;
  /** What else must hold (a site's peers): a reason not to be ready, or undefined. */
  also?: () => string | undefined;
  /** One line when serve turns unready (with the store's own error), and one when it is ready again. */
  log?: (line: string) => void;
  /** A store that has not answered by then is taken for down (default 800 ms: the answer still comes within Kubernetes' default probe timeout of 1 s). */
  deadlineMs?: number;
}

/**
 * The answer, for anyone who asks (probes carry no credentials): `reason` says what is wrong in
 * general terms; the store's own error, which may name hosts and addresses, only goes to the log.
 */
export type ReadinessAnswer = { ready: true } | { ready: false; reason: string };

/** Where each process writes its probe record: its own key, so that frontends on one store never race. */
const PROBE_PREFIX = "observe/readyz/";

/**
 * Whether serve can do its work now, as /readyz tells Kubernetes (and load balancers): the store
 * answers and takes writes (a record written, read back and deleted within the deadline: a
 * reachable but read-only or full store is not ready), and for a site, what `also` says.
 * Probes that come while a check runs share its answer, so a burst of them costs one check.
 */
export class Readiness {
  readonly #store: MetadataStore;
  readonly #also: () => string | undefined;
  readonly #deadlineMs: number;
  readonly #log: (line: string) => void;
  /** What the last check found wrong, in full; undefined when it found serve ready. */
  #lastProblem: string | undefined;
  readonly #key = `${PROBE_PREFIX}${hostname()}-${process.pid}`;
  #running: Promise<ReadinessAnswer> | undefined;
  /** A round trip the store has not finished (past its deadline): a hung store gets no pile of them. */
  #unanswered: object | undefined;

  constructor(options: ReadinessOptions) {
    this.#store = options.store;
    this.#also = options.also ?? (() => undefined);
    this.#deadlineMs = options.deadlineMs ?? 800;
    this.#log = options.log ?? (() => undefined);
  }

  check(): Promise<ReadinessAnswer> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<ReadinessAnswer> {
    const store = await this.#storeProblem();
    const other = store === undefined ? this.#also() : undefined;
    const problem = store === undefined ? other : `the store ${store.detail}`;
    if (problem !== this.#lastProblem) this.#log(problem === undefined ? "ready again" : `not ready: ${problem}`);
    this.#lastProblem = problem;
    if (store !== undefined) return { ready: false, reason: `the store ${store.reason}` };
    return other === undefined ? { ready: true } : { ready: false, reason: other };
  }

  /** What is wrong with the store (in general terms, and in detail), or undefined if a write, a read and a delete went through in time. */
  async #storeProblem(): Promise<{ reason: string; detail: string } | undefined> {
    if (this.#unanswered !== undefined) return both("has not answered an earlier check yet");
    const value = randomBytes(16);
    const trip = {};
    this.#unanswered = trip;
    const roundTrip = async (): Promise<string | undefined> => {
      try {
        await this.#store.putMeta(this.#key, value);
        const back = await this.#store.getMeta(this.#key);
        if (back === undefined || !back.equals(value)) return "did not read back a record just written";
        await this.#store.deleteMeta(this.#key);
        return undefined;
      } finally {
        if (this.#unanswered === trip) this.#unanswered = undefined;
      }
    };
    const work = roundTrip();
    work.catch(() => undefined); // a failure after the deadline answered is nobody's to hear
    try {
      const answer = await answerWithin(work.then((problem) => ({ problem })), this.#deadlineMs);
      if (answer === undefined) return both(`did not answer within ${this.#deadlineMs} ms`);
      return answer.problem === undefined ? undefined : both(answer.problem);
    } catch (error) {
      return { reason: "failed a write, read or delete", detail: `failed: ${(error as Error).message}` };
    }
  }
}

function both(text: string): { reason: string; detail: string } {
  return { reason: text, detail: text };
}
