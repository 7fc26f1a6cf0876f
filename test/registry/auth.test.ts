import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { Authorizer } from "../../src/auth/authorizer.js";
import { Htpasswd } from "../../src/auth/htpasswd.js";
import { Policy } from "../../src/auth/policy.js";
import { trustedKeyOf } from "../../src/auth/keys.js";
import { createTokenHandler } from "../../src/auth/token-endpoint.js";
import { issueToken } from "../../src/auth/token.js";
import type { RegistryAuth } from "../../src/registry/context.js";
import { createRegistryServer } from "../../src/registry/app.js";
import type { RequestRecord } from "../../src/registry/request-record.js";
import { createSeedApiServer, pullableBlobs } from "../../src/registry/seed-api.js";
import { ecKey } from "../auth/fixtures.js";
import { tempDir } from "../helpers.js";
import { errorOf, expectError, makeImage, OCI_MANIFEST, pushBlob, sha256, startRegistry, uploadRecordsIn, type TestRegistry } from "./harness.js";

/**
 * Auth wired into the registry (src/registry/access.ts): every /v2/ request is authorized before
 * its handler, in basic and in token mode, with the built-in token service at the realm's path.
 * Content is put in place through a second, open server over the same store (`openDoor`), so the
 * tests only send credentials where they test them.
 */

const NOW = Date.UTC(2025, 0, 1, 8, 30);
const USERS = Htpasswd.parse(["alice", "bob", "carol"].map((user) => `${user}:${bcrypt.hashSync(`${user}-pw`, 4)}`).join("\n"));
const POLICY = Policy.parse({
  anonymousPull: ["public/**"],
  rules: [
    { repositories: ["alice/**", "public/**"], users: ["alice"], actions: ["*"] },
    { repositories: ["bob/**"], users: ["bob"], actions: ["pull", "push"] },
    { repositories: ["carol/**"], users: ["carol"], actions: ["pull", "push"] },
  ],
  catalog: { users: ["*"] },
});
const KEY = ecKey();
const REALM = "http://registry.test/auth/token";
const SERVICE = "registry.test";

const basic = (user: string, password = `${user}-pw`) => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
const as = (authorization: string | undefined, init: RequestInit = {}): RequestInit => ({ ...init, headers: { ...(init.headers as Record<string, string>), ...(authorization === undefined ? {} : { Authorization: authorization }) } });

function basicAuth(): RegistryAuth {
  return { authorizer: new Authorizer({ mode: "basic", realm: "docker-dedup", users: USERS, policy: POLICY }) };
}

function tokenAuth(): RegistryAuth {
  return {
    authorizer: new Authorizer({ mode: "token", realm: REALM, service: SERVICE, issuer: SERVICE, keys: [trustedKeyOf(KEY)], policy: POLICY }),
    tokenService: { path: "/auth/token", handler: createTokenHandler({ service: SERVICE, issuer: SERVICE, realm: "docker-dedup", users: USERS, policy: POLICY, key: KEY }) },
  };
}

/** An open server over the registry's store: how the tests put content in place without credentials. */
async function openDoor(t: { after(fn: () => unknown): void }, registry: TestRegistry): Promise<string> {
  const door = createRegistryServer({ store: registry.store, blobs: registry.blobs, log: (line) => registry.logs.push(line) });
  await new Promise<void>((resolve) => door.server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    door.server.closeAllConnections();
    await door.close();
  });
  return `http://127.0.0.1:${(door.server.address() as AddressInfo).port}`;
}

/** An image pushed (through the open door) to `name:tag`; its blobs and manifest digest. */
async function image(door: string, name: string, layer: string): Promise<{ digest: string; blobs: string[] }> {
  const made = await makeImage(door, name, { layers: [Buffer.from(layer)] });
  const res = await fetch(`${door}/v2/${name}/manifests/v1`, { method: "PUT", body: made.manifest, headers: { "Content-Type": OCI_MANIFEST } });
  assert.equal(res.status, 201);
  return made;
}

