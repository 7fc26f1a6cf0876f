import { z } from "zod";
import { DedupError } from "../errors.js";
import { httpUrl, parseTextWith, refusing, text } from "./value-schemas.js";

/**
 * Mirror mode's settings (registry/mirror.ts): the upstreams, given as `mirrors` entries in the
 * config file or `--upstream [NAMESPACE=]URL` flags, and how requests pick one.
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

export const DEFAULT_MANIFEST_TTL_SECONDS = 300;

/** Docker Hub's API host names all mean the `docker.io` namespace. */
const DOCKER_HUB_HOSTS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

const NAMESPACE_EXPECTED = "a registry host name, e.g. docker.io or localhost:5001";

/** A `mirrors` entry as the config file has it; the password of `passwordEnv` is looked up when the settings are used. */
export const mirrorEntrySchema = z
  .strictObject(
    {
      namespace: text(NAMESPACE_EXPECTED).refine((ns) => namespaceComponent(ns) !== undefined, { error: `expected ${NAMESPACE_EXPECTED}` }).optional(),
      upstream: text("the upstream's http:// or https:// URL").superRefine(refusing(upstreamUrlProblem)),
      username: text("a user name").optional(),
      password: text("a password").optional(),
      passwordEnv: text("the name of an environment variable holding the password").optional(),
    },
    { error: "expected a mirror: {namespace, upstream, username, password or passwordEnv}" },
  )
  .refine((entry) => (entry.username === undefined) === (entry.password === undefined && entry.passwordEnv === undefined), {
    error: "username and password (or passwordEnv) go together",
  })
  .transform((entry) => {
    const upstream = normalUpstream(entry.upstream);
    return { ...entry, namespace: (entry.namespace ?? namespaceOf(upstream)).toLowerCase(), upstream };
  });

/** `--upstream [NAMESPACE=]URL` as a `mirrors` entry, unchecked: a `=` before the URL's `://` ends the namespace. */
export function upstreamFromText(value: string): { namespace?: string; upstream: string } {
  const eq = value.indexOf("=");
  const schemeAt = value.indexOf("://");
  return eq !== -1 && (schemeAt === -1 || eq < schemeAt) ? { namespace: value.slice(0, eq), upstream: value.slice(eq + 1) } : { upstream: value };
}

/**
 * `--upstream [NAMESPACE=]URL`: without a namespace, the URL's host names it (`docker.io` for
 * Docker Hub's hosts), which is what containerd sends as `?ns=`.
 */
export function parseUpstreamFlag(value: string): MirrorEntry {
  const { namespace, upstream } = parseTextWith(mirrorEntrySchema, upstreamFromText(value), "--upstream", value);
  return { namespace, upstream };
}

/** Merges mirrors from flags and the file, checks them, and picks the default namespace. */
export function buildMirrorConfig(
  mirrors: MirrorEntry[],
  options: { defaultNamespace?: string | null | undefined; manifestTtlSeconds?: number | undefined },
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

function upstreamUrlProblem(value: string): string | undefined {
  const url = httpUrl(value);
  if (url === undefined) return "expected an http:// or https:// URL";
  if (url.username !== "" || url.password !== "") return "put credentials in username/password (or passwordEnv), not in the URL";
  if (url.search !== "" || url.hash !== "") return "expected a URL without query or fragment";
  return undefined;
}

function normalUpstream(value: string): string {
  return new URL(value).href.replace(/\/+$/, "");
}
