import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

/** The venv python of scripts/pyrabin/install.sh (same resolution of DOCKER_DEDUP_TOOLS). */
const VENV_PYTHON = join(process.env["DOCKER_DEDUP_TOOLS"] || "/var/tmp/docker-dedup-tools", "pyrabin", "bin", "python");

/**
 * Runs a Python script with the project's tools venv, where the seed's own packages (PyRabin,
 * xxhash) are installed; fails with the command that installs them if `module` is not there.
 */
export function runReferencePython(module: string, script: string, args: string[]): string {
  let available = existsSync(VENV_PYTHON);
  if (available) {
    try {
      execFileSync(VENV_PYTHON, ["-c", `import ${module}`], { stdio: "ignore" });
    } catch {
      available = false;
    }
  }
  if (!available) {
    assert.fail(`${VENV_PYTHON} cannot import ${module}: run \`bash scripts/pyrabin/install.sh\` (DOCKER_DEDUP_TOOLS moves the venv)`);
  }
  return execFileSync(VENV_PYTHON, ["-c", script, ...args], { encoding: "utf8", maxBuffer: 1 << 26 });
}
