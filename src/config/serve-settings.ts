import { z } from "zod";
import { isListenAddress, LISTEN_EXPECTED } from "./listen.js";
import { DEFAULT_MANIFEST_TTL_SECONDS, mirrorEntrySchema, upstreamFromText } from "./mirror-config.js";
import { MIN_SECRET_LENGTH, peerEntrySchema, peerFromText, probeIntervalSchema, SCHEDULE_POLICIES, siteNameSchema } from "./site-config.js";
import { above0, atLeast0, duration, flag, oneOf, path, text, textWhere, wholeAbove0, wholeAtLeast0 } from "./value-schemas.js";

/**
 * Every setting of `docker-dedup serve`, in one table: its key in the config file, its flag, and
 * (the flag's name in capitals after `DOCKER_DEDUP_`) its environment variable; its schema, its
 * default and its help. The flags, the environment, the file's schema, `config print` and the
 * README's example file all follow from it; resolve-settings.ts applies the precedence
 * flag > environment > file > default.
 *
 * The defaults of the limits are the registry's own (registry/limits.ts, upload-session.ts):
 * config/ is a leaf and cannot import them, so test/config checks that the two agree.
 */

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface SettingSpec<S extends z.ZodType = z.ZodType> {
  schema: S;
  /** The flag with its argument, e.g. `--listen <host:port>`. */
  flag: string;
  help: string;
  default?: z.output<S>;
  /** How a flag's or an environment variable's text becomes a value for the schema (default: the text as it is). */
  fromText?: (value: string) => unknown;
  /** A file or directory name: in a config file, relative to its directory (`unless-url`: unless it is a URL). */
  path?: "always" | "unless-url";
  /**
   * A list (the schema is an array; `fromText` reads one item): each flag adds an item, the
   * environment variable's items are separated by spaces or commas, and the items of file,
   * environment and flags add up.
   */
  list?: true;
  /** Its value is masked when settings are printed, and never repeated in an error. */
  secret?: true;
}

/** Keeps each entry's own type (its schema, whether it has a default); test/config checks every default against its schema. */
const setting = <const T extends SettingSpec>(spec: T): T => spec;

/** A number, if the text is one; else the text, for the schema to refuse by name. */
const asNumber = (value: string): unknown => (/^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value) ? Number(value) : value);
const asBoolean = (value: string): unknown => (/^(true|1|yes|on)$/i.test(value) ? true : /^(false|0|no|off)$/i.test(value) ? false : value);
const listen = textWhere(LISTEN_EXPECTED, isListenAddress);

