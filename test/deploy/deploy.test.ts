import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { resolveSettings } from "../../src/config/resolve-settings.js";
import { serveConfigOf } from "../../src/config/serve-config.js";
import { envName, SETTING_KEYS, withDefaults } from "../../src/config/serve-settings.js";
import { missingTools } from "../e2e/scenario.js";
import { REPO_ROOT, tempDir } from "../helpers.js";

/**
 * The systemd unit and the Dockerfile in deploy/ and the repository's root: the unit passes
 * `systemd-analyze verify`, and both start the package's own command with settings serve takes.
 * The image itself is not built here (a build costs minutes: the README says how to build it).
 */

const UNIT = join(REPO_ROOT, "deploy/docker-dedup.service");
const DOCKERFILE = join(REPO_ROOT, "Dockerfile");

/** `NAME=value` pairs of the unit's `Environment=` lines and the Dockerfile's `ENV` (values without spaces or quotes). */
function assignments(lines: string[]): Record<string, string> {
  return Object.fromEntries(lines.flatMap((line) => line.split(/\s+/).filter((word) => word.includes("="))).map((word) => [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]));
}

/** Checks that every DOCKER_DEDUP_* variable is a setting of serve's, and that together they are settings serve starts with. */
function checkSettings(env: Record<string, string>, where: string): ReturnType<typeof withDefaults> {
  const known = new Set(SETTING_KEYS.map(envName));
  for (const name of Object.keys(env).filter((n) => n.startsWith("DOCKER_DEDUP_"))) assert.ok(known.has(name), `${where}: ${name} is no setting of serve`);
  const resolved = resolveSettings({ env });
  serveConfigOf(resolved, env);
  return withDefaults(resolved.settings);
}

test("the systemd unit passes systemd-analyze verify", async (t) => {
  assert.deepEqual(missingTools(["systemd-analyze"]), [], "systemd-analyze is needed (Debian package systemd)");
  // Node.js where this machine has it, so that verify's check of ExecStart's program holds here too.
  const unit = join(await tempDir(t), "docker-dedup.service");
  await writeFile(unit, (await readFile(UNIT, "utf8")).replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `));
  const { stderr } = await promisify(execFile)("systemd-analyze", ["verify", unit]);
  // Warnings (an unknown key, a bad value) leave verify's exit code 0: they are read from stderr, this unit's alone.
  assert.deepEqual(stderr.split("\n").filter((line) => line.includes("docker-dedup.service")), []);
});

test("the unit and the image run the package's command, with DOCKER_DEDUP_* settings serve takes", async () => {
  const { bin } = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
  const main = bin["docker-dedup"]!;

  const unit = await readFile(UNIT, "utf8");
  assert.match(unit, new RegExp(`^ExecStart=/usr/bin/node /opt/docker-dedup/${main} serve$`, "m"));
  const unitSettings = checkSettings(assignments(unit.split("\n").filter((line) => line.startsWith("Environment=")).map((line) => line.slice("Environment=".length))), "unit");
  assert.equal(unitSettings.store, "/var/lib/docker-dedup", "the store in the unit's StateDirectory");
  assert.match(unit, /^StateDirectory=docker-dedup$/m);

  const dockerfile = await readFile(DOCKERFILE, "utf8");
  assert.match(dockerfile, new RegExp(`^ENTRYPOINT \\["node", "/opt/docker-dedup/${main}"\\]$`, "m"));
  // ENV's continuation lines (`\` at the end of a line) joined.
  const envLines = dockerfile.replace(/\\\n/g, " ").split("\n").filter((line) => line.startsWith("ENV "));
  const imageSettings = checkSettings(assignments(envLines.map((line) => line.slice("ENV ".length))), "Dockerfile");
  assert.match(dockerfile, new RegExp(`^VOLUME ${imageSettings.store}$`, "m"), "the store on the volume");
  const port = imageSettings.listen.split(":").at(-1);
  assert.match(dockerfile, new RegExp(`^EXPOSE ${port}$`, "m"));
  assert.match(dockerfile, new RegExp(`fetch\\('http://127\\.0\\.0\\.1:${port}/healthz'\\)`), "the health check asks the port serve listens on");
});
