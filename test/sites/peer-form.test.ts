import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { isDedupError } from "../../src/errors.js";
import { encodeGzipForm, type GzipForm } from "../../src/layers/gzip/form.js";
import { PeerClient } from "../../src/sites/wire/peer-client.js";
import { readPeerForm } from "../../src/sites/wire/peer-form.js";
import { freshBlobs } from "../blobs.js";
import { gzipWith } from "../deflate/gzipper.js";
import { realTar } from "../deflate/zlib-inputs.js";
import { fromPieces, tempDir } from "../helpers.js";
import { sha256 } from "../registry/harness.js";

/**
 * A gzip form from a peer (`GET forms/<digest>`) is checked before anything uses it: whatever the
 * peer sends, the answer is the form or a DedupError naming the peer, never another exception.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
/** A form's JSON, edited into every shape. */
type FormJson = any;

/** A real form: a gzip layer of 9 MiB of tar (Go's encoder at level 6: checkpoints every 4 MiB), converted. */
async function realForm(t: { after(fn: () => unknown): void }): Promise<GzipForm> {
  const { blobs } = await freshBlobs(t);
  const gzip = await gzipWith({ encoder: "stdlib", level: 6 }, await realTar(await tempDir(t), 9 << 20));
  await blobs.ingest(fromPieces([gzip]));
  await blobs.conversionsSettled();
  const form = await blobs.gzipForm(sha256(gzip));
  assert.ok(form !== undefined);
  assert.equal(form.members[0]!.checkpoints?.length, 2);
  return form;
}

function refusal(bytes: Uint8Array | string, digest: string, pattern: RegExp): void {
  assert.throws(
    () => readPeerForm("lyon", digest, typeof bytes === "string" ? Buffer.from(bytes) : bytes),
    (error: unknown) => {
      assert.ok(isDedupError(error, "STORE_INVALID"), String(error));
      assert.match(error.message, /^peer lyon sent a gzip form of sha256:[0-9a-f]{64} that /);
      assert.match(error.message, pattern);
      return true;
    },
  );
}

