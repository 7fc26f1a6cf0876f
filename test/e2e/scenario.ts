import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { ACCESS_MESSAGE, accessLine } from "../../src/observe/access-log.js";

/**
 * Running a real-client scenario script (test/e2e/clients/scenario.sh, test/e2e/gzip-corpus/scenario.sh)
 * as root inside new network, PID and mount namespaces holding only `lo`, and reading what its steps
 * left behind (test/e2e/clients/lib.sh writes WORK/results.tsv and WORK/out/ID.{out,err}).
 */

export interface StepResult {
  code: number;
  ms: number;
  stdout: string;
  stderr: string;
  /** docker-dedup's log lines written while the step ran, its access log's among them (see `readable`). */
  requests: string;
  /** The same from a second docker-dedup (WORK/mirror.log), if the scenario runs one. */
  mirrorRequests: string;
}

export const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
export const tail = (text: string, lines = 25) => text.trimEnd().split("\n").slice(-lines).join("\n");

/** The tools of `tools` found on no directory of PATH. */
export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((tool) => !(process.env.PATH ?? "").split(":").some((dir) => existsSync(join(dir, tool))));
}

/** Runs `script` in fresh net+pid+mount namespaces; stops it (and so everything it started) if the test ends first. */
export async function runScenario(
  script: string,
  env: Record<string, string>,
  timeoutMs: number,
  onStart: (stop: () => Promise<void>) => void,
): Promise<{ code: number | null; stderr: string }> {
  // setpriv --pdeathsig: if this node process dies, unshare gets SIGKILL; --kill-child then sends
  // SIGTERM to the script (its trap stops the daemons), and when the script, PID 1 of the new PID
  // namespace, exits, the kernel kills whatever is left in it.
  const args = ["--pdeathsig", "SIGKILL", "unshare", "--net", "--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM", "bash", script];
  const child = spawn("setpriv", args, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stdout.on("data", (d) => (stderr += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // unshare ignores SIGTERM while it waits; SIGKILL makes --kill-child send SIGTERM to the
    // script, whose trap stops the daemons. `close` comes once the script's stdio is closed.
    child.kill("SIGKILL");
    await exited;
  };
  onStart(stop);
  const timer = setTimeout(() => void stop(), timeoutMs);
  const code = await exited;
  clearTimeout(timer);
  return { code, stderr };
}

/** The steps a scenario ran (WORK/results.tsv), with their outputs and the registry requests each made. */
export async function readSteps(work: string): Promise<{ results: Map<string, StepResult>; serveLog: string; mirrorLog: string }> {
  const serveLogBytes = await readFile(join(work, "serve.log")).catch(() => Buffer.alloc(0));
  const mirrorLogBytes = await readFile(join(work, "mirror.log")).catch(() => Buffer.alloc(0));
  const results = new Map<string, StepResult>();
  const tsv = existsSync(join(work, "results.tsv")) ? await readFile(join(work, "results.tsv"), "utf8") : "";
  const lines = tsv.split("\n").filter(Boolean).map((line) => line.split("\t") as [string, string, string, string, string]);
  for (const [i, [id, code, ms, logAt, mirrorLogAt]] of lines.entries()) {
    const read = async (ext: string) => readFile(join(work, "out", `${id}.${ext}`), "utf8").catch(() => "");
    // The registry's access log from this step's start to the next step's: the requests it made.
    const slice = (log: Buffer, column: 3 | 4, at: string) => readable(log.subarray(Number(at), lines[i + 1] ? Number(lines[i + 1]![column]) : undefined).toString("utf8"));
    const requests = slice(serveLogBytes, 3, logAt);
    const mirrorRequests = slice(mirrorLogBytes, 4, mirrorLogAt);
    results.set(id, { code: Number(code), ms: Number(ms), stdout: await read("out"), stderr: await read("err"), requests, mirrorRequests });
  }
  return { results, serveLog: readable(serveLogBytes.toString("utf8")), mirrorLog: readable(mirrorLogBytes.toString("utf8")) };
}

/**
 * serve's stderr as lines to match: off a terminal serve logs JSON records (observe/logger.ts),
 * so each record becomes its message, and each access-log record (`msg: "request"`) its request
 * line (`... [user] METHOD PATH STATUS Nms`, observe/access-log.ts), which the scenarios' checks
 * match on. Anything else (a line cut by a step's boundary) stays as it is.
 */
export function readable(log: string): string {
  return log
    .split("\n")
    .map((line) => {
      if (!line.startsWith("{")) return line;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return line;
      }
      return record.msg === ACCESS_MESSAGE ? accessLine(record) : String(record.msg ?? line);
    })
    .join("\n");
}

/**
 * `ok(id)`: the step's result after asserting it ran and exited 0; the message carries the
 * client's stderr and the tail of the registry log `logFor(id)` names.
 */
export function stepChecker(results: Map<string, StepResult>, scenario: { code: number | null; stderr: string }, logFor: (id: string) => string): (id: string) => StepResult {
  return (id) => {
    const r = results.get(id);
    assert.ok(r, `step ${id} did not run (an earlier step it needs failed). scenario exit ${scenario.code}; its stderr:\n${tail(scenario.stderr)}`);
    assert.equal(r.code, 0, `step ${id} exited ${r.code}. stderr:\n${tail(r.stderr)}\nstdout:\n${tail(r.stdout, 10)}\nregistry log (tail):\n${tail(logFor(id), 15)}`);
    return r;
  };
}

/** Processes still running with `dir` on their command line. */
export async function processesUsing(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir("/proc")).filter((name) => /^\d+$/.test(name))) {
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).replace(/\0/g, " ");
    if (cmdline.includes(dir)) found.push(`${pid}: ${cmdline}`);
  }
  return found;
}