test("basic mode: /v2/ asks for credentials, and the refusals carry the spec's codes and a Basic challenge", async (t) => {
  const registry = await startRegistry(t, { auth: basicAuth() });
  const door = await openDoor(t, registry);
  const secret = await image(door, "alice/private", "alice's layer");

  const ping = await fetch(`${registry.url}/v2/`);
  assert.equal(ping.status, 401);
  assert.equal(ping.headers.get("www-authenticate"), 'Basic realm="docker-dedup"');
  assert.equal((await errorOf(ping)).code, "UNAUTHORIZED");
  assert.equal((await fetch(`${registry.url}/v2/`, as(basic("bob")))).status, 200, "docker login: good credentials");
  await expectError(await fetch(`${registry.url}/v2/`, as(basic("bob", "wrong"))), 401, "UNAUTHORIZED");

  const manifest = `${registry.url}/v2/alice/private/manifests/v1`;
  assert.equal((await fetch(manifest, as(basic("alice")))).status, 200);
  const denied = await fetch(manifest, as(basic("bob")));
  assert.equal(denied.status, 403, "good credentials that are not enough");
  assert.equal(denied.headers.get("www-authenticate"), null);
  const deniedError = await errorOf(denied);
  assert.equal(deniedError.code, "DENIED");
  assert.deepEqual(deniedError.detail, { access: [{ type: "repository", name: "alice/private", action: "pull" }] });
  const anonymous = await fetch(manifest);
  assert.equal(anonymous.status, 401);
  assert.equal(anonymous.headers.get("www-authenticate"), 'Basic realm="docker-dedup"');
  await expectError(await fetch(manifest, as(basic("alice", "wrong"))), 401, "UNAUTHORIZED");
  await expectError(await fetch(manifest, as(basic("mallory"))), 401, "UNAUTHORIZED");

  // HEAD and GET of a blob need pull on that repository; the blob's bytes being in the store for
  // another one changes nothing (the link check scopes blobs to repositories).
  const layer = secret.blobs[1]!;
  assert.equal((await fetch(`${registry.url}/v2/alice/private/blobs/${layer}`, as(basic("alice"), { method: "HEAD" }))).status, 200);
  assert.equal((await fetch(`${registry.url}/v2/alice/private/blobs/${layer}`, as(basic("bob"), { method: "HEAD" }))).status, 403);
  await expectError(await fetch(`${registry.url}/v2/bob/app/blobs/${layer}`, as(basic("bob"))), 404, "BLOB_UNKNOWN");

  // Writes need push, deletes delete: bob may push to bob/**, never delete.
  const pushed = await fetch(`${registry.url}/v2/bob/app/blobs/uploads/?digest=${sha256("bob's")}`, as(basic("bob"), { method: "POST", body: "bob's" }));
  assert.equal(pushed.status, 201);
  await expectError(await fetch(`${registry.url}/v2/bob/app/blobs/${sha256("bob's")}`, as(basic("bob"), { method: "DELETE" })), 403, "DENIED");
  await expectError(await fetch(`${registry.url}/v2/alice/private/manifests/v1`, as(undefined, { method: "DELETE" })), 401, "UNAUTHORIZED");
  assert.equal((await fetch(`${registry.url}/v2/alice/private/manifests/${secret.digest}`, as(basic("alice"), { method: "DELETE" }))).status, 202);

  // A bad name is NAME_INVALID before auth is asked, as distribution answers.
  await expectError(await fetch(`${registry.url}/v2/Bad/manifests/v1`), 400, "NAME_INVALID");
  assert.deepEqual(registry.logs, []);
});

test("anonymous pull where the policy allows it, and nothing more", async (t) => {
  const registry = await startRegistry(t, { auth: basicAuth() });
  const door = await openDoor(t, registry);
  const pub = await image(door, "public/tools", "a public layer");
  assert.equal((await fetch(`${registry.url}/v2/public/tools/manifests/v1`)).status, 200);
  assert.equal((await fetch(`${registry.url}/v2/public/tools/blobs/${pub.blobs[1]}`)).status, 200);
  assert.equal((await fetch(`${registry.url}/v2/public/tools/tags/list`)).status, 200);
  // skopeo and podman send an empty user and password when they have none: anonymous too.
  assert.equal((await fetch(`${registry.url}/v2/public/tools/manifests/v1`, as("Basic Og=="))).status, 200);
  await expectError(await fetch(`${registry.url}/v2/public/tools/blobs/uploads/`, { method: "POST" }), 401, "UNAUTHORIZED");
  await expectError(await fetch(`${registry.url}/v2/public/tools/manifests/v1`, { method: "DELETE" }), 401, "UNAUTHORIZED");
  await expectError(await fetch(`${registry.url}/v2/_catalog`), 401, "UNAUTHORIZED");
});