export const SERVE_SETTINGS = {
  // Where and how it serves.
  store: setting({
    schema: text("a store directory or URL"),
    flag: "--store <location>",
    help: "the store: a directory (the embedded store) or a redis://, redis-cluster:// or cassandra:// URL",
    default: "./docker-dedup-data",
    path: "unless-url",
  }),
  listen: setting({ schema: listen, flag: "--listen <host:port>", help: "address to listen on (port 0 picks a free one)", default: "127.0.0.1:5000" }),
  tlsCert: setting({ schema: path(), flag: "--tls-cert <file>", help: "serve HTTPS with this PEM certificate (chain); needs --tls-key", path: "always" }),
  tlsKey: setting({ schema: path(), flag: "--tls-key <file>", help: "the PEM private key of --tls-cert", path: "always" }),
  metricsListen: setting({
    schema: listen,
    flag: "--metrics-listen <host:port>",
    help: "serve /metrics (and /healthz, /readyz) on this address instead of at /metrics on the registry's port, which answers it without auth",
  }),
  logLevel: setting({ schema: oneOf(LOG_LEVELS), flag: "--log-level <level>", help: `the least severe log records written: ${LOG_LEVELS.join(", ")}`, default: "info" }),
  accessLog: setting({ schema: flag, flag: "--access-log", help: "log every request: method, path, status, bytes, duration, client", default: false, fromText: asBoolean }),

  // Limits: none lets one client lock out the others.
  uploadTimeout: setting({ schema: above0("seconds"), flag: "--upload-timeout <seconds>", help: "cancel an upload idle this long", default: 900, fromText: asNumber }),
  maxUploads: setting({
    schema: wholeAbove0("uploads"),
    flag: "--max-uploads <n>",
    help: "uploads in progress at once, counted in the store (all frontends on it together)",
    default: 1024,
    fromText: asNumber,
  }),
  maxUploadsPerClient: setting({ schema: wholeAbove0("uploads"), flag: "--max-uploads-per-client <n>", help: "uploads in progress at once from one client (its user, or its address)", default: 32, fromText: asNumber }),
  maxConnectionsPerClient: setting({ schema: wholeAbove0("connections"), flag: "--max-connections-per-client <n>", help: "connections one client address may hold open", default: 128, fromText: asNumber }),
  maxBlobSize: setting({ schema: wholeAbove0("bytes"), flag: "--max-blob-size <bytes>", help: "the largest blob a push may create", default: 16 * 2 ** 30, fromText: asNumber }),
  minBodyRate: setting({ schema: above0("bytes per second"), flag: "--min-body-rate <bytes/s>", help: "cut a request body slower than this, judged over 30 s", default: 1024, fromText: asNumber }),
  maxConcurrentReads: setting({
    schema: wholeAtLeast0("blobs"),
    flag: "--max-concurrent-reads <n>",
    help: "blobs rebuilt at once, others queue in arrival order (0: no limit; 1: one layer at a time)",
    default: 0,
    fromText: asNumber,
  }),

  // Caches.
  chunkCacheMb: setting({ schema: atLeast0("MiB"), flag: "--chunk-cache-mb <MiB>", help: "decoded chunks kept in memory for warm pulls (0: none)", default: 512, fromText: asNumber }),
  gzipCacheMb: setting({ schema: atLeast0("MiB"), flag: "--gzip-cache-mb <MiB>", help: "re-created gzip layers kept on disk for the next pull (0: none)", default: 2048, fromText: asNumber }),
  gzipCacheDir: setting({
    schema: path("a directory"),
    flag: "--gzip-cache-dir <dir>",
    help: "where (default: gzip-cache in an embedded store's directory, else under $XDG_CACHE_HOME/docker-dedup)",
    path: "always",
  }),

  // Garbage collection.
  gcInterval: setting({ schema: duration, flag: "--gc-interval <duration>", help: "collect garbage this often (0: never; `docker-dedup gc` does it by hand)", default: "1h" }),
  gcGrace: setting({ schema: duration, flag: "--gc-grace <duration>", help: "how long something stays unneeded before garbage collection deletes it", default: "1h" }),
  // The retention of untagged manifests (registry/retention.ts): off unless one is set.
  gcKeepUntagged: setting({
    schema: wholeAtLeast0("manifests"),
    flag: "--gc-keep-untagged <n>",
    help: "each collection also removes untagged manifests, but for the N most recently pushed of each repository",
    fromText: asNumber,
  }),
  gcUntaggedOlderThan: setting({
    schema: duration,
    flag: "--gc-untagged-older-than <duration>",
    help: "each collection also removes untagged manifests pushed longer ago than this (with --gc-keep-untagged: past both)",
  }),

  // The seed's API, for Dragonfly's dfdaemon.
  seedApi: setting({ schema: listen, flag: "--seed-api <host:port>", help: "also answer docker_dedup's /checkout, /is_available and /info here" }),
  seedApiDir: setting({ schema: path("a directory"), flag: "--seed-api-dir <dir>", help: "the only directory /checkout may write into (required with --seed-api)", path: "always" }),

  // Mirror mode.
  mirrors: setting({
    schema: z.array(mirrorEntrySchema, { error: "expected a list of mirrors" }),
    flag: "--upstream <[namespace=]url>",
    help: "mirror mode: pull through this registry (repeatable); the namespace defaults to the URL's host (docker.io for Docker Hub); pushes to mirrored names are refused",
    fromText: upstreamFromText,
    list: true,
  }),
  defaultNamespace: setting({
    schema: text("a mirrored namespace, or null").nullable(),
    flag: "--default-namespace <namespace>",
    help: "mirror mode: the namespace of names that give none (none: keep them local; default docker.io if mirrored, else the first mirror)",
    fromText: (value) => (value === "none" ? null : value),
  }),
  manifestTtlSeconds: setting({
    schema: atLeast0("seconds"),
    flag: "--manifest-ttl-seconds <seconds>",
    help: "mirror mode: how long a tag is served before the upstream is asked again",
    default: DEFAULT_MANIFEST_TTL_SECONDS,
    fromText: asNumber,
  }),

  // Sites.
  site: setting({ schema: siteNameSchema, flag: "--site <name>", help: "make this registry one site of several: its name (with --peer-listen, --peer-secret-file, --peer)" }),
  peers: setting({
    schema: z.array(peerEntrySchema, { error: "expected a list of peers" }),
    flag: "--peer <name=url>",
    help: "another site and its peer API, e.g. lyon=http://10.0.0.2:5001 (repeatable)",
    fromText: peerFromText,
    list: true,
  }),
  peerListen: setting({ schema: listen, flag: "--peer-listen <host:port>", help: "where this site answers its peers (not the registry's address)" }),
  peerSecretFile: setting({ schema: path(), flag: "--peer-secret-file <file>", help: "the secret all sites share, authenticating every peer request", path: "always" }),
  peerSecret: setting({
    schema: textWhere(`the secret all sites share, at least ${MIN_SECRET_LENGTH} characters`, (secret) => secret.trim().length >= MIN_SECRET_LENGTH),
    flag: "--peer-secret <secret>",
    help: "the shared secret itself, instead of --peer-secret-file (better from the environment than on a command line)",
    secret: true,
  }),
  peerTlsCert: setting({ schema: path(), flag: "--peer-tls-cert <file>", help: "mutual TLS between sites: this side's PEM certificate, signed by --peer-tls-ca (with --peer-tls-key, --peer-tls-ca)", path: "always" }),
  peerTlsKey: setting({ schema: path(), flag: "--peer-tls-key <file>", help: "the PEM private key of --peer-tls-cert", path: "always" }),
  peerTlsCa: setting({ schema: path(), flag: "--peer-tls-ca <file>", help: "the PEM certificate of the CA that signs every site's certificate", path: "always" }),
  schedule: setting({ schema: oneOf(SCHEDULE_POLICIES), flag: "--schedule <policy>", help: "how a pull splits missing chunks among peers", default: "network-aware" }),
  probeInterval: setting({
    schema: probeIntervalSchema,
    flag: "--probe-interval <seconds>",
    help: "measure the links transfers leave idle this often, with a short download from each peer (0: never)",
    default: 0,
    fromText: asNumber,
  }),

  // Authentication (auth-settings.ts has how these combine).
  htpasswd: setting({ schema: path(), flag: "--htpasswd <file>", help: "require HTTP basic auth against these users (bcrypt entries: htpasswd -B)", path: "always" }),
  authPolicy: setting({ schema: path(), flag: "--auth-policy <file>", help: "JSON: who may pull, push, delete which repositories (default: every user everything, anonymous users nothing)", path: "always" }),
  tokenRealm: setting({ schema: text("the URL where clients get tokens"), flag: "--token-realm <url>", help: "bearer tokens: where clients get them (with --token-key, this registry answers at the URL's path)" }),
  tokenService: setting({ schema: text("this registry's name in tokens"), flag: "--token-service <name>", help: "bearer tokens: this registry's name in them (their audience)" }),
  tokenIssuer: setting({ schema: text("the tokens' issuer"), flag: "--token-issuer <name>", help: "bearer tokens: their issuer (default with --token-key: the service name)" }),
  tokenKey: setting({ schema: path(), flag: "--token-key <pem>", help: "bearer tokens from the built-in token service for the --htpasswd users, signed with this EC P-256 or RSA private key", path: "always" }),
  tokenTrust: setting({ schema: path(), flag: "--token-trust <file>", help: "bearer tokens from an external token service: its public keys (PEM keys or certificates, or a JWKS)", path: "always" }),
} satisfies Record<string, SettingSpec>;

