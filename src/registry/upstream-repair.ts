import { namespaceComponent, type MirrorConfig } from "../config/serve-config.js";
import type { WholeBlobSource } from "../layers/repair.js";
import type { MetadataStore } from "../store/types.js";
import { RegistryMetadata } from "./metadata.js";
import { UpstreamClient } from "./upstream.js";

/**
 * A mirror's upstreams as a source for `verify --repair`: a blob a mirrored repository links
 * (`<namespace>/<upstream name>`, see mirror.ts) is fetched again from that repository upstream.
 * The bytes are not trusted: the repair keeps only chunks that hash to their ids.
 */
export function upstreamRepairSource(meta: MetadataStore, mirror: MirrorConfig): WholeBlobSource {
  const upstreams = mirror.mirrors.map((entry) => ({ component: `${namespaceComponent(entry.namespace)}/`, client: new UpstreamClient(entry) }));
  return {
    name: `upstream ${mirror.mirrors.map((m) => m.upstream).join(", ")}`,
    async blob(digest) {
      for await (const link of new RegistryMetadata(meta).scanBlobLinks()) {
        if (link.digest !== digest) continue;
        const local = link.repository;
        const upstream = upstreams.find((u) => local.startsWith(u.component));
        if (upstream === undefined) continue;
        const res = await upstream.client.request("GET", local.slice(upstream.component.length), `blobs/${digest}`);
        if (res.ok && res.body !== null) return res.body as AsyncIterable<Uint8Array>;
        await res.body?.cancel().catch(() => undefined);
      }
      return undefined;
    },
  };
}
