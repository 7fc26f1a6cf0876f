import assert from "node:assert/strict";
import { randomBytes as cryptoRandomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, Socket, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { makeImage, OCI_MANIFEST, pushManifest, serveCli, type ServeProcess } from "../registry/harness.js";
import { linkCounters } from "./testbed.js";
import { tempDir } from "../helpers.js";
import { certificateAuthority, type CertificateFiles } from "../tls-certificates.js";

type TestContext = { after(fn: () => unknown): void };

/** One site's fixed settings: it keeps its store and ports across restarts. */
export interface SiteSpec {
  name: string;
  store: string;
  peerPort: number;
  /** Its own address (registry and peer API, and where its peer requests leave from); 127.0.0.1 unless in the testbed. */
  host: string;
  /** The peers it knows, by name and URL (a proxy's, in some tests). */
  peers: { name: string; url: string }[];
}

export interface SiteCluster {
  secretFile: string;
  secret: string;
  /** With `tls`: the sites' CA, and each site's certificate. */
  tls?: { ca: string; sites: Map<string, CertificateFiles>; issue(subject: string): Promise<CertificateFiles> };
  specs: Map<string, SiteSpec>;
  start(name: string, extraArgs?: string[]): Promise<ServeProcess>;
}

/** A free loopback port (free when asked; the sites bind theirs a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** In the testbed, site k (from 0) lives on this address, its registry on REGISTRY_PORT and its peer API on PEER_PORT. */
export const testbedAddress = (k: number) => `127.0.0.${k + 2}`;
export const REGISTRY_PORT = 5000;
export const PEER_PORT = 5001;

/**
 * Sites `names`, each knowing all the others, each with its own embedded store and peer port,
 * all sharing one secret. None is started; a test may reroute a link (a spec's peer URL) first.
 * `testbed`: site k on its own address testbedAddress(k) with fixed ports, as inside
 * scripts/sites/testbed.sh, where the link between two sites is shaped by their addresses.
 * `tls`: mutual TLS between the sites (one CA signs every site's certificate), https:// peer URLs.
 */
export async function siteCluster(t: TestContext, names: string[], options: { testbed?: boolean; tls?: boolean } = {}): Promise<SiteCluster> {
  const dir = await tempDir(t);
  const secret = cryptoRandomBytes(24).toString("hex");
  const secretFile = join(dir, "peer-secret");
  await writeFile(secretFile, `${secret}\n`);
  const hosts = new Map(names.map((name, k) => [name, options.testbed ? testbedAddress(k) : "127.0.0.1"]));
  const ports = new Map<string, number>();
  for (const name of names) ports.set(name, options.testbed ? PEER_PORT : await freePort());
  const specs = new Map<string, SiteSpec>();
  for (const name of names) {
    const peers = names
      .filter((other) => other !== name)
      .map((other) => ({ name: other, url: `${options.tls ? "https" : "http"}://${hosts.get(other)}:${ports.get(other)}` }));
    specs.set(name, { name, store: join(dir, name), peerPort: ports.get(name)!, host: hosts.get(name)!, peers });
  }
  let tls: SiteCluster["tls"];
  if (options.tls) {
    const ca = await certificateAuthority(dir, "sites-ca");
    const sites = new Map<string, CertificateFiles>();
    for (const name of names) sites.set(name, await ca.issue(`site-${name}`));
    tls = { ca: ca.cert, sites, issue: ca.issue };
  }
  return {
    secretFile,
    secret,
    ...(tls === undefined ? {} : { tls }),
    specs,
    start: (name, extraArgs = []) => {
      const spec = specs.get(name)!;
      const args = [
        "--store", spec.store,
        "--site", name,
        "--peer-listen", `${spec.host}:${spec.peerPort}`,
        "--peer-secret-file", secretFile,
        ...spec.peers.flatMap((peer) => ["--peer", `${peer.name}=${peer.url}`]),
        ...(tls === undefined ? [] : ["--peer-tls-cert", tls.sites.get(name)!.cert, "--peer-tls-key", tls.sites.get(name)!.key, "--peer-tls-ca", tls.ca]),
        ...extraArgs,
      ];
      return serveCli(t, args, { listen: options.testbed ? `${spec.host}:${REGISTRY_PORT}` : undefined, until: /site \S+: peer API on/ });
    },
  };
}

/**
 * Moves site `name`'s peers from flags to a config file that gives each link's first estimate
 * (`bandwidth`, Mbit/s); the site must then be started with `--config` and the returned file.
 */
export async function configureLinkEstimates(t: TestContext, cluster: SiteCluster, name: string, mbitPerSecond: number): Promise<string> {
  const config = join(await tempDir(t), `${name}.json`);
  const spec = cluster.specs.get(name)!;
  await writeFile(config, JSON.stringify({ peers: spec.peers.map((peer) => ({ ...peer, bandwidth: mbitPerSecond })) }));
  spec.peers = [];
  return config;
}

/** Stops a site as an operator would (SIGTERM) and waits for it to exit. */
export async function stopSite(site: ServeProcess): Promise<void> {
  site.child.kill("SIGTERM");
  assert.equal(await site.exited, 0, site.stderr());
}

/** How long a test waits for a change to reach another site before it fails: generous, the machine is busy (not a timing assertion). */
export const SITE_WAIT_MS = 60_000;

/** Pushes a single-manifest image of these layers as name:tag. */
export async function pushImage(url: string, name: string, tag: string, layers: Buffer[]): Promise<Awaited<ReturnType<typeof makeImage>>> {
  const image = await makeImage(url, name, { layers });
  const res = await pushManifest(url, name, tag, image.manifest, OCI_MANIFEST);
  assert.equal(res.status, 201, await res.text());
  return image;
}

/** In the testbed: bytes each shaped link carried so far, by "SRC>DST". */
export async function carried(): Promise<Map<string, number>> {
  return new Map((await linkCounters()).map((c) => [c.link, c.bytes]));
}

/** Bytes `link` carried between two readings of `carried`. */
export function delta(before: Map<string, number>, after: Map<string, number>, link: string): number {
  return (after.get(link) ?? 0) - (before.get(link) ?? 0);
}

/** Whether `url`'s repository `name` lists `tag`. */
export async function hasTag(url: string, name: string, tag: string): Promise<boolean> {
  const res = await fetch(`${url}/v2/${name}/tags/list`);
  if (res.status !== 200) {
    await res.arrayBuffer();
    return false;
  }
  return ((await res.json()) as { tags: string[] }).tags.includes(tag);
}

export async function getBytes(url: string, path: string, headers: Record<string, string> = {}): Promise<Buffer> {
  const res = await fetch(`${url}${path}`, { headers });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `GET ${path}: ${body.toString("utf8").slice(0, 300)}`);
  return body;
}

/**
 * A TCP proxy to `target` that sends the target's replies on at `bytesPerSecond` and counts
 * them: a slow link, without a network namespace. When the target dies, its connections are cut.
 */
export interface SlowLink {
  url: string;
  /** Reply bytes passed on so far. */
  readonly forwarded: number;
}

export async function slowLink(t: TestContext, targetPort: number, bytesPerSecond: number): Promise<SlowLink> {
  let forwarded = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    upstream.connect(targetPort, "127.0.0.1");
    client.pipe(upstream);
    upstream.on("data", (data: Buffer) => {
      upstream.pause();
      client.write(data);
      forwarded += data.length;
      setTimeout(() => upstream.resume(), (data.length / bytesPerSecond) * 1000);
    });
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on("close", cut).on("error", cut);
    client.on("close", cut).on("error", cut);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get forwarded() {
      return forwarded;
    },
  };
}