export type SettingKey = keyof typeof SERVE_SETTINGS;
export const SETTING_KEYS = Object.keys(SERVE_SETTINGS) as SettingKey[];

/** The settings as given (validated; no defaults): what each source said, merged. */
export type ServeSettings = { [K in SettingKey]?: z.output<(typeof SERVE_SETTINGS)[K]["schema"]> };

/** The settings in force: the given ones over the defaults. */
export type EffectiveSettings = ServeSettings & { [K in SettingKey as (typeof SERVE_SETTINGS)[K] extends { default: unknown } ? K : never]-?: z.output<(typeof SERVE_SETTINGS)[K]["schema"]> };

/** A setting's entry in the table, as the common shape. */
export function specOf(key: SettingKey): SettingSpec {
  return SERVE_SETTINGS[key];
}

/** `--max-uploads` */
export function flagName(key: SettingKey): string {
  return specOf(key).flag.split(" ")[0]!;
}

/** `DOCKER_DEDUP_MAX_UPLOADS`: the flag's name in capitals. */
export function envName(key: SettingKey): string {
  return `DOCKER_DEDUP_${flagName(key).slice(2).replace(/-/g, "_").toUpperCase()}`;
}

/** The settings in force: defaults under the given ones. */
export function withDefaults(settings: ServeSettings): EffectiveSettings {
  const effective: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const spec = specOf(key);
    // Not `??`: a null (defaultNamespace: keep bare names local) is a value given.
    const value = settings[key] !== undefined ? settings[key] : spec.default;
    if (value !== undefined) effective[key] = value;
  }
  return effective as EffectiveSettings;
}
