import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { PlainEndpoint } from "../registry/app.js";
import type { Readiness } from "./readiness.js";

/**
 * The operator's endpoints, as Kubernetes and Prometheus expect them: `/healthz` (the process
 * answers: 200), `/readyz` (200, or 503 with a short JSON reason, see readiness.ts) and
 * `/metrics` (Prometheus' text format). They carry no credentials, so they sit outside /v2/ and
 * its auth, and tell nothing of repositories or users.
 */
export function healthEndpoints(readiness: Readiness): [string, PlainEndpoint][] {
  return [
    ["/healthz", { name: "healthz", answer: async (req, res) => answer(req, res, 200, "text/plain; charset=utf-8", "ok\n") }],
    [
      "/readyz",
      {
        name: "readyz",
        answer: async (req, res) => {
          const state = await readiness.check();
          const body = state.ready ? { status: "ready" } : { status: "unready", reason: state.reason };
          answer(req, res, state.ready ? 200 : 503, "application/json; charset=utf-8", `${JSON.stringify(body)}\n`);
        },
      },
    ],
  ];
}

export function metricsEndpoint(register: Registry): [string, PlainEndpoint] {
  return ["/metrics", { name: "metrics", answer: async (req, res) => answer(req, res, 200, register.contentType, await register.metrics()) }];
}

/** GET and HEAD only; never cached (each answer is of now). */
function answer(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { Allow: "GET, HEAD", "Content-Length": "0" });
    res.end();
    return;
  }
  const bytes = Buffer.from(body);
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": String(bytes.length), "Cache-Control": "no-store" });
  res.end(req.method === "HEAD" ? undefined : bytes);
}

/**
 * `--metrics-listen`: the endpoints on a plain HTTP listener of their own, as CNCF distribution
 * serves its metrics on a debug address, so that they can stay off the registry's public port.
 */
export function createOpsServer(endpoints: ReadonlyMap<string, PlainEndpoint>, log: (line: string) => void): Server {
  return createServer((req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0]!;
    const endpoint = endpoints.get(path);
    if (endpoint === undefined) {
      answer(req, res, 404, "text/plain; charset=utf-8", `no such endpoint; try ${[...endpoints.keys()].join(", ")}\n`);
      return;
    }
    endpoint.answer(req, res).catch((error: unknown) => {
      log(`${path}: ${(error as Error).message}`);
      res.destroy();
    });
  });
}
