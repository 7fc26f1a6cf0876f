import { DedupError } from "../errors.js";
import { AUTH_KEYS, planAuth, type AuthSettings } from "./auth-settings.js";
import { buildMirrorConfig, type MirrorConfig, type MirrorEntry } from "./mirror-config.js";
import { nameFrom, resolveSettings, type Origin, type ResolvedSettings } from "./resolve-settings.js";
import { parseListen } from "./listen.js";
import { SERVE_SETTINGS, type ServeSettings, type SettingKey } from "./serve-settings.js";
import { readConfigFile } from "./settings-file.js";
import { checkPeers, checkPeerScheme, peerEntryOf, readSecretFile, type PeerAccess, type PeerEntry, type SchedulePolicy, type SiteConfig } from "./site-config.js";
import { readTlsFiles } from "./tls-files.js";

export { buildMirrorConfig, DEFAULT_MANIFEST_TTL_SECONDS, namespaceComponent, parseUpstreamFlag, type MirrorConfig, type MirrorEntry } from "./mirror-config.js";

/**
 * serve's settings grouped as the parts of serve take them (mirror mode, TLS, sites, auth),
 * after the check of how they combine: one line per inconsistent or missing combination, all of
 * them at once. The settings themselves, their file, flags and environment variables are
 * serve-settings.ts's; the README has an example file with every key.
 */
export interface ServeConfig {
  mirror?: MirrorConfig;
  /** PEM certificate and key files: serve HTTPS. */
  tls?: { cert: string; key: string };
  /** The store location (a URL, or a directory). */
  store?: string;
  /** Sites (site-config.ts), as far as the settings give them. */
  sites?: SiteSettings;
  /** Authentication (auth-settings.ts), as far as the settings give it. */
  auth?: AuthSettings;
}

export interface SiteSettings {
  site: string;
  peers?: PeerEntry[];
  peerListen?: string;
  peerSecretFile?: string;
  peerSecret?: string;
  /** Mutual TLS between sites: the three files. */
  peerTls?: { cert: string; key: string; ca: string };
  schedule?: SchedulePolicy;
  /** Seconds between link probes. */
  probeInterval?: number;
}

/** A config file alone (paths relative to its directory), as `verify --repair` reads serve's. */
export async function loadServeConfig(file: string): Promise<ServeConfig> {
  return serveConfigOf(resolveSettings({ file: await readConfigFile(file) }));
}

/** A config file's parsed content alone; `where` names it in error messages, `env` holds the mirrors' `passwordEnv`s. */
export function parseServeConfig(value: unknown, where = "config", env: NodeJS.ProcessEnv = process.env): ServeConfig {
  return serveConfigOf(resolveSettings({ file: { name: where, value } }), env);
}

const SITE_KEYS = ["peers", "peerListen", "peerSecretFile", "peerSecret", "peerTlsCert", "peerTlsKey", "peerTlsCa", "schedule", "probeInterval"] as const satisfies readonly SettingKey[];
const PEER_TLS_KEYS = ["peerTlsCert", "peerTlsKey", "peerTlsCa"] as const satisfies readonly SettingKey[];

/** The settings grouped, once they are checked to combine; else every problem, a line each. */
export function serveConfigOf(resolved: ResolvedSettings, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const { settings } = resolved;
  const problems: string[] = [];
  const named = namer(resolved);
  const config: ServeConfig = {};
  if (settings.store !== undefined) config.store = settings.store;
  if ((settings.tlsCert === undefined) !== (settings.tlsKey === undefined)) problems.push(`${named(["tlsCert", "tlsKey"]).join(" and ")} go together: give both or neither`);
  else if (settings.tlsCert !== undefined) config.tls = { cert: settings.tlsCert, key: settings.tlsKey! };
  if (settings.seedApi !== undefined && settings.seedApiDir === undefined) problems.push(`${named(["seedApi", "seedApiDir"]).join(" needs ")}, the directory /checkout may write into`);
  const mirror = mirrorOf(settings, env, named, problems);
  if (mirror !== undefined) config.mirror = mirror;
  const sites = sitesOf(settings, named, problems);
  if (sites !== undefined) config.sites = sites;
  const auth: AuthSettings = {};
  for (const key of AUTH_KEYS) if (settings[key] !== undefined) auth[key] = settings[key];
  if (Object.keys(auth).length > 0) {
    config.auth = auth;
    problemOf(() => planAuth(auth), problems);
  }
  if (problems.length > 0) throw new DedupError("INPUT_INVALID", problems.join("\n"), { problems });
  return config;
}

