import { DedupError } from "../errors.js";

/** `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces). */
const LISTEN_PATTERN = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/;

export const LISTEN_EXPECTED = "HOST:PORT, e.g. 127.0.0.1:5000 (port 0 picks a free one)";

/** The address as `listen()` takes it; undefined host: all interfaces. */
export function parseListen(text: string, flag = "--listen"): { host: string | undefined; port: number } {
  const match = LISTEN_PATTERN.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new DedupError("INPUT_INVALID", `bad ${flag} "${text}": expected ${LISTEN_EXPECTED}`);
  const host = match[1] ?? match[2];
  return { host: host === "" ? undefined : host, port };
}

export function isListenAddress(text: string): boolean {
  const match = LISTEN_PATTERN.exec(text);
  return match !== null && Number(match[3]) <= 65535;
}
