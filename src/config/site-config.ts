import { z } from "zod";
import { DedupError } from "../errors.js";
import { readSettingsFile } from "./read-file.js";
import { readTlsFiles } from "./tls-files.js";
import { above0, atLeast0, httpUrl, refusing, text, textWhere } from "./value-schemas.js";

/**
 * The settings that make a `serve` process a site (src/sites/, docs/ARCHITECTURE.md "Sites"),
 * and their checks, shared by the flags (cli/) and the config file (serve-config.ts).
 */

/** A transfer plan names the sites holding a chunk in one 32-bit mask, a bit per peer (sites/schedule/transfer.ts): at most this many peers. */
export const MAX_SITES = 32;

/**
 * How a fetch splits the chunks a site lacks among the peers that hold them
 * (sites/schedule/schedule.ts): `network-aware` (Nitro's max-flow schedule, the default),
 * `random` (Nitro's baseline), `single-source` (the seed's).
 */
export type SchedulePolicy = "network-aware" | "random" | "single-source";

/**
 * What a site, or an operator's command, presents to a site's peer API: the shared secret, and
 * with mutual TLS its own certificate and the CA that every site's certificate chains to. The
 * peer API then takes only connections whose client certificate that CA signed, and peers are
 * reached over https:// only, their certificates checked against the same CA and their URLs.
 */
export interface PeerAccess {
  secret: string;
  tls?: PeerTls;
}

export interface PeerTls {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** One other site: its name and the base URL of its peer API (`http://host:port`). */
export interface PeerEntry {
  name: string;
  url: string;
  /** The first estimate of the link from this peer, in bytes per second; learned from transfers after that. */
  bytesPerSecond?: number;
}

/** What makes a `serve` process a site. */
export interface SiteConfig {
  site: string;
  peers: PeerEntry[];
  peerListen: { host: string | undefined; port: number };
  /** What every site presents to every other: the shared secret, and with mutual TLS its certificate. */
  access: PeerAccess;
  schedule: SchedulePolicy;
  /** Seconds between rounds of link probes (sites/fetch/link-probe.ts); 0: no probes, the links are measured by transfers alone. */
  probeIntervalSeconds: number;
}

export const SCHEDULE_POLICIES = ["network-aware", "random", "single-source"] as const satisfies readonly SchedulePolicy[];
/** Secrets shorter than this are refused: the peer API serves every stored byte. */
export const MIN_SECRET_LENGTH = 16;
/** Sites are named in metadata keys and logs: short, and nothing that needs escaping. */
const SITE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const SITE_NAME_EXPECTED = "a site name: lowercase letters, digits, '.', '_', '-' (at most 63)";

export const siteNameSchema = textWhere(SITE_NAME_EXPECTED, (name) => SITE_NAME.test(name));

/** The seconds between link probes: 0 for none. */
export const probeIntervalSchema = atLeast0("the seconds between link probes (0: no probes)");

/**
 * A `peers` entry as the config file has it (`bandwidth`: the first estimate of that peer's link,
 * in Mbit/s), or `--peer NAME=URL`.
 */
export const peerEntrySchema = z.strictObject(
  {
    name: siteNameSchema,
    url: text("the peer API's http(s)://HOST:PORT").superRefine(refusing(peerUrlProblem)).transform((url) => new URL(url).origin),
    bandwidth: above0("Mbit/s").optional(),
  },
  { error: "expected a peer: NAME=URL on the command line, {name, url, bandwidth} in a file" },
);

export type PeerSetting = z.output<typeof peerEntrySchema>;

/** `--peer NAME=URL` as a `peers` entry, unchecked. */
export function peerFromText(value: string): { name: string; url: string } | string {
  const eq = value.indexOf("=");
  return eq <= 0 ? value : { name: value.slice(0, eq), url: value.slice(eq + 1) };
}

/** A checked `peers` entry as the sites take it: bandwidth in bytes per second. */
export function peerEntryOf(setting: PeerSetting): PeerEntry {
  return { name: setting.name, url: setting.url, ...(setting.bandwidth === undefined ? {} : { bytesPerSecond: (setting.bandwidth * 1e6) / 8 }) };
}

export function checkPeerUrl(value: string, what: string): string {
  const problem = peerUrlProblem(value);
  if (problem !== undefined) throw new DedupError("INPUT_INVALID", `${what}: ${problem}: ${JSON.stringify(value)}`);
  return new URL(value).origin;
}

function peerUrlProblem(value: string): string | undefined {
  const url = httpUrl(value);
  if (url === undefined) return "expected an http:// or https:// URL (the peer API's address)";
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "") return "expected http(s)://HOST:PORT only";
  return undefined;
}

/**
 * With mutual TLS a site reaches its peers over https:// only (an http:// one would be sent the
 * secret in the clear); without it, it has no certificate to show an https:// one.
 */
export function checkPeerScheme(url: string, tls: boolean, what: string): void {
  const secure = url.startsWith("https:");
  if (tls && !secure) throw new DedupError("INPUT_INVALID", `${what} is ${url}: with mutual TLS (--peer-tls-cert, --peer-tls-key, --peer-tls-ca) peers are reached over https:// only`);
  if (!tls && secure) throw new DedupError("INPUT_INVALID", `${what} is ${url}: an https:// peer API needs this site's certificate (--peer-tls-cert, --peer-tls-key, --peer-tls-ca)`);
}

/** Checks the site's peers as a whole: distinct names, not the site's own, at most MAX_SITES. */
export function checkPeers(site: string, peers: PeerEntry[]): PeerEntry[] {
  const seen = new Set<string>([site]);
  for (const peer of peers) {
    if (seen.has(peer.name)) throw new DedupError("INPUT_INVALID", peer.name === site ? `peer ${peer.name} has this site's own name` : `peer ${peer.name} is given twice`);
    seen.add(peer.name);
  }
  if (peers.length > MAX_SITES) throw new DedupError("INPUT_INVALID", `at most ${MAX_SITES} peers`);
  return peers;
}

/**
 * The mutual-TLS files (certificate, key, the sites' CA): all three or none, read and checked;
 * undefined: none. `names` are what the three are called where they were given.
 */
export async function readPeerTls(files: { cert?: string; key?: string; ca?: string }, names: [string, string, string]): Promise<PeerTls | undefined> {
  const given = [files.cert, files.key, files.ca].filter((file) => file !== undefined).length;
  if (given === 0) return undefined;
  if (given < 3) throw new DedupError("INPUT_INVALID", `${names.join(", ")} go together: give all three or none`);
  const { cert, key, ca } = await readTlsFiles({ cert: files.cert!, key: files.key!, ca: files.ca! });
  return { cert, key, ca: ca! };
}

export async function readSecretFile(file: string): Promise<string> {
  const secret = (await readSettingsFile(file, "the peer secret file")).toString("utf8").trim();
  if (secret.length < MIN_SECRET_LENGTH) throw new DedupError("INPUT_INVALID", `the peer secret in ${file} is shorter than ${MIN_SECRET_LENGTH} characters`);
  return secret;
}
