import type { Command } from "commander";
import { SERVE_SETTINGS } from "../config/serve-settings.js";
import { readPeerTls, readSecretFile, type PeerAccess } from "../config/site-config.js";

/** The mutual-TLS flags of every command that talks to sites' peer APIs (`serve --site`, `sites`, `replicate`). */
export function addPeerTlsOptions(command: Command): Command {
  for (const key of ["peerTlsCert", "peerTlsKey", "peerTlsCa"] as const) command.option(SERVE_SETTINGS[key].flag, SERVE_SETTINGS[key].help);
  return command;
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
