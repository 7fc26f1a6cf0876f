import { Counter, Histogram, type Registry } from "prom-client";
import type { RequestRecord } from "../registry/request-record.js";
import { PREFIX } from "./prometheus.js";

/**
 * Latency buckets, in seconds: a manifest or a HEAD takes milliseconds, a layer push or pull
 * seconds to minutes, so the buckets span 1 ms to 5 min.
 */
const SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The registry's requests, from the records app.ts hands out as each response ends: counted by
 * endpoint (the route's kind, never its path: repository names would make a series each), method
 * and status; timed; and their body bytes in and out.
 */
export class HttpMetrics {
  readonly #requests: Counter<"route" | "method" | "status">;
  readonly #seconds: Histogram<"route" | "method">;
  readonly #bytesIn: Counter<"route" | "method">;
  readonly #bytesOut: Counter<"route" | "method">;
  /** Requests that may have changed what the store holds (anything but GET and HEAD): the store's totals are sampled again after them. */
  writes = 0;

  constructor(register: Registry) {
    const registers = [register];
    this.#requests = new Counter({ name: `${PREFIX}http_requests_total`, help: "Requests answered (or cut), by endpoint, method and status", labelNames: ["route", "method", "status"], registers });
    this.#seconds = new Histogram({ name: `${PREFIX}http_request_duration_seconds`, help: "Time from a request's arrival to the end of its response, by endpoint and method", labelNames: ["route", "method"], buckets: SECONDS_BUCKETS, registers });
    this.#bytesIn = new Counter({ name: `${PREFIX}http_request_body_bytes_total`, help: "Body bytes received from clients (bytes in), by endpoint and method", labelNames: ["route", "method"], registers });
    this.#bytesOut = new Counter({ name: `${PREFIX}http_response_body_bytes_total`, help: "Body bytes sent to clients (bytes out), by endpoint and method", labelNames: ["route", "method"], registers });
  }

  observe(record: RequestRecord): void {
    // Methods outside the API's few would each make a series: a client could grow them at will.
    const method = KNOWN_METHODS.has(record.method) ? record.method : "other";
    const labels = { route: record.route, method };
    this.#requests.inc({ ...labels, status: String(record.status) });
    this.#seconds.observe(labels, record.seconds);
    if (record.bytesIn > 0) this.#bytesIn.inc(labels, record.bytesIn);
    if (record.bytesOut > 0) this.#bytesOut.inc(labels, record.bytesOut);
    if (method !== "GET" && method !== "HEAD") this.writes++;
  }
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
