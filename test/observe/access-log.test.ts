import assert from "node:assert/strict";
import { test } from "node:test";
import { structuredAccessLog } from "../../src/observe/access-log.js";
import { createLogger } from "../../src/observe/logger.js";
import { readable } from "../e2e/scenario.js";
import { sha256 } from "../registry/harness.js";
import { startObservedRegistry } from "./observed-registry.js";

/**
 * `--access-log` through serve's logger: one structured record per request (reqId, method, path,
 * status, bytes, duration, client, user), which the e2e scenarios read back as text lines.
 */

test("a structured access log through a pino-like logger: one record per request with its fields", async (t) => {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  const r = await startObservedRegistry(t, { settings: { accessLog: { info: (fields, message) => lines.push({ fields, message }) } } });
  const res = await fetch(`${r.url}/v2/nothing/here/blobs/${sha256("absent")}`);
  assert.equal(res.status, 404);
  const body = await res.text();
  await r.recorded(1);
  assert.equal(lines.length, 1);
  const { fields, message } = lines[0]!;
  assert.equal(message, "request");
  assert.equal(typeof fields.durationMs, "number");
  assert.deepEqual(
    { ...fields, durationMs: 0 },
    {
      reqId: res.headers.get("x-request-id"),
      method: "GET",
      path: `/v2/nothing/here/blobs/${sha256("absent")}`,
      route: "blob",
      status: 404,
      bytesIn: 0,
      bytesOut: Buffer.byteLength(body),
      durationMs: 0,
      client: "127.0.0.1",
    },
  );
});

test("serve's JSON access records read back as the registry's text lines, as the e2e scenarios match them", async (t) => {
  let written = "";
  const logger = createLogger({ level: "info", pretty: false, destination: { write: (line: string) => void (written += line) } });
  const r = await startObservedRegistry(t, { settings: { accessLog: logger } });
  const res = await fetch(`${r.url}/v2/`, { method: "HEAD" });
  assert.equal(res.status, 200);
  await r.recorded(1);
  const record = JSON.parse(written.trim()) as Record<string, unknown>;
  assert.equal(record.level, "info");
  assert.equal(record.msg, "request");
  assert.equal(record.reqId, res.headers.get("x-request-id"));
  assert.match(readable(written), new RegExp(`^req=${res.headers.get("x-request-id")} client=127\\.0\\.0\\.1 in=0 out=0 HEAD /v2/ 200 \\d+ms$`, "m"));
});

test("on a terminal, an access record reads as its request line", () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", pretty: true, destination: { write: (line: string) => void lines.push(line) } });
  const record = { id: "r1", method: "GET", route: "blob", target: "/v2/a/blobs/x", status: 200, bytesIn: 0, bytesOut: 5, seconds: 0.0123, client: "127.0.0.1", user: "carol", complete: false };
  structuredAccessLog(logger)(record);
  structuredAccessLog(logger)({ ...record, user: undefined, complete: true, method: "HEAD", bytesOut: 0 });
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} INFO  req=r1 client=127\.0\.0\.1 in=0 out=5 cut \[carol\] GET \/v2\/a\/blobs\/x 200 12ms\n$/);
  assert.match(lines[1]!, / INFO  req=r1 client=127\.0\.0\.1 in=0 out=0 HEAD \/v2\/a\/blobs\/x 200 12ms\n$/);
});