test("a cross-repository mount from a repository the caller cannot pull becomes an upload session", async (t) => {
  const registry = await startRegistry(t, { auth: basicAuth() });
  const door = await openDoor(t, registry);
  const layer = (await image(door, "alice/private", "the secret layer")).blobs[1]!;

  const refused = await fetch(`${registry.url}/v2/bob/app/blobs/uploads/?mount=${layer}&from=alice/private`, as(basic("bob"), { method: "POST" }));
  assert.equal(refused.status, 202, "a fresh session, as the spec lets a registry answer a mount it will not do");
  assert.match(refused.headers.get("location") ?? "", /^\/v2\/bob\/app\/blobs\/uploads\/[0-9a-f-]{36}$/);
  await expectError(await fetch(`${registry.url}/v2/bob/app/blobs/${layer}`, as(basic("bob"), { method: "GET" })), 404, "BLOB_UNKNOWN");
  // The same answer as for a digest the source does not have: nothing tells the two apart.
  const missing = await fetch(`${registry.url}/v2/bob/app/blobs/uploads/?mount=${sha256("nothing")}&from=bob/other`, as(basic("bob"), { method: "POST" }));
  assert.equal(missing.status, 202);

  const allowed = await fetch(`${registry.url}/v2/alice/copy/blobs/uploads/?mount=${layer}&from=alice/private`, as(basic("alice"), { method: "POST" }));
  assert.equal(allowed.status, 201, "alice may pull her own repository: mounted");
  assert.equal((await fetch(`${registry.url}/v2/alice/copy/blobs/${layer}`, as(basic("alice")))).status, 200);

  // A completed upload of the same bytes is the caller's own: it links them (they sent them).
  const bytes = Buffer.from("the secret layer");
  assert.equal(sha256(bytes), layer);
  const uploaded = await fetch(`${registry.url}/v2/bob/app/blobs/uploads/?digest=${layer}`, as(basic("bob"), { method: "POST", body: bytes }));
  assert.equal(uploaded.status, 201);
  // Without the bytes, a digest alone gets nothing: an empty upload finished under it is refused.
  const session = (await fetch(`${registry.url}/v2/bob/other/blobs/uploads/`, as(basic("bob"), { method: "POST" }))).headers.get("location")!;
  await expectError(await fetch(`${registry.url}${session}?digest=${layer}`, as(basic("bob"), { method: "PUT" })), 400, "DIGEST_INVALID");
  await expectError(await fetch(`${registry.url}/v2/bob/other/blobs/${layer}`, as(basic("bob"))), 404, "BLOB_UNKNOWN");
  // Nor does naming it in a manifest: references must be blobs of the repository itself.
  const config = await pushBlob(door, "bob/other", Buffer.from("{}"));
  const manifest = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: config, size: 2 }, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layer, size: bytes.length }] });
  const put = await fetch(`${registry.url}/v2/bob/other/manifests/v1`, as(basic("bob"), { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } }));
  await expectError(put, 400, "MANIFEST_BLOB_UNKNOWN");
});

test("the catalog lists only what the caller may pull; a page may come out short, its Link goes on", async (t) => {
  const registry = await startRegistry(t, { auth: basicAuth() });
  const door = await openDoor(t, registry);
  for (const name of ["alice/a", "bob/a", "bob/b", "carol/a", "public/a"]) await pushBlob(door, name, Buffer.from(name));
  const page = async (user: string, query: string) => {
    const res = await fetch(`${registry.url}/v2/_catalog${query}`, as(basic(user)));
    assert.equal(res.status, 200);
    return { names: ((await res.json()) as { repositories: string[] }).repositories, link: res.headers.get("link") };
  };
  assert.deepEqual((await page("bob", "")).names, ["bob/a", "bob/b", "public/a"]);
  assert.deepEqual(await page("bob", "?n=1"), { names: [], link: '</v2/_catalog?n=1&last=alice%2Fa>; rel="next"' });
  assert.deepEqual(await page("bob", "?n=2"), { names: ["bob/a"], link: '</v2/_catalog?n=2&last=bob%2Fa>; rel="next"' });
  assert.deepEqual(await page("bob", "?n=2&last=bob%2Fa"), { names: ["bob/b"], link: '</v2/_catalog?n=2&last=carol%2Fa>; rel="next"' });
  assert.deepEqual(await page("bob", "?n=2&last=carol%2Fa"), { names: ["public/a"], link: null });
  assert.deepEqual((await page("alice", "")).names, ["alice/a", "public/a"]);
});

test("upload sessions are capped per user: a user at the cap does not hold back another from the same address", async (t) => {
  const registry = await startRegistry(t, { auth: basicAuth(), uploads: { maxSessionsPerClient: 2, maxSessions: 100 } });
  const open = (user: string, name: string) => fetch(`${registry.url}/v2/${name}/blobs/uploads/`, as(basic(user), { method: "POST" }));
  for (let i = 0; i < 2; i++) assert.equal((await open("bob", "bob/app")).status, 202);
  const over = await open("bob", "bob/other");
  assert.equal(over.status, 429);
  assert.equal((await errorOf(over)).code, "TOOMANYREQUESTS");
  assert.equal((await open("carol", "carol/app")).status, 202, "another user on the same address still pushes");
  assert.equal(await uploadRecordsIn(registry.store), 3);
});

