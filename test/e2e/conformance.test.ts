import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { REPO_ROOT } from "../helpers.js";

/**
 * The OCI distribution-spec conformance suite v1.1.1, all four workflows, against
 * `docker-dedup serve` (see scripts/conformance/run.sh). The first run builds the suite with Go
 * from the Go module proxy (about 3 minutes); later runs reuse the cached binary.
 */
test("OCI distribution-spec conformance v1.1.1: pull, push, content discovery, content management", { timeout: 15 * 60_000 }, async () => {
  const script = join(REPO_ROOT, "scripts/conformance/run.sh");
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn("bash", [script], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("error", reject);
    child.on("close", (exitCode) => resolve({ code: exitCode, output }));
  });
  assert.equal(code, 0, `conformance run failed:\n${output.slice(-6000)}`);
  assert.match(output, /PASSED \(both teardown orders\)/);
  assert.match(output, /0 Failed/);
});
