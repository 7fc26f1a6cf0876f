import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, formatRecord, logLines } from "../../src/observe/logger.js";

/** serve's logger: JSON lines by default, plain lines on a terminal, domain code's lines at their level. */

function collecting(): { lines: string[]; destination: { write(line: string): void } } {
  const lines: string[] = [];
  return { lines, destination: { write: (line) => void lines.push(line) } };
}

test("JSON lines with an ISO time, the level's name and the message; records under the level are dropped", () => {
  const { lines, destination } = collecting();
  const logger = createLogger({ level: "info", pretty: false, destination });
  logger.debug("not written");
  logger.info({ url: "http://127.0.0.1:5000" }, "registry listening on http://127.0.0.1:5000 (store ./data)");
  logger.warn("careful");
  assert.equal(lines.length, 2);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first.level, "info");
  assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.equal(first.msg, "registry listening on http://127.0.0.1:5000 (store ./data)");
  assert.equal(first.url, "http://127.0.0.1:5000");
  assert.equal(first.pid, process.pid);
  // What tests and scripts match in serve's stderr stays matchable in JSON.
  assert.match(lines[0]!, /registry listening on (https?:\/\/\S+) /);
  assert.equal((JSON.parse(lines[1]!) as { level: string }).level, "warn");
});

test("on a terminal: time, level and message, then the fields the message does not already say", () => {
  const record = JSON.stringify({ level: "warn", time: "2026-01-02T03:04:05.006Z", pid: 1, msg: "registry listening on http://h:1", url: "http://h:1", reqId: "r1", status: 404 });
  const local = new Date("2026-01-02T03:04:05.006Z");
  const clock = `${[local.getHours(), local.getMinutes(), local.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":")}.006`;
  assert.equal(formatRecord(record), `${clock} WARN  registry listening on http://h:1 reqId=r1 status=404\n`);
  const { lines, destination } = collecting();
  createLogger({ level: "info", pretty: true, destination }).error({ err: new Error("boom") }, "bug: it broke");
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} ERROR bug: it broke\nError: boom\n\s+at /);
});

test("domain code's lines: bug: is an error, a failure a warning, the rest information", () => {
  const { lines, destination } = collecting();
  const log = logLines(createLogger({ level: "trace", pretty: false, destination }));
  log("bug: unhandled promise rejection: x");
  log("mirror: fetching sha256:ab for x failed: ECONNRESET");
  log("redis: connection lost");
  log("gc: blobs: 3 doomed");
  assert.deepEqual(lines.map((line) => (JSON.parse(line) as { level: string }).level), ["error", "warn", "warn", "info"]);
  assert.equal((JSON.parse(lines[3]!) as { msg: string }).msg, "gc: blobs: 3 doomed");
});
