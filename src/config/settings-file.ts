import { dirname } from "node:path";
import { LineCounter, parseDocument } from "yaml";
import { DedupError } from "../errors.js";
import { readSettingsFile } from "./read-file.js";

/**
 * serve's config file: YAML (so JSON, which is YAML, too). Read and parsed only: what its
 * settings mean is resolve-settings.ts's. A syntax mistake is one line each, with its place.
 */
export async function readConfigFile(file: string): Promise<{ name: string; value: unknown; dir: string }> {
  return { name: file, value: parseConfigText(file, (await readSettingsFile(file, "config file")).toString("utf8")), dir: dirname(file) };
}

export function parseConfigText(name: string, text: string): unknown {
  const lineCounter = new LineCounter();
  // YAML 1.2's core schema: `yes`, `on` and `0755` stay what YAML 1.1 would not make them (strings and decimals).
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: "1.2", schema: "core" });
  if (document.errors.length > 0) {
    const lines = document.errors.map((error) => {
      const { line, col } = lineCounter.linePos(error.pos[0]);
      return `${name}:${line}:${col}: ${error.message}`;
    });
    throw new DedupError("INPUT_INVALID", lines.join("\n"), { problems: lines });
  }
  return document.toJS();
}
