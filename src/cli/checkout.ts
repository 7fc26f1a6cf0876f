import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import type { Command, Option } from "commander";
import { DedupError } from "../errors.js";
import { parseDigest } from "../layers/digest.js";
import { writeBlob } from "../layers/write-blob.js";
import { openStore, storeLocation } from "../store/open.js";
import { usingBlobs } from "./blobs.js";

export function checkoutCommand(command: Command, storeOption: Option): void {
  command
    .description("write a blob, rebuilt from its chunks and verified, to stdout or a file")
    .argument("<digest>", "sha256:<hex> (or bare hex, as the seed's uuid)")
    .addOption(storeOption)
    .option("-o, --output <file>", "write here instead of stdout (atomically: complete or not at all)")
    .action(async (text: string, flags: { store?: string; output?: string }) => {
      const digest = parseDigest(text);
      await usingBlobs(await openStore(storeLocation(flags.store)), async (blobs) => {
        const stored = await blobs.open(digest);
        if (stored === undefined) throw new DedupError("BLOB_UNKNOWN", `${digest} is not in the store at ${blobs.location}`, { digest });
        if (flags.output === undefined) {
          await writeBlob(stored, process.stdout);
          return;
        }
        const partial = `${flags.output}.partial-${process.pid}`;
        try {
          await writeBlob(stored, createWriteStream(partial));
          await rename(partial, flags.output);
        } catch (error) {
          await rm(partial, { force: true });
          throw error;
        }
      });
    });
}
