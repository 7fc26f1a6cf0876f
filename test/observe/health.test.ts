import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import bcrypt from "bcryptjs";
import { Authorizer } from "../../src/auth/authorizer.js";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { Policy } from "../../src/auth/policy.js";
import type { PeerView, Site } from "../../src/sites/site.js";
import { eventually } from "../helpers.js";
import { startRedis, type RedisServer } from "../redis/servers.js";
import { startObservedRegistry } from "./observed-registry.js";

/**
 * /healthz and /readyz as Kubernetes probes them: 200 or 503 with a short JSON reason, without
 * credentials; /readyz follows the store through an outage (a real Redis, killed and restarted).
 */

async function readyz(url: string): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`${url}/readyz`);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

test("/healthz, /readyz and /metrics answer without credentials beside a registry that wants them, GET and HEAD only", async (t) => {
  const users = Htpasswd.parse(`alice:${bcrypt.hashSync("pw", 4)}`);
  const authorizer = new Authorizer({ mode: "basic", realm: "docker-dedup", users, policy: Policy.parse({}) });
  const r = await startObservedRegistry(t, { registry: { auth: { authorizer } } });
  assert.equal((await fetch(`${r.url}/v2/`)).status, 401);
  const healthz = await fetch(`${r.url}/healthz`);
  assert.equal(healthz.status, 200);
  assert.equal(await healthz.text(), "ok\n");
  assert.deepEqual(await readyz(r.url), { status: 200, body: { status: "ready" } });
  assert.equal((await fetch(`${r.url}/metrics`)).status, 200);
  const head = await fetch(`${r.url}/metrics`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  const post = await fetch(`${r.url}/readyz`, { method: "POST" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await r.recorded(6);
  assert.deepEqual(
    r.records.map((record) => `${record.route} ${record.method} ${record.status}`),
    ["base GET 401", "healthz GET 200", "readyz GET 200", "metrics GET 200", "metrics HEAD 200", "readyz POST 405"],
  );
});

test("a site is ready once every peer answered, or failed, a first read of its change log; its links show in the metrics", async (t) => {
  const peers: PeerView[] = [
    { name: "lyon", bytesPerSecond: 12_500_000, fetchedBytes: 0, answered: undefined },
    { name: "oslo", bytesPerSecond: 3_000_000, fetchedBytes: 4096, answered: true },
  ];
  const site = { peers: () => peers.map((p) => ({ ...p })) } as unknown as Site;
  const r = await startObservedRegistry(t, { site });
  assert.deepEqual(await readyz(r.url), { status: 503, body: { status: "unready", reason: "waiting for the first answer of 1 peer" } });
  peers[0]!.answered = false;
  assert.deepEqual(await readyz(r.url), { status: 200, body: { status: "ready" } }, "a peer that is down does not keep the site from serving what it holds");
  assert.deepEqual(r.logs, ["not ready: waiting for the first answer of 1 peer", "ready again"]);
  const metrics = await r.scrape();
  assert.equal(metrics("docker_dedup_peer_link_bytes_per_second", { peer: "oslo" }), 3_000_000);
  assert.equal(metrics("docker_dedup_peer_fetched_bytes_total", { peer: "oslo" }), 4096);
  assert.equal(metrics("docker_dedup_peer_up", { peer: "lyon" }), 0);
  assert.equal(metrics("docker_dedup_peer_up", { peer: "oslo" }), 1);
});

let redis: RedisServer | undefined;
before(async () => void (redis = await startRedis({ durable: true })));
after(() => redis?.stop());

test("/readyz turns unready while the Redis store is down, and ready again once it is back", async (t) => {
  const r = await startObservedRegistry(t, { location: redis!.url });
  assert.deepEqual(await readyz(r.url), { status: 200, body: { status: "ready" } });
  await redis!.nodes[0]!.kill();
  const down = await eventually(async () => {
    const answer = await readyz(r.url);
    assert.equal(answer.status, 503);
    return answer.body;
  });
  assert.equal(down.status, "unready");
  assert.match(down.reason ?? "", /^the store (failed a write, read or delete|did not answer within \d+ ms|has not answered an earlier check yet)$/);
  assert.doesNotMatch(down.reason ?? "", /127\.0\.0\.1/, "the probe's answer names no address; the log does");
  assert.equal((await fetch(`${r.url}/healthz`)).status, 200, "the process itself is fine: no restart wanted");
  await redis!.nodes[0]!.restart();
  await eventually(async () => assert.equal((await readyz(r.url)).status, 200), 20_000);
  assert.match(r.logs.join("\n"), /^not ready: the store .+\n(.*\n)*ready again$/m);
  const metrics = await r.scrape();
  assert.ok(metrics("docker_dedup_store_errors_total") >= 1, "the failed calls were counted");
});
