import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { BlobParts, BlobService } from "../../src/layers/blob-service.js";
import { Observability, type ObserveSettings } from "../../src/observe/observability.js";
import { createRegistryServer, type RegistryOptions } from "../../src/registry/app.js";
import type { RequestRecord } from "../../src/registry/request-record.js";
import type { Site } from "../../src/sites/site.js";
import { openStore } from "../../src/store/open.js";
import { eventually, tempDir } from "../helpers.js";

export interface ObservedRegistry {
  url: string;
  observe: Observability;
  blobs: BlobService;
  /** Every request's record, as the metrics got it. */
  records: RequestRecord[];
  logs: string[];
  /** Waits until `count` requests have been recorded in all: a response's record comes when the server closes it, which may be a moment after the client read it. */
  recorded(count: number): Promise<void>;
  /** The metrics now: the value of one series (0 if absent), `labels` a subset of its labels; several series that match add up. */
  scrape(): Promise<(name: string, labels?: Record<string, string>) => number>;
}

/** A registry as serve wires it (observe/observability.ts), on `location` (default: a fresh embedded store); stopped when the test ends. */
export async function startObservedRegistry(
  t: { after(fn: () => unknown): void },
  options: { location?: string; settings?: ObserveSettings; registry?: Omit<RegistryOptions, "store" | "blobs" | "log">; site?: Site } = {},
): Promise<ObservedRegistry> {
  const logs: string[] = [];
  const log = (line: string) => logs.push(line);
  const observe = new Observability(options.settings ?? {}, log);
  const store = observe.watchStore(await openStore(options.location ?? join(await tempDir(t), "store"), { create: true }));
  const parts = new BlobParts({ chunkCacheBytes: 64 << 20 });
  const blobs = new BlobService(store, parts);
  const records: RequestRecord[] = [];
  const wired = observe.registryOptions();
  const onRequest = (record: RequestRecord) => {
    wired.onRequest(record);
    records.push(record);
  };
  const registry = createRegistryServer({ ...options.registry, store, blobs, log, endpoints: wired.endpoints, onRequest });
  await new Promise<void>((resolve) => registry.server.listen(0, "127.0.0.1", resolve));
  await observe.start({ parts, blobs, registry, site: options.site });
  t.after(async () => {
    registry.server.closeAllConnections();
    await registry.close();
    await observe.close();
    await parts.close();
    await store.close();
  });
  const url = `http://127.0.0.1:${(registry.server.address() as AddressInfo).port}`;
  return {
    url,
    observe,
    blobs,
    records,
    logs,
    recorded: (count) => eventually(async () => assert.ok(records.length >= count, `${records.length} of ${count} requests recorded`)),
    scrape: async () => {
      const res = await fetch(`${url}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      return reader(await res.text());
    },
  };
}

/** Prometheus' text format, read into a lookup by name and a subset of labels. */
export function reader(text: string): (name: string, labels?: Record<string, string>) => number {
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(match, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return (name, wanted = {}) =>
    samples.filter((s) => s.name === name && Object.entries(wanted).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}
