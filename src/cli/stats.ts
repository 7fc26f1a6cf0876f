import type { Command, Option } from "commander";
import { openStore, storeLocation } from "../store/open.js";
import { usingBlobs } from "./blobs.js";
import { formatBytes } from "./progress.js";

export function statsCommand(command: Command, storeOption: Option): void {
  command
    .description("what the store holds: blobs, logical / unique (after dedup) / stored (after compression) bytes, and the ratios")
    .addOption(storeOption)
    .option("--json", "machine-readable output")
    .action(async (flags: { store?: string; json?: boolean }) => {
      await usingBlobs(await openStore(storeLocation(flags.store)), async (blobs) => {
        const s = await blobs.summary();
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(s)}\n`);
          return;
        }
        const bytes = (n: number) => `${n} (${formatBytes(n)})`;
        const rows: [string, string][] = [
          ["store", blobs.location],
          ["blobs", String(s.blobs)],
          ["logical bytes", `${bytes(s.logicalBytes)}  what clients read`],
          ["unique bytes", `${bytes(s.uniqueBytes)}  distinct chunks, after dedup (${s.chunks} chunks)`],
          ["stored bytes", `${bytes(s.storedBytes)}  those chunks compressed`],
          [s.backendKind === "disk" ? "on disk" : s.backendKind, bytes(s.backendBytes)],
          ["dedup ratio", `${s.dedupRatio.toFixed(2)}x  logical / unique`],
          ["compression ratio", `${s.compressionRatio.toFixed(2)}x  unique / stored`],
          ["total ratio", `${s.totalRatio.toFixed(2)}x  logical / ${s.backendKind}`],
          ["gzip layers", `${s.gzip.asContent} stored as their content, ${s.gzip.kept.length} as their compressed bytes, ${s.gzip.pending} not looked at yet`],
        ];
        if (s.unreferencedChunks > 0) rows.push(["unreferenced", `${s.unreferencedChunks} chunks, ${bytes(s.unreferencedStoredBytes)} stored: garbage collection frees them`]);
        for (const [name, value] of rows) process.stdout.write(`${name.padEnd(20)}${value}\n`);
        for (const { digest, reason } of s.gzip.kept) process.stdout.write(`  kept ${digest}: ${reason}\n`);
      });
    });
}
