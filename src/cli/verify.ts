import type { Command, Option } from "commander";
import { loadServeConfig, type ServeConfig } from "../config/serve-config.js";
import { readPeerTls, readSecretFile } from "../config/site-config.js";
import { DedupError } from "../errors.js";
import type { BlobService } from "../layers/blob-service.js";
import type { RepairSources } from "../layers/repair.js";
import type { Damage, VerifyProgress } from "../layers/verify.js";
import { lossesOf } from "../registry/lost-data.js";
import { upstreamRepairSource } from "../registry/upstream-repair.js";
import { peerRepairSources } from "../sites/peer-repair.js";
import { openStore, storeLocation } from "../store/open.js";
import type { Store } from "../store/types.js";
import { usingBlobs } from "./blobs.js";
import { PhasedProgress } from "./progress.js";

export function verifyCommand(command: Command, storeOption: Option): void {
  command
    .description("re-hash every chunk and rebuild every blob; exit non-zero if anything is damaged")
    .addOption(storeOption)
    .option("--repair", "fetch what is damaged again from the peer sites and mirror upstreams of --config, then name the repositories and tags that lost data")
    .option("--config <file>", "serve's settings file: its sites' peers and its mirrors' upstreams are the sources of --repair")
    .option("--seal", "write the recipes of a store from before recipes were sealed again, sealed, once their blobs verify (pulls of them then skip hashing the blob); run it once every frontend sharing the store runs this release")
    .action(async (flags: { store?: string; repair?: boolean; config?: string; seal?: boolean }) => {
      if (flags.config !== undefined && !flags.repair) throw new DedupError("INPUT_INVALID", "--config names the sources of --repair: give --repair too");
      const config = flags.config === undefined ? undefined : await loadServeConfig(flags.config);
      const store = await openStore(storeLocation(flags.store, config?.store));
      await usingBlobs(store, async (service) => {
        const progress = new PhasedProgress("verifying");
        const onProgress = (checked: VerifyProgress) => (checked.blobs === 0 ? progress.update("chunks", checked.chunks) : progress.update("blobs", checked.blobs));
        const { chunks, blobs, damage, unsealed, sealed } = await service.verify(onProgress, { seal: flags.seal === true });
        progress.clearLine();
        for (const d of damage) process.stdout.write(`damaged ${d.kind} ${d.id}: ${d.problem}\n`);
        process.stdout.write(`checked ${chunks} chunks and ${blobs} blobs: ${damage.length === 0 ? "all intact" : `${damage.length} damaged`}\n`);
        if (sealed > 0) process.stdout.write(`sealed ${sealed} recipes\n`);
        if (unsealed > 0) process.stdout.write(`${unsealed} recipes have no seal (written before recipes had one): every pull of them hashes the blob; verify --seal seals them\n`);
        if (damage.length === 0) return;
        if (!flags.repair) throw new DedupError("STORE_INVALID", `${damage.length} damaged items in ${service.location} (verify --repair fetches them again where a source has them)`);
        const lost = await repair(store, service, damage, config);
        if (lost > 0) throw new DedupError("STORE_INVALID", `${lost} blobs of ${service.location} could not be repaired`);
      });
    });
}

/** Repairs from the sources the settings name, prints what it did and what is lost; how many blobs are. */
async function repair(store: Store, service: BlobService, damage: readonly Damage[], config: ServeConfig | undefined): Promise<number> {
  const log = (line: string) => process.stderr.write(`docker-dedup: ${line}\n`);
  const peers = config?.sites?.peers ?? [];
  const secretFile = config?.sites?.peerSecretFile;
  const tls = await readPeerTls(config?.sites?.peerTls ?? {}, ["peerTlsCert", "peerTlsKey", "peerTlsCa"]);
  const sites = peers.length === 0 || secretFile === undefined ? undefined : peerRepairSources(peers, { secret: await readSecretFile(secretFile), ...(tls === undefined ? {} : { tls }) });
  const sources: RepairSources = { chunks: sites?.sources ?? [], blobs: config?.mirror === undefined ? [] : [upstreamRepairSource(store, config.mirror)] };
  const names = [...sources.chunks, ...sources.blobs].map((source) => source.name);
  process.stdout.write(`repairing from ${names.length === 0 ? "no source (no peers or upstreams in --config)" : names.join("; ")}\n`);
  try {
    const report = await service.repair(damage, sources, log);
    for (const [source, count] of report.repaired) process.stdout.write(`repaired ${count} chunks from ${source}\n`);
    for (const digest of report.healed) process.stdout.write(`repaired blob ${digest}\n`);
    for (const { digest, problem } of report.lost) process.stdout.write(`lost blob ${digest}: ${problem}\n`);
    const lost = new Set(report.lost.map((l) => l.digest));
    if (lost.size === 0) return 0;
    const readManifest = (digest: string) => service.readAll(digest).catch(() => undefined);
    for (const loss of await lossesOf(store, lost, readManifest)) {
      const tags = loss.tags.length === 0 ? "no tag" : `tags ${loss.tags.join(", ")}`;
      process.stdout.write(`lost data in repository ${loss.repository}: ${tags}; blobs ${loss.blobs.join(", ") || "(through its manifests)"}\n`);
    }
    return lost.size;
  } finally {
    sites?.close();
  }
}
