import type { RequestRecord } from "../registry/request-record.js";

/**
 * The part of a logger the access log needs: pino's `logger.info(fields, message)`, so a pino
 * logger (observe/logger.ts builds serve's) is passed in as it is, at the edge. Nothing here
 * depends on pino itself.
 */
export interface FieldLogger {
  info(fields: Record<string, unknown>, message: string): void;
}

/** The message of every access record: how the terminal form and log readers tell them from other records. */
export const ACCESS_MESSAGE = "request";

/**
 * `--access-log` as structured records, one per request once its response is done or cut: JSON
 * lines with a logger that writes JSON, or whatever else its output is. `reqId` is the id the
 * response carried in X-Request-Id; `cut` marks a response that did not reach its end.
 */
export function structuredAccessLog(logger: FieldLogger): (record: RequestRecord) => void {
  return (r) =>
    logger.info(
      {
        reqId: r.id,
        method: r.method,
        path: r.target,
        route: r.route,
        status: r.status,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        durationMs: Math.round(r.seconds * 10_000) / 10,
        client: r.client,
        ...(r.user === undefined ? {} : { user: r.user }),
        ...(r.complete ? {} : { cut: true }),
      },
      ACCESS_MESSAGE,
    );
}

/**
 * An access record's fields (as structuredAccessLog wrote them, read back from JSON) as one line
 * for a person: `req=ID client=ADDR in=BYTES out=BYTES [cut] [user] METHOD PATH STATUS Nms`. The
 * terminal form of serve's log (logger.ts) and the e2e scenarios' checks read records this way.
 */
export function accessLine(fields: Record<string, unknown>): string {
  const user = typeof fields.user === "string" ? `[${fields.user}] ` : "";
  const cut = fields.cut === true ? " cut" : "";
  const request = `${String(fields.method)} ${String(fields.path)} ${String(fields.status)} ${Math.round(Number(fields.durationMs))}ms`;
  return `req=${String(fields.reqId)} client=${String(fields.client)} in=${String(fields.bytesIn)} out=${String(fields.bytesOut)}${cut} ${user}${request}`;
}
