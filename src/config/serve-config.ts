import { dirname, resolve } from "node:path";
import { DedupError } from "../errors.js";
import { AUTH_KEYS, type AuthSettings } from "./auth-settings.js";
import { readSettingsFile } from "./read-file.js";
import { checkPeerUrl, checkProbeInterval, checkSchedule, checkSiteName, type PeerEntry } from "./site-config.js";

/**
 * The `docker-dedup serve --config FILE` file: JSON, validated here so that a typo is an error
 * at startup rather than a silently ignored setting.
 *
 *   {
 *     "mirrors": [
 *       {"namespace": "docker.io", "upstream": "https://registry-1.docker.io",
 *        "username": "me", "password": "...", "passwordEnv": "HUB_TOKEN"}
 *     ],
 *     "defaultNamespace": "docker.io",
 *     "manifestTtlSeconds": 300,
 *     "tlsCert": "cert.pem", "tlsKey": "key.pem",
 *     "store": "redis-cluster://10.0.0.1:7000,10.0.0.2:7000",
 *     "site": "paris", "peerListen": "10.0.0.1:5001", "peerSecretFile": "peer-secret",
 *     "peers": [{"name": "lyon", "url": "http://10.0.0.2:5001", "bandwidth": 200}],
 *     "schedule": "network-aware", "probeInterval": 60,
 *     "peerTlsCert": "site.pem", "peerTlsKey": "site-key.pem", "peerTlsCa": "sites-ca.pem",
 *     "htpasswd": "users.htpasswd", "authPolicy": "policy.json",
 *     "tokenRealm": "https://registry.example.com/auth/token", "tokenService": "registry.example.com",
 *     "tokenIssuer": "registry.example.com", "tokenKey": "token-key.pem", "tokenTrust": "token-service.pem"
 *   }
 *
 * `tlsCert`/`tlsKey` (both or neither) are PEM files, relative to the config file's directory.
 * `store` is a store URL or directory (relative to the config file's directory); --store and
 * $DOCKER_DEDUP_STORE take precedence over it. The site keys make this registry one site of
 * several (src/sites/): `peers[].bandwidth` is the first estimate of that peer's link in Mbit/s,
 * `peerSecretFile` and the `peerTls*` files (mutual TLS between sites: all three or none) are
 * relative to the config file's directory; `probeInterval` is the seconds
 * between probes of the links transfers leave idle (0 or absent: none); flags add peers and
 * override the rest. The auth keys are the flags of auth-settings.ts (`htpasswd`, `authPolicy`,
 * `tokenKey` and `tokenTrust` are files, relative to the config file's directory); a flag
 * overrides its key, and how they combine is checked once both are merged (`planAuth`).
 */

/** One upstream registry that the mirror serves a namespace of. */
export interface MirrorEntry {
  /** The registry's name as clients write it (`docker.io`, `ghcr.io`, `host:port`): containerd's `?ns=` value. */
  namespace: string;
  /** Base URL of the upstream, e.g. `https://registry-1.docker.io`. */
  upstream: string;
  username?: string;
  password?: string;
}

export interface MirrorConfig {
  mirrors: MirrorEntry[];
  /**
   * The namespace of requests that name none (no `?ns=`, no `<namespace>/` prefix), as dockerd's
   * `registry-mirrors` sends them. Default: `docker.io` if mirrored, else the first mirror.
   * `null` keeps such names local (a plain registry beside the mirror).
   */
  defaultNamespace: string | null;
  /** How long a tag fetched from an upstream is served without asking the upstream again. */
  manifestTtlSeconds: number;
}

export interface ServeConfig {
  mirror?: MirrorConfig;
  /** Whether the file set `defaultNamespace` itself (else it is derived, and may change with --upstream flags). */
  defaultNamespaceGiven?: boolean;
  /** PEM certificate and key files: serve HTTPS. */
  tls?: { cert: string; key: string };
  /** The store location (a URL, or a directory). */
  store?: string;
  /** Sites (site-config.ts), as far as the file gives them. */
  sites?: SiteSettings;
  /** Authentication (auth-settings.ts), as far as the file gives it. */
  auth?: AuthSettings;
}

