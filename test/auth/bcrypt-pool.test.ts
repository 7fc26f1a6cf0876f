import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import bcrypt from "bcryptjs";
import { BcryptPool } from "../../src/auth/bcrypt-pool.js";
import { HtpasswdFile } from "../../src/auth/htpasswd.js";
import { tempDir } from "../helpers.js";

test("bcrypt comparisons on worker threads give bcryptjs's answers", async (t) => {
  const pool = new BcryptPool(2);
  t.after(() => pool.close());
  const hash = bcrypt.hashSync("right", 4);
  assert.deepEqual(await Promise.all([pool.compare("right", hash), pool.compare("wrong", hash), pool.compare("right", "not a hash"), pool.compare("right", hash)]), [true, false, false, true]);
  const dir = await tempDir(t);
  await writeFile(join(dir, "users"), `alice:${hash}\n`);
  const users = new HtpasswdFile(join(dir, "users"), { compare: pool.compare });
  assert.equal(await users.verify("alice", "right"), true);
  assert.equal(await users.verify("alice", "wrong"), false);
  assert.equal(await users.verify("bob", "right"), false);
});

test("a closed pool refuses comparisons instead of hanging", async () => {
  const pool = new BcryptPool(1);
  await pool.close();
  await assert.rejects(pool.compare("x", bcrypt.hashSync("x", 4)), /closed/);
});
