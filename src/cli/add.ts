import type { Command, Option } from "commander";
import { DedupError } from "../errors.js";
import { findBlobSources, type BlobSource } from "../layers/sources.js";
import { usingBlobs } from "./blobs.js";
import { Progress } from "./progress.js";
import { openStoreFromFlags, type StoreFlags } from "./store-flags.js";

export function addCommand(command: Command, storeOption: Option): void {
  command
    .description("ingest blobs: layer files, directories of them, registry storage, OCI layouts, docker save tarballs")
    .argument("<paths...>", "files or directories")
    .addOption(storeOption)
    .option("--chunker <spec>", "chunking for a new store: fastcdc/16k, fastcdc/4k:16k:64k, rabin/4096:8192:65536, fixed/64k")
    .option("--compression <codec>", "chunk compression for a new store: zstd, zstd:LEVEL or none")
    .option("--no-tar-aware", "do not align chunks to tar entries (new store only)")
    .action(async (paths: string[], flags: StoreFlags) => {
      const sources: BlobSource[] = [];
      for (const path of paths) sources.push(...(await findBlobSources(path)));
      if (sources.length === 0) throw new DedupError("INPUT_INVALID", `no files found in ${paths.join(", ")}`);
      const progress = new Progress("adding", sources.reduce((sum, s) => sum + s.size, 0));
      let failures = 0;
      await usingBlobs(await openStoreFromFlags(flags), async (blobs) => {
        // Blobs are ingested in parallel, but reported in the order they were given.
        const results = blobs.ingestFiles(sources, (bytes) => progress.advance(bytes));
        for (const result of results) result.catch(() => undefined); // each is awaited, in order, below
        for (const [i, result] of results.entries()) {
          try {
            const { digest } = await result;
            // No repository links what add stores: pinned, garbage collection keeps it.
            await blobs.pin(digest);
            progress.clearLine();
            process.stdout.write(`${digest}  ${sources[i]!.label}\n`);
          } catch (error) {
            if (!(error instanceof DedupError)) throw error;
            failures++;
            progress.clearLine();
            process.stderr.write(`docker-dedup: ${sources[i]!.label}: ${error.message}\n`);
          }
        }
        progress.clearLine();
      }, { resumeConversions: true });
      if (failures > 0) throw new DedupError("INPUT_INVALID", `${failures} of ${sources.length} blobs were not added`);
    });
}
