import { once } from "node:events";
import { createServer, get, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { type LinkCounter, linkCounters, setLinks } from "./testbed.js";

/**
 * Runs inside the testbed: an HTTP server on each server site's address sends N bytes, and
 * one client on its own address fetches from all of them at once, noting when each piece
 * arrives; links can be changed once so many bytes have arrived. Then it reads the link
 * counters and prints everything as one JSON report on stdout. Started as
 *   node --input-type=module -e 'await (await import(URL)).main(process.argv.slice(1))' SPEC_JSON
 * so that importing this module does nothing.
 */
export interface ProbeSpec {
  /** The fetching site's address. */
  readonly client: string;
  readonly flows: readonly { readonly server: string; readonly bytes: number }[];
  /** `testbed.sh link LINK` once the flows together received `afterBytes` (by bytes, not time: the machine may be slow). */
  readonly changes?: readonly { readonly afterBytes: number; readonly link: string }[];
}

export interface ChangeReport {
  readonly link: string;
  /** Seconds since the fetches started: when `testbed.sh link` started, and when it was done. */
  readonly requestedAt: number;
  readonly appliedAt: number;
}

export interface FlowReport {
  readonly server: string;
  readonly bytes: number;
  /** [seconds since the fetches started, bytes received so far], one per piece received. */
  readonly arrivals: [number, number][];
}

export interface ProbeReport {
  readonly flows: FlowReport[];
  readonly changes: ChangeReport[];
  readonly counters: LinkCounter[];
}

const BLOCK = Buffer.alloc(1 << 20, 0x5a);

export async function main(args: string[]): Promise<void> {
  const report = await probe(JSON.parse(args[0]!) as ProbeSpec);
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

async function probe(spec: ProbeSpec): Promise<ProbeReport> {
  const servers = await Promise.all(
    [...new Set(spec.flows.map((flow) => flow.server))].map(async (address) => {
      const server = createServer((request, response) => void send(response, Number(request.url!.slice(1))));
      server.listen(0, address);
      await once(server, "listening");
      return { address, server, port: (server.address() as AddressInfo).port };
    }),
  );
  try {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    const pending = [...(spec.changes ?? [])].sort((a, b) => a.afterBytes - b.afterBytes);
    const changes: Promise<ChangeReport>[] = [];
    let received = 0;
    const onData = (bytes: number) => {
      received += bytes;
      while (pending.length > 0 && received >= pending[0]!.afterBytes) {
        const { link } = pending.shift()!;
        const requestedAt = seconds();
        changes.push(setLinks(link).then(() => ({ link, requestedAt, appliedAt: seconds() })));
      }
    };
    const flows = await Promise.all(
      spec.flows.map((flow) => fetchBytes(spec.client, servers.find((s) => s.address === flow.server)!.port, flow.server, flow.bytes, seconds, onData)),
    );
    return { flows, changes: await Promise.all(changes), counters: await linkCounters() };
  } finally {
    for (const { server } of servers) server.close();
  }
}

async function send(response: ServerResponse, bytes: number): Promise<void> {
  response.writeHead(200, { "content-length": bytes });
  for (let left = bytes; left > 0; left -= BLOCK.length) {
    if (!response.write(BLOCK.subarray(0, Math.min(left, BLOCK.length)))) await once(response, "drain");
  }
  response.end();
}

function fetchBytes(
  client: string,
  port: number,
  server: string,
  bytes: number,
  seconds: () => number,
  onData: (bytes: number) => void,
): Promise<FlowReport> {
  return new Promise((resolve, reject) => {
    const arrivals: [number, number][] = [];
    let received = 0;
    get({ host: server, port, path: `/${bytes}`, localAddress: client, agent: false }, (response: IncomingMessage) => {
      response.on("data", (piece: Buffer) => {
        received += piece.length;
        arrivals.push([seconds(), received]);
        onData(piece.length);
      });
      response.on("end", () => resolve({ server, bytes: received, arrivals }));
      response.on("error", reject);
    }).on("error", reject);
  });
}
