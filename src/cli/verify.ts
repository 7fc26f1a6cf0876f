import type { Command, Option } from "commander";
import { DedupError } from "../errors.js";
import { openStore, storeLocation } from "../store/open.js";
import { usingBlobs } from "./blobs.js";

export function verifyCommand(command: Command, storeOption: Option): void {
  command
    .description("re-hash every chunk and rebuild every blob; exit non-zero if anything is damaged")
    .addOption(storeOption)
    .action(async (flags: { store?: string }) => {
      await usingBlobs(await openStore(storeLocation(flags.store)), async (service) => {
        const { chunks, blobs, damage } = await service.verify();
        for (const d of damage) process.stdout.write(`damaged ${d.kind} ${d.id}: ${d.problem}\n`);
        process.stdout.write(`checked ${chunks} chunks and ${blobs} blobs: ${damage.length === 0 ? "all intact" : `${damage.length} damaged`}\n`);
        if (damage.length > 0) throw new DedupError("STORE_INVALID", `${damage.length} damaged items in ${service.location}`);
      });
    });
}
