import type { Command } from "commander";
import { readPeerTls, readSecretFile, type PeerAccess } from "../config/site-config.js";

/** The mutual-TLS flags of every command that talks to sites' peer APIs (`serve --site`, `sites`, `replicate`). */
export function addPeerTlsOptions(command: Command): Command {
  return command
    .option("--peer-tls-cert <file>", "mutual TLS between sites: this side's PEM certificate, signed by --peer-tls-ca (with --peer-tls-key, --peer-tls-ca)")
    .option("--peer-tls-key <file>", "the PEM private key of --peer-tls-cert")
    .option("--peer-tls-ca <file>", "the PEM certificate of the CA that signs every site's certificate");
}

export interface PeerTlsFlags {
  peerTlsCert?: string;
  peerTlsKey?: string;
  peerTlsCa?: string;
}

export function peerTlsFiles(flags: PeerTlsFlags): { cert?: string; key?: string; ca?: string } {
  return { cert: flags.peerTlsCert, key: flags.peerTlsKey, ca: flags.peerTlsCa };
}

/** What `sites` and `replicate` present to the site they call: the shared secret, and a certificate if the sites use mutual TLS. */
export async function peerAccessFromFlags(flags: PeerTlsFlags & { peerSecretFile: string }): Promise<PeerAccess> {
  const tls = await readPeerTls(peerTlsFiles(flags), PEER_TLS_FLAG_NAMES);
  return { secret: await readSecretFile(flags.peerSecretFile), ...(tls === undefined ? {} : { tls }) };
}

export const PEER_TLS_FLAG_NAMES: [string, string, string] = ["--peer-tls-cert", "--peer-tls-key", "--peer-tls-ca"];
