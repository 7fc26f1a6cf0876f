import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { REPO_ROOT } from "../helpers.js";

/**
 * TypeScript access to scripts/sites/testbed.sh, for tests and benchmarks: run a command in a
 * fresh loopback-only network namespace with shaped links, and, from inside, change a link's
 * rate or read the bytes each link carried.
 */
export const TESTBED_SCRIPT = join(REPO_ROOT, "scripts/sites/testbed.sh");

const execFileAsync = promisify(execFile);

export interface LinkCounter {
  /** "127.0.0.2>127.0.0.1", or "default" for all traffic on links that are not shaped. */
  readonly link: string;
  /** The configured rate in bit/s; null for "default". */
  readonly bitsPerSecond: number | null;
  readonly bytes: number;
  readonly packets: number;
}

export interface TestbedRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `command` inside the testbed with these links ("SRC>DST=RATE"); resolves when it exits. */
export function runInTestbed(links: readonly string[], command: readonly string[]): Promise<TestbedRun> {
  const args = ["run", ...links.flatMap((link) => ["--link", link]), "--", ...command];
  return new Promise((resolve, reject) => {
    // A `node --test` started inside must report as a test run of its own, not to the runner running this one.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawn(TESTBED_SCRIPT, args, { stdio: ["ignore", "pipe", "pipe"], env });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (data: Buffer) => stdout.push(data));
    child.stderr.on("data", (data: Buffer) => stderr.push(data));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }));
  });
}

/** Why the testbed cannot run on this machine (no tc or unshare, namespaces refused), or null if it can. */
export async function testbedUnavailable(): Promise<string | null> {
  try {
    const { code, stderr } = await runInTestbed(["127.0.0.2>127.0.0.1=1mbit"], ["true"]);
    return code === 0 ? null : `testbed.sh run failed (${code}): ${stderr.trim()}`;
  } catch (error) {
    return `testbed.sh could not start: ${(error as Error).message}`;
  }
}

/** From inside the testbed: sets links' rates ("SRC>DST=RATE"), also mid-transfer. */
export async function setLinks(...specs: string[]): Promise<void> {
  await execFileAsync(TESTBED_SCRIPT, ["link", ...specs]);
}

/** From inside the testbed: what each link carried so far. */
export async function linkCounters(): Promise<LinkCounter[]> {
  const { stdout } = await execFileAsync(TESTBED_SCRIPT, ["counters"]);
  return stdout
    .trim()
    .split("\n")
    .map((line) => {
      const [link, rate, bytes, packets] = line.split(" ");
      return { link: link!, bitsPerSecond: rate === "-" ? null : Number(rate), bytes: Number(bytes), packets: Number(packets) };
    });
}

/** True in a test file that testInTestbed runs inside the testbed. */
export const insideTestbed = process.env.DOCKER_DEDUP_TESTBED === "1";

/**
 * For a test file whose tests must run in the testbed: outside it, one test that runs the whole
 * file (`fileUrl`, its import.meta.url) inside the testbed with these links and passes when every
 * test inside does, printing their report; skipped where the testbed cannot run.
 */
export async function testInTestbed(name: string, fileUrl: string, links: readonly string[], timeoutMs: number): Promise<void> {
  const unavailable = await testbedUnavailable();
  test(name, { skip: unavailable ?? false, timeout: timeoutMs }, async () => {
    const result = await runInTestbed(links, [process.execPath, "--test", "--test-reporter=spec", fileURLToPath(fileUrl)]);
    console.log(result.stdout);
    assert.equal(result.code, 0, `tests inside the testbed failed:\n${result.stdout}\n${result.stderr}`);
  });
}