export interface SiteSettings {
  site?: string;
  peers?: PeerEntry[];
  peerListen?: string;
  peerSecretFile?: string;
  /** Mutual TLS between sites: file names, all three or none (checked when read). */
  peerTls?: { cert?: string; key?: string; ca?: string };
  schedule?: string;
  /** Seconds, checked. */
  probeInterval?: number;
}

export const DEFAULT_MANIFEST_TTL_SECONDS = 300;

/** Docker Hub's API host names all mean the `docker.io` namespace. */
const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

export async function loadServeConfig(file: string): Promise<ServeConfig> {
  const text = (await readSettingsFile(file, "config file")).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new DedupError("INPUT_INVALID", `config file ${file} is not valid JSON: ${(error as Error).message}`);
  }
  const config = parseServeConfig(value, file);
  if (config.tls !== undefined) config.tls = { cert: resolve(dirname(file), config.tls.cert), key: resolve(dirname(file), config.tls.key) };
  if (config.store !== undefined && !/^[a-z][a-z0-9+.-]*:\/\//i.test(config.store)) config.store = resolve(dirname(file), config.store);
  if (config.sites?.peerSecretFile !== undefined) config.sites.peerSecretFile = resolve(dirname(file), config.sites.peerSecretFile);
  const auth = config.auth;
  if (auth !== undefined) for (const key of AUTH_FILE_KEYS) if (auth[key] !== undefined) auth[key] = resolve(dirname(file), auth[key]);
  const peerTls = config.sites?.peerTls;
  if (peerTls !== undefined) for (const key of ["cert", "key", "ca"] as const) if (peerTls[key] !== undefined) peerTls[key] = resolve(dirname(file), peerTls[key]);
  return config;
}

/** Validates a parsed config file; `where` names it in error messages. */
export function parseServeConfig(value: unknown, where = "config", env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const fail = (message: string): never => {
    throw new DedupError("INPUT_INVALID", `${where}: ${message}`);
  };
  if (!isObject(value)) return fail("expected a JSON object");
  checkKeys(value, ["mirrors", "defaultNamespace", "manifestTtlSeconds", "tlsCert", "tlsKey", "store", ...SITE_KEYS, ...AUTH_KEYS], "", fail);
  const config: ServeConfig = {};
  const auth: AuthSettings = {};
  for (const key of AUTH_KEYS) {
    const setting = value[key];
    if (setting === undefined) continue;
    if (typeof setting !== "string" || setting === "") fail(`${key}: expected ${(AUTH_FILE_KEYS as readonly string[]).includes(key) ? "a file name" : "a string"}`);
    auth[key] = setting as string;
  }
  if (Object.keys(auth).length > 0) config.auth = auth;
  const sites = parseSiteSettings(value, fail);
  if (sites !== undefined) config.sites = sites;
  if (value.store !== undefined) {
    if (typeof value.store !== "string" || value.store === "") fail("store: expected a store URL or directory");
    config.store = value.store as string;
  }
  for (const key of ["tlsCert", "tlsKey"] as const) {
    if (value[key] !== undefined && (typeof value[key] !== "string" || value[key] === "")) fail(`${key}: expected a file name`);
  }
  if ((value.tlsCert === undefined) !== (value.tlsKey === undefined)) fail("tlsCert and tlsKey go together");
  if (typeof value.tlsCert === "string" && typeof value.tlsKey === "string") config.tls = { cert: value.tlsCert, key: value.tlsKey };
  if (value.mirrors === undefined) {
    if (value.defaultNamespace !== undefined || value.manifestTtlSeconds !== undefined) fail("defaultNamespace and manifestTtlSeconds need mirrors");
    return config;
  }
  if (!Array.isArray(value.mirrors)) return fail("mirrors: expected an array");
  const mirrors = value.mirrors.map((entry: unknown, i: number): MirrorEntry => {
    const at = `mirrors[${i}]`;
    if (!isObject(entry)) return fail(`${at}: expected an object`);
    checkKeys(entry, ["namespace", "upstream", "username", "password", "passwordEnv"], `${at}.`, fail);
    if (typeof entry.upstream !== "string") return fail(`${at}.upstream: expected a URL string`);
    const upstream = checkUpstreamUrl(entry.upstream, `${at}.upstream`, fail);
    const namespace = entry.namespace === undefined ? namespaceOf(upstream) : entry.namespace;
    if (typeof namespace !== "string" || namespace === "") return fail(`${at}.namespace: expected a registry host name`);
    const mirror: MirrorEntry = { namespace: namespace.toLowerCase(), upstream };
    for (const key of ["username", "password", "passwordEnv"] as const) {
      if (entry[key] !== undefined && typeof entry[key] !== "string") fail(`${at}.${key}: expected a string`);
    }
    if (typeof entry.username === "string") mirror.username = entry.username;
    if (typeof entry.password === "string") mirror.password = entry.password;
    if (typeof entry.passwordEnv === "string") {
      const secret = env[entry.passwordEnv];
      if (secret === undefined) fail(`${at}.passwordEnv: environment variable ${entry.passwordEnv} is not set`);
      mirror.password = secret;
    }
    if ((mirror.username === undefined) !== (mirror.password === undefined)) fail(`${at}: username and password go together`);
    return mirror;
  });
  let ttl = DEFAULT_MANIFEST_TTL_SECONDS;
  if (value.manifestTtlSeconds !== undefined) {
    if (typeof value.manifestTtlSeconds !== "number" || !(value.manifestTtlSeconds >= 0)) fail("manifestTtlSeconds: expected a number >= 0");
    ttl = value.manifestTtlSeconds as number;
  }
  let defaultNamespace: string | null | undefined;
  if (value.defaultNamespace !== undefined) {
    if (value.defaultNamespace !== null && typeof value.defaultNamespace !== "string") fail("defaultNamespace: expected a namespace or null");
    defaultNamespace = value.defaultNamespace === null ? null : (value.defaultNamespace as string).toLowerCase();
  }
  config.mirror = buildMirrorConfig(mirrors, { defaultNamespace, manifestTtlSeconds: ttl }, fail);
  config.defaultNamespaceGiven = defaultNamespace !== undefined;
  return config;
}

