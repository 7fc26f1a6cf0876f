import { pino, stdTimeFunctions, type DestinationStream, type Level, type Logger } from "pino";
import { ACCESS_MESSAGE, accessLine } from "./access-log.js";

/**
 * serve's logger: pino, one JSON object a line on stderr (`time` as ISO 8601, `level` as its
 * name, `msg`), for journald, `docker logs` and log shippers; on a terminal the same records as
 * plain lines (`12:00:01.234 INFO  msg key=value`, an access record as its request line). The terminal form is the few lines below
 * rather than pino-pretty, which would bring 13 more packages and a worker thread for it.
 *
 * Domain code never sees this: it takes a `log: (line: string) => void` callback, and
 * `logLines` below adapts the logger to it at the edge (cli/serve.ts).
 */

export type { Logger };

export interface LoggerOptions {
  level: Level;
  /** Plain lines for a person (default: when stderr is a terminal); else JSON lines. */
  pretty?: boolean;
  /** Where the lines go (default: stderr, written synchronously so none is lost at exit). */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const stderr = options.destination ?? pino.destination({ fd: 2, sync: true });
  const pretty = options.pretty ?? process.stderr.isTTY === true;
  const destination = pretty ? { write: (record: string) => stderr.write(formatRecord(record)) } : stderr;
  return pino(
    {
      level: options.level,
      timestamp: stdTimeFunctions.isoTime,
      // Level names, not pino's numbers: a reader of the JSON should not need the table.
      formatters: { level: (label) => ({ level: label }) },
      base: { pid: process.pid },
    },
    destination,
  );
}

/** The fields every record has, which the plain form shows in its own places or not at all. */
const SHOWN_APART = new Set(["time", "level", "msg", "pid"]);

/** One JSON record as a plain line: local time, level, message, then any other fields as key=value; an access record as its request line (access-log.ts). */
export function formatRecord(record: string): string {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(record) as Record<string, unknown>;
  } catch {
    return record;
  }
  const time = typeof fields.time === "string" ? new Date(fields.time) : new Date();
  const clock = [time.getHours(), time.getMinutes(), time.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":") + `.${String(time.getMilliseconds()).padStart(3, "0")}`;
  const msg = String(fields.msg ?? "");
  const level = String(fields.level).toUpperCase().padEnd(5);
  if (msg === ACCESS_MESSAGE && fields.reqId !== undefined) return `${clock} ${level} ${accessLine(fields)}\n`;
  // A field the message already says (`registry listening on URL` and its `url`) is not said twice.
  const extra = Object.entries(fields)
    .map(([key, value]) => [key, typeof value === "string" ? value : JSON.stringify(value)] as const)
    .filter(([key, value]) => !SHOWN_APART.has(key) && key !== "err" && !msg.includes(value))
    .map(([key, value]) => ` ${key}=${value}`)
    .join("");
  const err = fields.err as { stack?: string } | undefined;
  const stack = typeof err?.stack === "string" ? `\n${err.stack}` : "";
  return `${clock} ${level} ${msg}${extra}${stack}\n`;
}

/**
 * The wording of the lines domain code logs when something went wrong but serving goes on
 * (`... failed: ...`, `cannot ...`, `connection lost`, chunks that `do not match`): those are
 * warnings. `bug: ...` lines are errors. Everything else is information.
 */
const WARNING = /\b(failed|cannot|lost|corrupt|damaged|stalled|unrevalidated|refused)\b|do not match/;

/** The `log(line)` callback domain code takes, writing to the logger at the level the line's words call for. */
export function logLines(logger: Logger): (line: string) => void {
  return (line) => {
    if (line.startsWith("bug:")) logger.error(line);
    else if (WARNING.test(line)) logger.warn(line);
    else logger.info(line);
  };
}