test("a request's record (the access log's, the metrics') names the user", async (t) => {
  const records: RequestRecord[] = [];
  const registry = await startRegistry(t, { auth: basicAuth(), onRequest: (record) => records.push(record) });
  const done = new Promise<void>((resolve) => registry.server.server.once("request", (_req, res) => res.once("close", () => setImmediate(resolve))));
  const res = await fetch(`${registry.url}/v2/`, as(basic("carol")));
  assert.equal(res.status, 200);
  const requestId = res.headers.get("x-request-id");
  assert.match(requestId ?? "", /^[0-9a-f-]{36}$/);
  await done;
  assert.deepEqual(
    records.map(({ id, user, method, target, status, bytesIn, bytesOut, client }) => ({ id, user, method, target, status, bytesIn, bytesOut, client })),
    [{ id: requestId, user: "carol", method: "GET", target: "/v2/", status: 200, bytesIn: 0, bytesOut: 2, client: "127.0.0.1" }],
  );
});

/** A token from the built-in service at `registry`, as docker gets one (GET with Basic credentials). */
async function tokenFor(registry: TestRegistry, user: string | undefined, scopes: string[]): Promise<string> {
  const query = new URLSearchParams({ service: SERVICE });
  for (const scope of scopes) query.append("scope", scope);
  const res = await fetch(`${registry.url}/auth/token?${query}`, as(user === undefined ? undefined : basic(user)));
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { token: string; issued_at: string };
  assert.equal(body.issued_at, new Date(NOW).toISOString(), "issued by the registry's clock");
  return `Bearer ${body.token}`;
}

test("token mode: challenges name realm, service and scope; the built-in token service answers at the realm's path", async (t) => {
  let clock = NOW;
  const registry = await startRegistry(t, { auth: tokenAuth(), now: () => clock });
  const door = await openDoor(t, registry);
  const secret = await image(door, "alice/private", "alice's token layer");
  const pub = await image(door, "public/tools", "a public token layer");
  const challenge = `Bearer realm="${REALM}",service="${SERVICE}"`;

  const ping = await fetch(`${registry.url}/v2/`);
  assert.equal(ping.status, 401);
  assert.equal(ping.headers.get("www-authenticate"), challenge);
  assert.equal((await errorOf(ping)).code, "UNAUTHORIZED");
  const pull = await fetch(`${registry.url}/v2/alice/private/manifests/v1`, as(basic("alice")));
  assert.equal(pull.status, 401, "Basic credentials are for the token service");
  assert.equal(pull.headers.get("www-authenticate"), `${challenge},scope="repository:alice/private:pull"`);

  const alice = await tokenFor(registry, "alice", ["repository:alice/private:pull,push"]);
  assert.equal((await fetch(`${registry.url}/v2/alice/private/manifests/v1`, as(alice))).status, 200);
  assert.equal((await fetch(`${registry.url}/v2/alice/private/blobs/${secret.blobs[1]}`, as(alice))).status, 200);

  // bob asks for alice's repository and gets a token without it: the registry refuses (401, as
  // distribution answers in token mode, with insufficient_scope).
  const bob = await tokenFor(registry, "bob", ["repository:alice/private:pull"]);
  const refused = await fetch(`${registry.url}/v2/alice/private/manifests/v1`, as(bob));
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("www-authenticate"), `${challenge},scope="repository:alice/private:pull",error="insufficient_scope"`);
  assert.equal((await errorOf(refused)).code, "UNAUTHORIZED");

  const anonymous = await tokenFor(registry, undefined, ["repository:public/tools:pull"]);
  assert.equal((await fetch(`${registry.url}/v2/public/tools/blobs/${pub.blobs[1]}`, as(anonymous))).status, 200, "anonymous pull where the policy allows it");
  assert.equal((await fetch(`${registry.url}/v2/`, as(anonymous))).status, 200);

  const wrong = await fetch(`${registry.url}/auth/token?service=${SERVICE}`, as(basic("alice", "wrong")));
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("www-authenticate"), 'Basic realm="docker-dedup"');

  // containerd's OAuth2 POST form.
  const form = new URLSearchParams({ grant_type: "password", username: "bob", password: "bob-pw", service: SERVICE, scope: "repository:bob/app:pull,push", client_id: "containerd-client" });
  const posted = await fetch(`${registry.url}/auth/token`, { method: "POST", body: form, headers: { "Content-Type": "application/x-www-form-urlencoded" } });
  assert.equal(posted.status, 200);
  const postedBody = (await posted.json()) as { access_token: string; scope: string };
  assert.equal(postedBody.scope, "repository:bob/app:pull,push");
  const bobPush = `Bearer ${postedBody.access_token}`;
  assert.equal((await fetch(`${registry.url}/v2/bob/app/blobs/uploads/?digest=${sha256("b")}`, as(bobPush, { method: "POST", body: "b" }))).status, 201);
  const tooLarge = await fetch(`${registry.url}/auth/token`, { method: "POST", body: "x".repeat(20_000), headers: { "Content-Type": "application/x-www-form-urlencoded" } });
  assert.equal(tooLarge.status, 413);

  // Tokens expire by the registry's clock (the 60 s leeway past their 300 s).
  clock = NOW + 361_000;
  const expired = await fetch(`${registry.url}/v2/alice/private/manifests/v1`, as(alice));
  assert.equal(expired.status, 401);
  assert.match(expired.headers.get("www-authenticate") ?? "", /error="invalid_token"$/);
  assert.deepEqual(registry.logs, []);
});

