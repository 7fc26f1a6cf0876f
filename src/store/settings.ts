import { DedupError } from "../errors.js";
import type { StoreSettings } from "./types.js";

/** Reads the settings a store was created with; `where` names the store in the error. */
export function parseSettings(bytes: Uint8Array, where: string): StoreSettings {
  try {
    const settings = JSON.parse(Buffer.from(bytes).toString("utf8")) as StoreSettings;
    if (settings.chunkHash !== "sha256" || typeof settings.chunker?.algorithm !== "string") throw new Error("unexpected fields");
    return settings;
  } catch (error) {
    throw new DedupError("STORE_INVALID", `store at ${where} has unreadable settings: ${(error as Error).message}`, { where });
  }
}
