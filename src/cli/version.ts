import { readFileSync } from "node:fs";

/** The package's version, from the package.json beside dist/ (this file is dist/src/cli/version.js). */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version?: unknown };
  return String(pkg.version);
}