/** The auth settings that name files. */
const AUTH_FILE_KEYS = ["htpasswd", "authPolicy", "tokenKey", "tokenTrust"] as const satisfies readonly (keyof AuthSettings)[];

const SITE_KEYS = ["site", "peers", "peerListen", "peerSecretFile", "peerTlsCert", "peerTlsKey", "peerTlsCa", "schedule", "probeInterval"] as const;

function parseSiteSettings(value: Record<string, unknown>, fail: (message: string) => never): SiteSettings | undefined {
  if (SITE_KEYS.every((key) => value[key] === undefined)) return undefined;
  const settings: SiteSettings = {};
  const checked = <T>(check: () => T): T => {
    try {
      return check();
    } catch (error) {
      return fail((error as Error).message);
    }
  };
  for (const key of ["site", "peerListen", "peerSecretFile", "peerTlsCert", "peerTlsKey", "peerTlsCa", "schedule"] as const) {
    if (value[key] !== undefined && (typeof value[key] !== "string" || value[key] === "")) fail(`${key}: expected a string`);
  }
  if (typeof value.site === "string") settings.site = checked(() => checkSiteName(value.site as string, "site"));
  if (typeof value.peerListen === "string") settings.peerListen = value.peerListen;
  if (typeof value.peerSecretFile === "string") settings.peerSecretFile = value.peerSecretFile;
  const tlsFiles = { cert: value.peerTlsCert, key: value.peerTlsKey, ca: value.peerTlsCa } as { cert?: string; key?: string; ca?: string };
  if (Object.values(tlsFiles).some((file) => file !== undefined)) settings.peerTls = tlsFiles;
  if (typeof value.schedule === "string") settings.schedule = checked(() => checkSchedule(value.schedule as string, "schedule"));
  if (value.probeInterval !== undefined) {
    if (typeof value.probeInterval !== "number") fail("probeInterval: expected seconds, a number");
    settings.probeInterval = checked(() => checkProbeInterval(value.probeInterval as number, `probeInterval ${value.probeInterval}`));
  }
  if (value.peers !== undefined) {
    if (!Array.isArray(value.peers)) return fail("peers: expected an array");
    settings.peers = value.peers.map((entry: unknown, i: number): PeerEntry => {
      const at = `peers[${i}]`;
      if (!isObject(entry)) return fail(`${at}: expected an object`);
      checkKeys(entry, ["name", "url", "bandwidth"], `${at}.`, fail);
      if (typeof entry.name !== "string") return fail(`${at}.name: expected a site name`);
      if (typeof entry.url !== "string") return fail(`${at}.url: expected a URL string`);
      const peer: PeerEntry = { name: checked(() => checkSiteName(entry.name as string, `${at}.name`)), url: checked(() => checkPeerUrl(entry.url as string, `${at}.url`)) };
      if (entry.bandwidth !== undefined) {
        if (typeof entry.bandwidth !== "number" || !(entry.bandwidth > 0) || !Number.isFinite(entry.bandwidth)) fail(`${at}.bandwidth: expected Mbit/s, a number > 0`);
        peer.bytesPerSecond = ((entry.bandwidth as number) * 1e6) / 8;
      }
      return peer;
    });
  }
  return settings;
}

