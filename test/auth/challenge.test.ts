import assert from "node:assert/strict";
import { test } from "node:test";
import { basicChallenge, bearerChallenge, parseAuthorization } from "../../src/auth/challenge.js";

const basic = (text: string) => `Basic ${Buffer.from(text).toString("base64")}`;

test("challenges are written as distribution writes them", () => {
  assert.equal(basicChallenge("docker-dedup"), 'Basic realm="docker-dedup"');
  assert.equal(bearerChallenge({ realm: "https://r.example/auth/token", service: "r.example" }), 'Bearer realm="https://r.example/auth/token",service="r.example"');
  assert.equal(
    bearerChallenge({
      realm: "https://r.example/auth/token",
      service: "r.example",
      scopes: [
        { type: "repository", name: "samalba/my-app", actions: ["pull", "push"] },
        { type: "repository", name: "other/app", actions: ["pull"] },
      ],
      error: "insufficient_scope",
    }),
    'Bearer realm="https://r.example/auth/token",service="r.example",scope="repository:samalba/my-app:pull,push repository:other/app:pull",error="insufficient_scope"',
  );
});

test("challenge values cannot break out of their quotes or the header", () => {
  assert.equal(basicChallenge('a"b\\c\r\nSet-Cookie: x'), 'Basic realm="a\\"b\\\\cSet-Cookie: x"');
  const header = bearerChallenge({ realm: "https://r", service: "s", scopes: [{ type: "repository", name: 'a"b', actions: ["pull"] }, { type: "repository", name: "ok", actions: ["pull"] }] });
  assert.equal(header, 'Bearer realm="https://r",service="s",scope="repository:ok:pull"', "an unquotable scope is left out");
});

test("Basic credentials: ':' in passwords, case-insensitive scheme, missing padding, UTF-8", () => {
  assert.deepEqual(parseAuthorization(basic("alice:pa:ss:")), { kind: "basic", username: "alice", password: "pa:ss:" });
  assert.deepEqual(parseAuthorization(basic("alice:")), { kind: "basic", username: "alice", password: "" });
  assert.deepEqual(parseAuthorization(`bAsIc   ${Buffer.from("bob:x y").toString("base64")}  `), { kind: "basic", username: "bob", password: "x y" });
  assert.deepEqual(parseAuthorization(`Basic ${Buffer.from("ab:c").toString("base64").replace(/=+$/, "")}`), { kind: "basic", username: "ab", password: "c" });
  assert.deepEqual(parseAuthorization(basic("zoë:pässwörd")), { kind: "basic", username: "zoë", password: "pässwörd" });
  assert.deepEqual(parseAuthorization([basic("a:b")]), { kind: "basic", username: "a", password: "b" });
});

test("Bearer tokens", () => {
  assert.deepEqual(parseAuthorization("Bearer eyJ.eyJ.sig-_"), { kind: "bearer", token: "eyJ.eyJ.sig-_" });
  assert.deepEqual(parseAuthorization("bearer abc"), { kind: "bearer", token: "abc" });
});

test("no header is none; garbage is a typed refusal, never an exception", () => {
  assert.deepEqual(parseAuthorization(undefined), { kind: "none" });
  assert.deepEqual(parseAuthorization(""), { kind: "none" });
  assert.deepEqual(parseAuthorization("   "), { kind: "none" });
  assert.deepEqual(parseAuthorization([]), { kind: "none" });
  assert.deepEqual(parseAuthorization("Basic Og=="), { kind: "none" }, "containers/image's anonymous request: an empty user and password");
  const garbage: (string | string[])[] = [
    "Basic",
    "Basic ",
    "Basic !!!!",
    "Basic a",
    "Basic " + Buffer.from("no-colon").toString("base64"),
    "Basic " + Buffer.from(":password").toString("base64"),
    "Basic " + Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString("base64"),
    "Basic YWxp Y2U6eA==",
    "Bearer",
    "Bearer a b",
    "Bearer <script>",
    "Digest username=x",
    "Negotiate abc",
    "\u0000\u0001",
    "x".repeat(20_000),
    [basic("a:b"), basic("c:d")],
  ];
  for (const header of garbage) {
    const result = parseAuthorization(header);
    assert.equal(result.kind, "invalid", JSON.stringify(header).slice(0, 40));
    assert.ok(result.kind === "invalid" && result.reason.length > 0);
  }
  // Every byte string decodes to something typed.
  for (let seed = 0; seed < 500; seed++) {
    const bytes = Buffer.from(Array.from({ length: seed % 40 }, (_, i) => (seed * 31 + i * 17) % 256));
    const result = parseAuthorization(`Basic ${bytes.toString("base64")}`);
    assert.ok(["basic", "invalid", "none"].includes(result.kind));
  }
});
