import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";
import { AuthConfigError } from "../../src/auth/errors.js";
import { Htpasswd, HtpasswdFile, parseHtpasswd } from "../../src/auth/htpasswd.js";
import { tempDir } from "../helpers.js";

// Cost 4, bcrypt's least, keeps these tests fast; the cost changes nothing else.
const ALICE = bcrypt.hashSync("s3cret", 4);
const BOB = bcrypt.hashSync("pa:ss word", 4).replace(/^\$2b\$/, "$2y$");

test("parses bcrypt entries in all three prefixes, skipping blank lines and comments", () => {
  const carol = bcrypt.hashSync("x", 5).replace(/^\$2b\$/, "$2a$");
  const entries = parseHtpasswd(`# users\n\nalice:${ALICE}\r\nbob:${BOB}\n  \ncarol:${carol}\n`);
  assert.deepEqual([...entries.keys()], ["alice", "bob", "carol"]);
  assert.equal(entries.get("alice")?.cost, 4);
  assert.equal(entries.get("carol")?.cost, 5);
});

test("refuses other schemes, naming the line and the scheme but not the hash", () => {
  const cases: [string, RegExp][] = [
    ["bob:$apr1$abcdefgh$0123456789abcdefghijkl", /Apache MD5/],
    ["bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", /SHA-1/],
    ["bob:$6$salt$hash", /SHA-512-crypt/],
    ["bob:abJnggxhB/yWI", /DES crypt/],
    ["bob:plaintext-password", /unsupported password scheme/],
    ["bob:$2y$10$tooshort", /malformed bcrypt/],
    ["bob:$2x$10$" + "a".repeat(53), /malformed bcrypt/],
  ];
  for (const [line, scheme] of cases) {
    assert.throws(
      () => parseHtpasswd(`alice:${ALICE}\n${line}\n`, "users.htpasswd"),
      (error: unknown) => {
        assert.ok(error instanceof AuthConfigError);
        assert.match(error.message, /^users\.htpasswd:2: user "bob": /);
        assert.match(error.message, scheme);
        assert.match(error.message, /htpasswd -B/);
        assert.ok(!error.message.includes(line.slice(4)), "the hash stays out of the message");
        return true;
      },
      line,
    );
  }
});

test("refuses lines without a user, duplicate users and costs outside 4..31", () => {
  assert.throws(() => parseHtpasswd(`:${ALICE}`), /htpasswd:1: expected user:hash/);
  assert.throws(() => parseHtpasswd(`just-a-name`), /htpasswd:1: expected user:hash/);
  assert.throws(() => parseHtpasswd(`alice:${ALICE}\nalice:${ALICE}`), /htpasswd:2: user "alice" appears twice/);
  assert.throws(() => parseHtpasswd(`alice:${ALICE.replace("$04$", "$03$")}`), /cost 3 is outside/);
});

test("verifies passwords, including ones with ':' and spaces", async () => {
  const users = Htpasswd.parse(`alice:${ALICE}\nbob:${BOB}`);
  assert.equal(await users.verify("alice", "s3cret"), true);
  assert.equal(await users.verify("alice", "s3cret "), false);
  assert.equal(await users.verify("alice", ""), false);
  assert.equal(await users.verify("bob", "pa:ss word"), true);
  assert.equal(await users.verify("bob", "s3cret"), false);
  assert.equal(await users.verify("nobody", "s3cret"), false);
});

test("an unknown user is checked against a dummy hash of the file's usual cost", async () => {
  const seen: string[] = [];
  const compare = (password: string, hash: string) => {
    seen.push(hash);
    return bcrypt.compare(password, hash);
  };
  const other = bcrypt.hashSync("x", 5);
  const users = Htpasswd.parse(`alice:${ALICE}\nbob:${BOB}\ncarol:${other}`, "f", { compare });
  assert.equal(users.dummyCost, 4, "two of three entries have cost 4");
  assert.equal(await users.verify("mallory", "s3cret"), false);
  assert.equal(await users.verify("mallory", "s3cret"), false);
  assert.equal(seen.length, 2, "one bcrypt comparison per attempt, as for a known user");
  assert.equal(bcrypt.getRounds(seen[0]!), 4);
  assert.equal(seen[0], seen[1], "the dummy hash is made once");
  assert.ok(seen[0] !== ALICE && seen[0] !== BOB);
  const yes = Htpasswd.parse(`alice:${ALICE}`, "f", { compare: async () => true });
  assert.equal(await yes.verify("mallory", "anything"), false, "an unknown user never passes, whatever the dummy comparison says");
});