function mirrorOf(settings: ServeSettings, env: NodeJS.ProcessEnv, named: Namer, problems: string[]): MirrorConfig | undefined {
  const entries = settings.mirrors ?? [];
  if (entries.length === 0) {
    const given = (["defaultNamespace", "manifestTtlSeconds"] as const).filter((key) => settings[key] !== undefined);
    if (given.length > 0) problems.push(`${named(given).join(" and ")} need mirrors (--upstream, or mirrors in the config file)`);
    return undefined;
  }
  const mirrors = entries.map((entry, i): MirrorEntry => {
    const mirror: MirrorEntry = { namespace: entry.namespace, upstream: entry.upstream };
    if (entry.username !== undefined) mirror.username = entry.username;
    if (entry.password !== undefined) mirror.password = entry.password;
    if (entry.passwordEnv !== undefined) {
      const secret = env[entry.passwordEnv];
      if (secret === undefined) problems.push(`mirrors[${i}].passwordEnv: environment variable ${entry.passwordEnv} is not set`);
      else mirror.password = secret;
    }
    return mirror;
  });
  const defaultNamespace = settings.defaultNamespace === undefined || settings.defaultNamespace === null ? settings.defaultNamespace : settings.defaultNamespace.toLowerCase();
  return problemOf(() => buildMirrorConfig(mirrors, { defaultNamespace, manifestTtlSeconds: settings.manifestTtlSeconds }), problems);
}

function sitesOf(settings: ServeSettings, named: Namer, problems: string[]): SiteSettings | undefined {
  const { site } = settings;
  if (site === undefined) {
    const given = SITE_KEYS.filter((key) => settings[key] !== undefined && !(key === "peers" && settings.peers!.length === 0));
    if (given.length > 0) problems.push(`${named(given).join(", ")} need --site NAME (or "site" in the config file)`);
    return undefined;
  }
  const sites: SiteSettings = { site };
  for (const key of ["peerListen", "peerSecretFile", "peerSecret", "schedule", "probeInterval"] as const) if (settings[key] !== undefined) Object.assign(sites, { [key]: settings[key] });
  if (settings.peerListen === undefined || (settings.peerSecretFile === undefined && settings.peerSecret === undefined)) {
    problems.push("a site needs --peer-listen HOST:PORT and --peer-secret-file FILE or --peer-secret (peerListen, and peerSecretFile or peerSecret, in the config file)");
  }
  if (settings.peerSecretFile !== undefined && settings.peerSecret !== undefined) problems.push(`give ${named(["peerSecretFile", "peerSecret"]).join(" or ")}, not both`);
  const tlsGiven = PEER_TLS_KEYS.filter((key) => settings[key] !== undefined).length;
  if (tlsGiven === 3) sites.peerTls = { cert: settings.peerTlsCert!, key: settings.peerTlsKey!, ca: settings.peerTlsCa! };
  else if (tlsGiven > 0) problems.push(`${named(PEER_TLS_KEYS).join(", ")} go together: give all three or none`);
  const peers = problemOf(() => checkPeers(site, (settings.peers ?? []).map(peerEntryOf)), problems) ?? [];
  if (settings.peers !== undefined) sites.peers = peers;
  for (const peer of peers) problemOf(() => checkPeerScheme(peer.url, tlsGiven === 3, `peer ${peer.name}`), problems);
  return sites;
}

/** A check that throws, its message kept as a problem; its result, or undefined when it threw. */
function problemOf<T>(check: () => T, problems: string[]): T | undefined {
  try {
    return check();
  } catch (error) {
    problems.push((error as Error).message);
    return undefined;
  }
}

/**
 * Names settings the way they were given (`--tls-cert`, `$DOCKER_DEDUP_TLS_CERT`, `tlsCert`); one
 * not given the way the first given one of its group was, or as a flag.
 */
type Namer = (keys: readonly SettingKey[]) => string[];

function namer({ origins }: ResolvedSettings): Namer {
  return (keys) => {
    const fallback: Origin = keys.map((key) => origins[key]?.at(-1)).find((o) => o !== undefined) ?? { kind: "flag" };
    return keys.map((key) => nameFrom(origins[key]?.at(-1) ?? fallback, key));
  };
}

/** What this site presents to its peers: the shared secret (given, or read from its file), and with mutual TLS its certificate (read and checked). */
export async function readPeerAccess(sites: SiteSettings): Promise<PeerAccess> {
  const secret = sites.peerSecret?.trim() ?? (sites.peerSecretFile === undefined ? undefined : await readSecretFile(sites.peerSecretFile));
  if (secret === undefined) throw new DedupError("INPUT_INVALID", `site ${sites.site} has no peer secret (--peer-secret-file or --peer-secret)`);
  if (sites.peerTls === undefined) return { secret };
  const { cert, key, ca } = await readTlsFiles(sites.peerTls);
  return { secret, tls: { cert, key, ca: ca! } };
}

/** A site's settings in force, its files read: what startSite takes. */
export async function readSiteConfig(sites: SiteSettings): Promise<SiteConfig> {
  const access = await readPeerAccess(sites);
  return {
    site: sites.site,
    peers: sites.peers ?? [],
    peerListen: parseListen(sites.peerListen!, "--peer-listen"),
    access,
    schedule: sites.schedule ?? SERVE_SETTINGS.schedule.default,
    probeIntervalSeconds: sites.probeInterval ?? SERVE_SETTINGS.probeInterval.default,
  };
}