test("a peer's gzip form: a good one reads back as it was; a bad one, of any shape, is refused with a DedupError naming the peer", async (t) => {
  const form = await realForm(t);
  const { digest } = form;
  const good = JSON.parse(encodeGzipForm(form).toString("utf8")) as FormJson;
  const edited = (edit: (json: typeof good) => void) => {
    const copy = structuredClone(good);
    edit(copy);
    return JSON.stringify(copy);
  };
  assert.deepEqual(readPeerForm("lyon", digest, encodeGzipForm(form)), form);

  refusal("{", digest, /is not JSON/);
  for (const text of ["null", "[]", "7", '"form"']) refusal(text, digest, /is not a JSON object/);
  refusal(edited((j) => (j.members = [null])), digest, /member 1 that is not an object/);
  refusal(edited((j) => (j.members[0]!.header = 5)), digest, /no header or trailer in member 1/);
  refusal(edited((j) => (j.members[0]!.encoder = "go")), digest, /names an encoder that is not an object in member 1/);
  refusal(edited((j) => (j.members[0]!.contentLength = 1.5)), digest, /no byte counts in member 1/);
  refusal(edited((j) => (j.members[0]!.checkpoints = [1])), digest, /checkpoints that are not base64/);
  refusal(edited((j) => (j.size = -1)), digest, /no byte counts for its size/);
  refusal(edited((j) => (j.v = 2)), digest, /is of version 2, not 1/);
  refusal(edited((j) => (j.digest = sha256("another"))), digest, /names another blob/);
  refusal(edited((j) => (j.size = (j.size as number) + 1)), digest, /adds up to \d+ bytes, not \d+/);
  refusal(edited((j) => (j.content = digest)), digest, /names "sha256:[0-9a-f]+" as its content/);
  refusal(edited((j) => (j.content = "sha256:zz")), digest, /as its content/);
  refusal(edited((j) => (j.members = [])), digest, /(has no members|adds up to)/);
  // Encoders and settings the library has not, and ones it has that the header does not allow.
  const encoders: Json[] = [{ family: "pgzip", level: 5, blockSize: -1 }, { family: "pgzip", level: 5, blockSize: 1 << 30 }, { family: "go", level: 99 }, { family: "go", level: 6, extra: 1 }, { family: "zlib", level: 6 }, { family: "go" }, { family: "lz4", level: 1 }];
  for (const encoder of encoders) refusal(edited((j) => (j.members[0]!.encoder = encoder)), digest, /names an encoder that .* in member 1/);
  for (const encoder of [{ family: "go", level: 1 }, { family: "zlib", level: 9, memLevel: 8 }, { family: "pgzip", level: 5, blockSize: 300_000 }]) {
    // Without the checkpoints, which hold the level-6 encoder's state and would be refused first.
    const edit = (j: FormJson) => {
      j.members[0]!.encoder = encoder;
      delete j.members[0]!.checkpoints;
    };
    refusal(edited(edit), digest, /names encoder .* for member 1, not one its header allows/);
  }
  // The layout over the content.
  refusal(edited((j) => (j.members[0]!.contentStart = 1)), digest, /starts member 1 at 1 of its content, not 0/);
  refusal(edited((j) => (j.contentSize = (j.contentSize as number) + 1)), digest, /lays its members over \d+ bytes of content, not its \d+/);
  refusal(edited((j) => (j.members[0]!.header = Buffer.from("not a gzip").toString("base64"))), digest, /no gzip header of its own length/);
  refusal(
    edited((j) => {
      // A header one byte longer than the gzip header it holds (the size still adds up).
      const header = Buffer.from(j.members[0]!.header as string, "base64");
      j.members[0]!.header = Buffer.concat([header, Buffer.from([0])]).toString("base64");
      j.members[0]!.deflateLength = (j.members[0]!.deflateLength as number) - 1;
    }),
    digest,
    /no gzip header of its own length/,
  );
  refusal(
    edited((j) => {
      j.members[0]!.trailer = Buffer.alloc(7).toString("base64");
      j.members[0]!.deflateLength = (j.members[0]!.deflateLength as number) + 1;
    }),
    digest,
    /a 7-byte trailer/,
  );
  // Checkpoints: readable, of the encoder's level, in order.
  const checkpoints = good.members[0]!.checkpoints as string[];
  refusal(edited((j) => (j.members[0]!.checkpoints = [Buffer.from("garbage").toString("base64")])), digest, /an unreadable checkpoint \(go-flate checkpoint: bad magic\)/);
  refusal(edited((j) => (j.members[0]!.checkpoints = [checkpoints[1]!, checkpoints[0]!])), digest, /a checkpoint at \d+, after \d+/);
  refusal(edited((j) => (j.members[0]!.checkpoints = [checkpoints[0]!, checkpoints[0]!])), digest, /a checkpoint at \d+, after \d+/);
  refusal(edited((j) => (j.members[0]!.checkpoints = [checkpoints[0]!.slice(0, 8)])), digest, /an unreadable checkpoint/);

  // Every field of the form replaced by values of every type: a form or a refusal, nothing else.
  const oddities: Json[] = [null, true, 0, -1, 1.5, 2 ** 60, "", "AAAA", [], [null], {}];
  const paths: (string | number)[][] = [];
  const walk = (value: Json, path: (string | number)[]) => {
    paths.push(path);
    if (Array.isArray(value)) value.forEach((item, i) => walk(item, [...path, i]));
    else if (value !== null && typeof value === "object") for (const [key, item] of Object.entries(value)) walk(item, [...path, key]);
  };
  walk(good, []);
  let refused = 0;
  for (const path of paths.slice(1)) {
    for (const oddity of oddities) {
      const copy = structuredClone(good) as Json;
      let parent = copy as Record<string | number, Json>;
      for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
      parent[path.at(-1)!] = oddity;
      try {
        readPeerForm("lyon", digest, Buffer.from(JSON.stringify(copy)));
      } catch (error) {
        assert.ok(isDedupError(error, "STORE_INVALID"), `${path.join(".")} = ${JSON.stringify(oddity)}: ${String(error)}`);
        refused++;
      }
    }
  }
  assert.ok(refused > paths.length * 5, `${refused} of ${paths.length * oddities.length} refused`);
});

test("PeerClient.form: a form, undefined for a 404 (a site from before forms answers so too), a DedupError for anything else", async (t) => {
  const form = await realForm(t);
  const answers = new Map<string, { status: number; body: string | Buffer }>([
    [`/dd-peer/v2/forms/${form.digest}`, { status: 200, body: encodeGzipForm(form) }],
    [`/dd-peer/v2/forms/${sha256("nothing")}`, { status: 404, body: "no such form\n" }],
    [`/dd-peer/v2/forms/${sha256("old")}`, { status: 404, body: "no such peer call: GET /dd-peer/v2/forms/...\n" }],
    [`/dd-peer/v2/forms/${sha256("garbage")}`, { status: 200, body: "\u0000\u0001 not a form" }],
    [`/dd-peer/v2/forms/${sha256("broken")}`, { status: 500, body: "the gzip form is not JSON\n" }],
  ]);
  const server: Server = createServer((req, res) => {
    const answer = answers.get(req.url ?? "") ?? { status: 404, body: "" };
    res.writeHead(answer.status, { "Content-Type": "application/json" });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const client = new PeerClient({ name: "lyon", url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }, { secret: "a secret of sixteen or more" });
  t.after(() => client.close());

  assert.deepEqual(await client.form(form.digest), form);
  assert.equal(await client.form(sha256("nothing")), undefined);
  assert.equal(await client.form(sha256("old")), undefined);
  await assert.rejects(client.form(sha256("garbage")), (error: unknown) => isDedupError(error, "STORE_INVALID") && /peer lyon sent a gzip form of .* that is not JSON/.test(error.message));
  await assert.rejects(client.form(sha256("broken")), (error: unknown) => isDedupError(error, "STORE_UNAVAILABLE") && /peer lyon answered 500/.test(error.message));
});