/**
 * `--upstream [NAMESPACE=]URL`: without a namespace, the URL's host names it (`docker.io` for
 * Docker Hub's hosts), which is what containerd sends as `?ns=`.
 */
export function parseUpstreamFlag(text: string): MirrorEntry {
  const fail = (message: string): never => {
    throw new DedupError("INPUT_INVALID", `bad --upstream "${text}": ${message}`);
  };
  const eq = text.indexOf("=");
  const schemeAt = text.indexOf("://");
  const hasNamespace = eq !== -1 && (schemeAt === -1 || eq < schemeAt);
  const upstream = checkUpstreamUrl(hasNamespace ? text.slice(eq + 1) : text, "URL", fail);
  const namespace = hasNamespace ? text.slice(0, eq).toLowerCase() : namespaceOf(upstream);
  if (namespace === "") fail("empty namespace");
  return { namespace, upstream };
}

/** Merges mirrors from flags and the file, checks them, and picks the default namespace. */
export function buildMirrorConfig(
  mirrors: MirrorEntry[],
  options: { defaultNamespace?: string | null | undefined; manifestTtlSeconds?: number },
  fail: (message: string) => never = (message) => {
    throw new DedupError("INPUT_INVALID", message);
  },
): MirrorConfig {
  const seen = new Set<string>();
  for (const m of mirrors) {
    if (seen.has(m.namespace)) fail(`namespace ${m.namespace} is mirrored twice`);
    seen.add(m.namespace);
    if (namespaceComponent(m.namespace) === undefined) fail(`namespace ${JSON.stringify(m.namespace)} is not a registry host name`);
  }
  let defaultNamespace = options.defaultNamespace;
  if (defaultNamespace === undefined) defaultNamespace = seen.has("docker.io") ? "docker.io" : (mirrors[0]?.namespace ?? null);
  else if (defaultNamespace !== null && !seen.has(defaultNamespace)) fail(`defaultNamespace ${defaultNamespace} is not one of the mirrored namespaces`);
  return { mirrors, defaultNamespace, manifestTtlSeconds: options.manifestTtlSeconds ?? DEFAULT_MANIFEST_TTL_SECONDS };
}

/**
 * The repository-name component that stores a namespace's repositories locally: mirrored
 * `library/busybox` of `docker.io` lives as `docker.io/library/busybox`, of `localhost:5001` as
 * `localhost-5001/library/busybox`. Undefined if the namespace cannot be made one.
 */
export function namespaceComponent(namespace: string): string | undefined {
  const component = namespace.toLowerCase().replace(/:/g, "-");
  return /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/.test(component) ? component : undefined;
}

function namespaceOf(upstream: string): string {
  const host = new URL(upstream).host.toLowerCase();
  return DOCKER_HUB_HOSTS.has(host) ? "docker.io" : host;
}

function checkUpstreamUrl(text: string, what: string, fail: (message: string) => never): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`${what}: not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") fail(`${what}: expected an http:// or https:// URL`);
  if (url.username !== "" || url.password !== "") fail(`${what}: put credentials in username/password, not in the URL`);
  if (url.search !== "" || url.hash !== "") fail(`${what}: no query or fragment, please`);
  return url.href.replace(/\/+$/, "");
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, known: string[], prefix: string, fail: (message: string) => never): void {
  for (const key of Object.keys(value)) if (!known.includes(key)) fail(`unknown setting ${prefix}${key}`);
}