test("token mode: a mount from a repository the token does not grant pull on becomes an upload session", async (t) => {
  const registry = await startRegistry(t, { auth: tokenAuth(), now: () => NOW });
  const door = await openDoor(t, registry);
  const layer = (await image(door, "alice/private", "a layer to mount")).blobs[1]!;
  const mount = `/v2/bob/app/blobs/uploads/?mount=${layer}&from=alice%2Fprivate`;
  const challenge = await fetch(`${registry.url}${mount}`, { method: "POST" });
  assert.equal(challenge.headers.get("www-authenticate"), `Bearer realm="${REALM}",service="${SERVICE}",scope="repository:bob/app:pull,push repository:alice/private:pull"`);
  const bob = await tokenFor(registry, "bob", ["repository:bob/app:pull,push", "repository:alice/private:pull"]);
  assert.equal((await fetch(`${registry.url}${mount}`, as(bob, { method: "POST" }))).status, 202);
  await expectError(await fetch(`${registry.url}/v2/bob/app/blobs/${layer}`, as(bob)), 404, "BLOB_UNKNOWN");
  const alice = await tokenFor(registry, "alice", ["repository:alice/copy:pull,push", "repository:alice/private:pull"]);
  assert.equal((await fetch(`${registry.url}/v2/alice/copy/blobs/uploads/?mount=${layer}&from=alice%2Fprivate`, as(alice, { method: "POST" }))).status, 201);
});

test("token mode: a token from a key the registry does not trust is refused", async (t) => {
  const registry = await startRegistry(t, { auth: tokenAuth(), now: () => NOW });
  const forged = issueToken({ issuer: SERVICE, service: SERVICE, subject: "alice", access: [{ type: "repository", name: "alice/private", actions: ["pull"] }], ttlSeconds: 300, key: ecKey(), now: NOW });
  const res = await fetch(`${registry.url}/v2/alice/private/tags/list`, as(`Bearer ${forged.token}`));
  assert.equal(res.status, 401);
  assert.match(res.headers.get("www-authenticate") ?? "", /error="invalid_token"$/);
});

test("the seed API answers only for blobs of repositories anonymous users may pull", async (t) => {
  const registry = await startRegistry(t, { auth: basicAuth() });
  const door = await openDoor(t, registry);
  const secret = (await image(door, "alice/private", "seed secret")).blobs[1]!;
  const pub = (await image(door, "public/tools", "seed public")).blobs[1]!;
  const downloads = await tempDir(t);
  const mayPull = (name: string) => POLICY.allowedActions(undefined, name, ["pull"]).length > 0;
  const seed = createSeedApiServer({ blobs: registry.blobs, checkoutDir: downloads, mayServe: pullableBlobs(registry.server.registry.meta, mayPull) });
  await new Promise<void>((resolve) => seed.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => seed.close(() => resolve())));
  /** "status body" of a seed API call about `digest`. */
  const answer = async (call: string, digest: string, path = "") => {
    const res = await fetch(`http://127.0.0.1:${(seed.address() as AddressInfo).port}/${call}?uuid=${digest.slice("sha256:".length)}${path}`);
    return `${res.status} ${await res.text()}`;
  };
  assert.equal(await answer("is_available", pub), "200 True");
  assert.equal(await answer("is_available", secret), "200 False");
  assert.equal(await answer("checkout", pub, "&path=pub"), "200 True");
  assert.equal(await answer("checkout", secret, "&path=secret"), "404 False", "as a blob the store lacks");
});
