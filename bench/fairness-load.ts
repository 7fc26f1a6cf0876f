/**
 * The load of bench/fairness.ts: CLIENTS loops, each GETting the given layers one after another
 * for ever and throwing the bytes away; on SIGTERM it prints the MB/s it received and exits.
 *
 *   node dist/bench/fairness-load.js URL REPO CLIENTS DIGEST...
 */
import { Agent, request } from "node:http";

const [url, repo, clientsText, ...digests] = process.argv.slice(2);
const clients = Number(clientsText);
const agent = new Agent({ keepAlive: true, maxSockets: clients });
let bytes = 0;
const started = performance.now();
let stopping = false;

function get(digest: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(`${url}/v2/${repo}/blobs/${digest}`, { agent }, (res) => {
      res.on("data", (piece: Buffer) => (bytes += piece.length));
      res.on("end", () => resolve());
      res.on("error", () => resolve());
    });
    req.on("error", () => setTimeout(resolve, 100));
    req.end();
  });
}

async function client(index: number): Promise<void> {
  for (let i = index; !stopping; i++) await get(digests[i % digests.length]!);
}

process.on("SIGTERM", () => {
  stopping = true;
  process.stdout.write(`MB/s ${(bytes / 1e6 / ((performance.now() - started) / 1000)).toFixed(1)}\n`);
  process.exit(0);
});

for (let i = 0; i < clients; i++) void client(i);
