import type { Command, Option } from "commander";
import { DedupError } from "../errors.js";
import { importSeed } from "../import/import-seed.js";
import { openSeedSource, SEED_URLS } from "../import/open-seed-source.js";
import { formatBytes, Progress } from "./progress.js";
import { usingBlobs } from "./blobs.js";
import { openStoreFromFlags } from "./store-flags.js";

export function importSeedCommand(command: Command, storeOption: Option): void {
  command
    .description("import the layers of a docker_dedup (seed) database, Redis or Cassandra: rebuilt from its chunks, verified, ingested")
    .requiredOption("--from <url>", `the seed's Redis, ${SEED_URLS.redis}, or its Cassandra, ${SEED_URLS.cassandra} (keyspace tp by default)`)
    .addOption(storeOption)
    .action(async (flags: { from: string; store?: string }) => {
      const started = Date.now();
      const source = await openSeedSource(flags.from);
      let progress: Progress | undefined;
      try {
        await usingBlobs(await openStoreFromFlags({ store: flags.store }), async (blobs) => {
          const summary = await importSeed(source, blobs, {
            scanned: (_layers, bytes) => void (progress = new Progress("importing", bytes)),
            read: (bytes) => progress?.advance(bytes),
            imported: ({ digest }) => {
              progress?.clearLine();
              process.stdout.write(`${digest}  ${source.location}\n`);
            },
            failed: (digest, error) => {
              progress?.clearLine();
              process.stderr.write(`docker-dedup: ${digest}: ${error.message}\n`);
            },
          });
          progress?.clearLine();
          const seconds = (Date.now() - started) / 1000;
          process.stderr.write(
            `import-seed: ${summary.found} layers in ${source.location}: ${summary.imported} imported (${formatBytes(summary.importedBytes)}, ` +
              `${(summary.importedBytes / 1e6 / seconds).toFixed(1)} MB/s), ${summary.alreadyStored} already in the store, ${summary.failed} failed\n`,
          );
          if (summary.failed > 0) throw new DedupError("INPUT_INVALID", `${summary.failed} of ${summary.found} seed layers were not imported`);
        }, { resumeConversions: true }).finally(() => progress?.clearLine());
      } finally {
        await source.close();
      }
    });
}
