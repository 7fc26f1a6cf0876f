import type { Command } from "commander";
import { DedupError } from "../errors.js";
import { isSha256Digest } from "../layers/digest.js";
import type { ReplicateEvent } from "../sites/wire/operator-calls.js";
import { callSite, lines } from "../sites/wire/operator-client.js";
import { addPeerTlsOptions, peerAccessFromFlags, type PeerTlsFlags } from "./peer-tls-flags.js";
import { formatBytes, Progress } from "./progress.js";

/**
 * `docker-dedup replicate IMAGE --to SITE`: asks a running site (any of them: one that is not
 * SITE passes the request on) to bring the image to SITE ahead of demand. SITE fetches only
 * the chunks it lacks, planned over the peers that hold them, exactly as a pull there would;
 * its progress lines drive the progress bar.
 */
export function replicateCommand(command: Command): void {
  command
    .description("bring an image (an index with all its children) to a site ahead of demand: only the chunks it lacks, from the peers that hold them")
    .argument("<image>", "REPOSITORY[:TAG] or REPOSITORY@sha256:DIGEST")
    .requiredOption("--to <site>", "the site to bring the image to")
    .requiredOption("--site-url <url>", "a site's peer API, e.g. http://10.0.0.1:5001 (its --peer-listen): SITE's own, or any site that knows SITE")
    .requiredOption("--peer-secret-file <file>", "the secret the sites share")
    .option("--json", "print the result as JSON");
  addPeerTlsOptions(command)
    .action(async (image: string, flags: PeerTlsFlags & { to: string; siteUrl: string; peerSecretFile: string; json?: boolean }) => {
      const { repository, reference } = parseImage(image);
      const access = await peerAccessFromFlags(flags);
      const res = await callSite(flags.siteUrl, access, "POST", "replicate", { repository, reference, to: flags.to });
      let progress: Progress | undefined;
      try {
        for await (const line of lines(res)) {
          let event: ReplicateEvent;
          try {
            event = JSON.parse(line) as ReplicateEvent;
          } catch {
            throw new DedupError("STORE_UNAVAILABLE", `the site sent something that is not a progress line: ${line.slice(0, 200)}`);
          }
          switch (event.type) {
            case "plan":
              progress = new Progress(`${image} -> ${flags.to}`, event.bytes);
              break;
            case "progress":
              progress?.update(event.done);
              break;
            case "error":
              progress?.clearLine();
              throw new DedupError("STORE_UNAVAILABLE", `replicating ${image} to ${flags.to} failed: ${event.message}`);
            case "done":
              progress?.clearLine();
              if (flags.json) process.stdout.write(`${JSON.stringify(event)}\n`);
              else {
                process.stdout.write(
                  `replicated ${image} (${event.digest}) to ${event.site}: ${event.blobs} blobs, ${formatBytes(event.bytes)}; ` +
                    `${event.site} lacked ${formatBytes(event.lacked)} of chunks and fetched ${formatBytes(event.fetched)}, in ${event.seconds.toFixed(1)} s\n`,
                );
              }
              return;
          }
        }
      } catch (error) {
        progress?.clearLine();
        if (error instanceof DedupError) throw error;
        throw new DedupError("STORE_UNAVAILABLE", `replicating ${image} to ${flags.to}: the site stopped answering: ${(error as Error).message}`);
      }
      progress?.clearLine();
      throw new DedupError("STORE_UNAVAILABLE", `replicating ${image} to ${flags.to}: the site stopped answering before the end`);
    });
}

/** `repo`, `repo:tag` or `repo@sha256:...`; the tag defaults to latest, as clients do. */
export function parseImage(image: string): { repository: string; reference: string } {
  const at = image.indexOf("@");
  if (at >= 0) {
    const reference = image.slice(at + 1);
    if (!isSha256Digest(reference)) throw new DedupError("INPUT_INVALID", `bad image "${image}": expected REPOSITORY@sha256:<64 hex digits>`);
    return { repository: image.slice(0, at), reference };
  }
  const colon = image.lastIndexOf(":");
  if (colon > image.lastIndexOf("/")) return { repository: image.slice(0, colon), reference: image.slice(colon + 1) };
  return { repository: image, reference: "latest" };
}