test("a verified password is remembered for the TTL; a wrong one never is", async () => {
  let now = 1_000_000;
  let compares = 0;
  const compare = (password: string, hash: string) => {
    compares++;
    return bcrypt.compare(password, hash);
  };
  const users = Htpasswd.parse(`alice:${ALICE}`, "f", { compare, now: () => now, cacheTtlMs: 60_000 });
  assert.equal(await users.verify("alice", "s3cret"), true);
  assert.equal(await users.verify("alice", "s3cret"), true);
  assert.equal(compares, 1, "the second check came from the cache");
  assert.equal(await users.verify("alice", "wrong"), false);
  assert.equal(await users.verify("alice", "wrong"), false);
  assert.equal(compares, 3, "wrong passwords always cost a comparison");
  now += 60_001;
  assert.equal(await users.verify("alice", "s3cret"), true);
  assert.equal(compares, 4, "expired entries are checked again");
});

test("the cache keeps at most cacheMax entries", async () => {
  let compares = 0;
  const compare = async () => (compares++, true);
  const hashes = ["a", "b", "c"].map((user) => `${user}:${ALICE}`).join("\n");
  const users = Htpasswd.parse(hashes, "f", { compare, cacheMax: 2, now: () => 0 });
  for (const user of ["a", "b", "c"]) await users.verify(user, "p");
  assert.equal(compares, 3);
  await users.verify("c", "p");
  await users.verify("b", "p");
  assert.equal(compares, 3, "the two newest are remembered");
  await users.verify("a", "p");
  assert.equal(compares, 4, "the oldest was dropped");
});

test("a line written by the real htpasswd -bnB verifies", async (t) => {
  let line: string;
  try {
    line = (await promisify(execFile)("htpasswd", ["-bnB", "-C", "4", "alice", "pa:ss wörd"])).stdout.trim();
  } catch {
    t.skip("htpasswd (apache2-utils) is not installed");
    return;
  }
  assert.match(line, /^alice:\$2y\$04\$/);
  const users = Htpasswd.parse(line);
  assert.equal(await users.verify("alice", "pa:ss wörd"), true);
  assert.equal(await users.verify("alice", "pa:ss word"), false);
});

test("HtpasswdFile reloads a changed file and keeps the last good users when it breaks", async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, "htpasswd");
  await writeFile(path, `alice:${ALICE}\n`);
  let now = 0;
  const logs: string[] = [];
  const file = new HtpasswdFile(path, { now: () => now, checkIntervalMs: 1000, log: (line) => logs.push(line) });
  await file.load();
  assert.equal(await file.verify("alice", "s3cret"), true);
  assert.equal(await file.verify("bob", "pa:ss word"), false);

  await writeFile(path, `alice:${ALICE}\nbob:${BOB}\n`);
  assert.equal(await file.verify("bob", "pa:ss word"), false, "not looked at before the interval");
  now += 1000;
  assert.equal(await file.verify("bob", "pa:ss word"), true);
  assert.match(logs.at(-1)!, /reloaded .*: 2 users/);

  await writeFile(path, `alice:${ALICE}\nbob:$apr1$x$y\n`);
  now += 1000;
  assert.equal(await file.verify("bob", "pa:ss word"), true, "the broken file left the old users in force");
  assert.match(logs.at(-1)!, /keeping the users loaded before: .*htpasswd:2: user "bob": Apache MD5/);
});

test("HtpasswdFile.load is strict about a missing or bad file", async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(new HtpasswdFile(join(dir, "missing")).load(), (error: unknown) => error instanceof AuthConfigError && /cannot read the htpasswd file/.test(error.message));
  await writeFile(join(dir, "bad"), "alice:plain\n");
  await assert.rejects(new HtpasswdFile(join(dir, "bad")).load(), /bad:1: user "alice"/);
});
