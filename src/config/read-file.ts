import { readFile } from "node:fs/promises";
import { DedupError } from "../errors.js";

/**
 * A file the settings name (the config file, a certificate, the peer secret), read whole; one
 * that cannot be read fails startup with a message naming it: `what` it is, its path, and why.
 */
export async function readSettingsFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new DedupError("INPUT_INVALID", `cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}
