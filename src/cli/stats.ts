import type { Command, Option } from "commander";
import { openStore, storeLocation } from "../store/open.js";
import { summarizeStore } from "../store/summary.js";
import { formatBytes } from "./progress.js";

export function statsCommand(command: Command, storeOption: Option): void {
  command
    .description("what the store holds: blobs, chunks, logical and stored bytes, dedup ratio")
    .addOption(storeOption)
    .option("--json", "machine-readable output")
    .action(async (flags: { store?: string; json?: boolean }) => {
      const store = await openStore(storeLocation(flags.store));
      try {
        const summary = await summarizeStore(store);
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        const rows: [string, string][] = [
          ["store", store.location],
          ["blobs", String(summary.blobs)],
          ["chunks", String(summary.chunks)],
          ["logical bytes", `${summary.logicalBytes} (${formatBytes(summary.logicalBytes)})`],
          ["distinct chunk bytes", `${summary.uniqueBytes} (${formatBytes(summary.uniqueBytes)})`],
          ["stored bytes", `${summary.storedBytes} (${formatBytes(summary.storedBytes)})`],
          [summary.backendKind === "disk" ? "on disk" : summary.backendKind, `${summary.backendBytes} (${formatBytes(summary.backendBytes)})`],
          [`${summary.backendKind} per byte`, `${summary.backendBytesPerLogicalByte.toFixed(3)} per logical byte, ${summary.backendBytesPerStoredByte.toFixed(3)} per stored byte`],
          ["dedup ratio", `${summary.dedupRatio.toFixed(2)}x`],
        ];
        for (const [name, value] of rows) process.stdout.write(`${name.padEnd(22)}${value}\n`);
      } finally {
        await store.close();
      }
    });
}
