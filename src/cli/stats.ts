import type { Command, Option } from "commander";
import type { BlobSummary } from "../layers/summary.js";
import { openStore, storeLocation } from "../store/open.js";
import { usingBlobs } from "./blobs.js";
import { formatBytes } from "./progress.js";

export function statsCommand(command: Command, storeOption: Option): void {
  command
    .description("what the store holds: blobs, logical / unique (after dedup) / stored (after compression) bytes, and the ratios")
    .addOption(storeOption)
    .option("--json", "machine-readable output (the same figures, bytes as numbers)")
    .action(async (flags: { store?: string; json?: boolean }) => {
      await usingBlobs(await openStore(storeLocation(flags.store)), async (blobs) => {
        const s = await blobs.summary();
        process.stdout.write(flags.json ? `${JSON.stringify(s)}\n` : describeSummary(blobs.location, s));
      });
    });
}

/** The summary for people: one figure a line, each saying what it measures. */
function describeSummary(location: string, s: BlobSummary): string {
  const bytes = (n: number) => `${n} (${formatBytes(n)})`;
  const gzipContent = s.gzip.asContent === 0 ? "" : `, gzip layers at their content's size (${bytes(s.gzip.contentBytes)} for ${bytes(s.gzip.asContentBytes)} compressed)`;
  const rows: [string, string][] = [
    ["store", location],
    ["blobs", String(s.blobs)],
    ["logical bytes", `${bytes(s.logicalBytes)}  what clients read`],
    ["chunked bytes", `${bytes(s.chunkedBytes)}  what the chunks make up before dedup${gzipContent}`],
    ["unique bytes", `${bytes(s.uniqueBytes)}  distinct chunks, after dedup (${s.chunks} chunks)`],
    ["stored bytes", `${bytes(s.storedBytes)}  those chunks compressed`],
    [s.backendKind === "disk" ? "on disk" : s.backendKind, bytes(s.backendBytes)],
    ["dedup ratio", `${s.dedupRatio.toFixed(2)}x  chunked / unique`],
    ["compression ratio", `${s.compressionRatio.toFixed(2)}x  unique / stored`],
    ["total ratio", `${s.totalRatio.toFixed(2)}x  logical / ${s.backendKind}`],
    ["gzip layers", `${s.gzip.asContent} stored as their content, ${s.gzip.kept.length} as their compressed bytes, ${s.gzip.pending} not looked at yet`],
  ];
  if (s.unreferencedChunks > 0) rows.push(["unreferenced", `${s.unreferencedChunks} chunks, ${bytes(s.unreferencedStoredBytes)} stored: garbage collection frees them`]);
  const lines = rows.map(([name, value]) => `${name.padEnd(20)}${value}\n`);
  for (const { digest, reason } of s.gzip.kept) lines.push(`  kept ${digest}: ${reason}\n`);
  return lines.join("");
}
