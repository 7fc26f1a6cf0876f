import type { LinkEstimates } from "./link-estimates.js";
import type { PeerClient } from "../wire/peer-client.js";

/**
 * A link's bytes in flight are kept to what it carries in the time the peer takes to start
 * answering (measured) plus this many seconds of its estimated rate: the first part keeps the
 * link busy however slowly a busy peer answers; the second is the queue on the link itself, kept
 * small because chunks asked for cannot be moved (a chunk planned onto a link that turns out
 * slow can still be stolen before it is asked for), and because a queue much longer than TCP's
 * least retransmission timeout (0.2 s) makes the connections joining it retransmit for nothing.
 */
const WINDOW_SECONDS = 0.1;
/** Weight of a request's time to first byte in the lane's answer time. */
const ANSWER_TIME_SMOOTHING = 0.3;
/** ...but never under this, so that a link whose estimate fell too low can show it is faster. */
const MIN_WINDOW_BYTES = 128 * 1024;
/** Requests in flight per peer (each on its own connection), and their sizes in bytes. */
const MAX_REQUESTS = 4;
const MIN_REQUEST_BYTES = 64 * 1024;
const MAX_REQUEST_BYTES = 1024 * 1024;
/**
 * A link's rate is measured over at least this much time with requests to the peer in flight,
 * from every fetch together: requests in flight at once share the link and end close together,
 * so one response's bytes over the time since the previous one measure nothing.
 */
const MEASURE_WINDOW_MS = 1000;
/** ...or over a shorter busy time once every request to the peer has ended (the end of a short transfer). */
const MEASURE_IDLE_MIN_MS = 200;

/** One request a transfer puts on a lane: its estimated wire bytes, and the work of sending it and taking the reply in. */
export interface LaneRequest {
  bytes: number;
  send(): Promise<void>;
}

/** A transfer using lanes (peer-fetch.ts): each lane asks it for requests when the link has room. */
export interface LaneUser {
  /**
   * The next request for this lane's peer, of about `maxBytes` (at least one chunk), its chunks
   * now counted as in flight; undefined if the transfer has nothing (left) for this peer.
   */
  nextRequest(lane: PeerLane, maxBytes: number): LaneRequest | undefined;
}

/**
 * The link to one peer, shared by every transfer of this site: it keeps the bytes in flight on
 * the link to a window sized from the link's estimated rate, and hands the room out to the
 * transfers that use it in turn. Sized windows rather than a fixed number of requests matter
 * because chunks asked for cannot be moved: a slow link with a deep queue of requests holds the
 * end of a transfer back, while a shallow one lets the faster links take its remaining chunks.
 */
export class PeerLane {
  readonly peer: PeerClient;
  readonly meter = new LinkMeter();
  readonly #links: LinkEstimates;
  readonly #users: LaneUser[] = [];
  #bytesInFlight = 0;
  #requestsInFlight = 0;
  #requestsSent = 0;
  #turn = 0;
  /** Seconds from asking the peer for chunks to the first of them arriving, smoothed. */
  #answerSeconds = 0;

  constructor(peer: PeerClient, links: LinkEstimates) {
    this.peer = peer;
    this.#links = links;
  }

  /** Estimated wire bytes asked of the peer and not yet received, over every transfer. */
  get bytesInFlight(): number {
    return this.#bytesInFlight;
  }

  /** Requests put on the link since the lane was made: the same before and after a probe (link-probe.ts) if no transfer shared the link meanwhile. */
  get requestsSent(): number {
    return this.#requestsSent;
  }

  /** The link's estimated rate, bytes per second. */
  get rate(): number {
    return this.#links.get(this.peer.name);
  }

  /** Notes how long a request waited for its first byte (the peer reading its chunks, and the link's queue). */
  answered(seconds: number): void {
    this.#answerSeconds = (1 - ANSWER_TIME_SMOOTHING) * this.#answerSeconds + ANSWER_TIME_SMOOTHING * seconds;
  }

  join(user: LaneUser): void {
    if (!this.#users.includes(user)) this.#users.push(user);
    this.pump();
  }

  leave(user: LaneUser): void {
    const at = this.#users.indexOf(user);
    if (at !== -1) this.#users.splice(at, 1);
  }

  /** Fills the window with requests from the transfers, in turn. Call it whenever one has new work. */
  pump(): void {
    const window = Math.max(MIN_WINDOW_BYTES, this.rate * (this.#answerSeconds + WINDOW_SECONDS));
    const requestBytes = Math.min(MAX_REQUEST_BYTES, Math.max(MIN_REQUEST_BYTES, window / 2));
    while (this.#requestsInFlight < MAX_REQUESTS && this.#bytesInFlight < window) {
      const request = this.#nextRequest(Math.min(requestBytes, Math.max(MIN_REQUEST_BYTES, window - this.#bytesInFlight)));
      if (request === undefined) return;
      this.#bytesInFlight += request.bytes;
      this.#requestsInFlight++;
      this.#requestsSent++;
      void request.send().finally(() => {
        this.#bytesInFlight -= request.bytes;
        this.#requestsInFlight--;
        this.pump();
      });
    }
  }

  #nextRequest(maxBytes: number): LaneRequest | undefined {
    const users = this.#users;
    for (let tried = 0; tried < users.length; tried++) {
      const user = users[(this.#turn + tried) % users.length]!;
      const request = user.nextRequest(this, maxBytes);
      if (request !== undefined) {
        this.#turn = (this.#turn + tried + 1) % users.length;
        return request;
      }
    }
    return undefined;
  }
}

/**
 * What one peer's link delivered: chunk bytes as they arrive, and the time with at least one
 * request to the peer in flight, handed out (`take`) once that time reaches MEASURE_WINDOW_MS (or
 * MEASURE_IDLE_MIN_MS once nothing is in flight).
 */
export class LinkMeter {
  /** Chunk bytes (as stored, as they travel) received from the peer since this site started: metrics read it. */
  fetchedBytes = 0;
  #inFlight = 0;
  #busySince = 0;
  #busyMs = 0;
  #bytes = 0;

  start(now: number): void {
    if (this.#inFlight++ === 0) this.#busySince = now;
  }

  arrived(bytes: number): void {
    this.fetchedBytes += bytes;
    this.#bytes += bytes;
  }

  end(now: number): void {
    if (--this.#inFlight === 0) this.#busyMs += now - this.#busySince;
  }

  take(): { bytes: number; seconds: number } | undefined {
    const now = Date.now();
    const busyMs = this.#busyMs + (this.#inFlight > 0 ? now - this.#busySince : 0);
    if (busyMs < (this.#inFlight > 0 ? MEASURE_WINDOW_MS : MEASURE_IDLE_MIN_MS) || this.#bytes === 0) return undefined;
    const measured = { bytes: this.#bytes, seconds: busyMs / 1000 };
    this.#bytes = 0;
    this.#busyMs = 0;
    this.#busySince = now;
    return measured;
  }
}
