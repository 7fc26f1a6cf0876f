import { DedupError } from "../errors.js";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `30m`, `1h`, `7d`, `250ms`, or a bare number of seconds. */
export const DURATION_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/;

/** A duration's text in milliseconds. */
export function parseDuration(text: string, what: string): number {
  const match = DURATION_PATTERN.exec(text.trim());
  if (!match) throw new DedupError("INPUT_INVALID", `bad ${what} "${text}": expected a duration like 90s, 30m, 1h or 7d`);
  return Number(match[1]) * UNITS[match[2] ?? "s"]!;
}
