import type { Command } from "commander";
import type { LinkEstimate, SiteStatus } from "../sites/wire/operator-calls.js";
import { callSite, readText } from "../sites/wire/operator-client.js";
import { addPeerTlsOptions, peerAccessFromFlags, type PeerTlsFlags } from "./peer-tls-flags.js";
import { formatBytes } from "./progress.js";

/**
 * `docker-dedup sites`: asks a running site (its peer API's `status`) for its peers, their state,
 * the link estimates, and how much of each tagged image every site holds. A running site is
 * asked rather than its store read: only it can tell whether peers answer now and how far
 * behind their logs it is, and an embedded store belongs to the process serving it.
 */
export function sitesCommand(command: Command): void {
  command
    .description("a site's peers (reachable, log lag), link estimates, and how much of each image every site holds")
    .requiredOption("--site-url <url>", "the site's peer API, e.g. http://10.0.0.1:5001 (its --peer-listen; https:// with mutual TLS)")
    .requiredOption("--peer-secret-file <file>", "the secret the sites share")
    .option("--image <repo:tag>", "only this image")
    .option("--json", "machine-readable output");
  addPeerTlsOptions(command)
    .action(async (flags: PeerTlsFlags & { siteUrl: string; peerSecretFile: string; image?: string; json?: boolean }) => {
      const access = await peerAccessFromFlags(flags);
      const query = flags.image === undefined ? "" : `?image=${encodeURIComponent(flags.image)}`;
      const text = await readText(await callSite(flags.siteUrl, access, "GET", `status${query}`));
      if (flags.json) {
        process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
        return;
      }
      process.stdout.write(formatStatus(JSON.parse(text) as SiteStatus));
    });
}

export function formatStatus(status: SiteStatus): string {
  const out: string[] = [`site ${status.site}: log head ${status.head}, schedule ${status.schedule}`, ""];
  if (status.peers.length === 0) out.push("no peers");
  else {
    out.push(
      ...table([
        ["PEER", "URL", "STATE", "LOG READ", "LINK ESTIMATE"],
        ...status.peers.map((peer) => [
          peer.name,
          peer.url,
          peer.reachable ? "reachable" : `unreachable (${peer.error ?? "?"})`,
          peer.head === undefined ? `${peer.position}` : `${peer.position}/${peer.head} (lag ${peer.lag})`,
          formatLink(peer.link),
        ]),
      ]),
    );
  }
  out.push("");
  const sites = [status.site, ...status.peers.map((peer) => peer.name)];
  if (status.images.length === 0) out.push("no images");
  else {
    out.push(
      ...table([
        ["IMAGE", "SIZE", ...sites.map((site) => site.toUpperCase())],
        ...status.images.map((image) => [
          image.error === undefined ? image.image : `${image.image} (${image.error})`,
          formatBytes(image.bytes),
          ...sites.map((site) => {
            const held = image.held[site];
            if (held === undefined) return "?";
            const percent = image.bytes === 0 ? 100 : (100 * held.bytes) / image.bytes;
            return `${percent.toFixed(1)}% ${held.blobs}/${image.blobs}${held.source === "recorded" ? " (recorded)" : ""}`;
          }),
        ]),
      ]),
    );
    out.push("", "per site: % of the image's bytes whose chunks it holds, then blobs held whole of all the image's blobs (manifests included)");
  }
  if (status.imagesLeftOut !== undefined) out.push(`(${status.imagesLeftOut} more images not listed: use --image)`);
  return `${out.join("\n")}\n`;
}

function formatLink(link: LinkEstimate): string {
  const mbit = (bytesPerSecond: number) => `${((bytesPerSecond * 8) / 1e6).toFixed(1)} Mbit/s`;
  const from = link.source === "learned" ? `learned, updated ${link.updated}` : link.source;
  return `${mbit(link.bytesPerSecond)} (${from}${link.configured !== undefined && link.source === "learned" ? `; configured ${mbit(link.configured)}` : ""})`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join("  "));
}
