import { createHash } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { CHUNK_ID_BYTES } from "../store/chunk-id.js";
import type { FromCodec, ToCodec } from "./codec-protocol.js";
import { decodeBatchInto, decodedBytes } from "./decode-batch.js";
import { encodeBatchInto } from "./encode-batch.js";

/** A worker of CodecPool: decodes and checks, or compresses, a batch of chunks, or hashes bytes (codec-protocol.ts). */
parentPort!.on("message", (message: ToCodec) => {
  const reply = (answer: Omit<FromCodec, "kind" | "id" | "input">, transfer: ArrayBuffer[] = []) =>
    parentPort!.postMessage({ kind: message.kind, id: message.id, input: message.buffer, ...answer } satisfies FromCodec, [message.buffer, ...transfer]);
  try {
    if (message.kind === "digest") {
      const sha256 = createHash("sha256").update(new Uint8Array(message.buffer)).digest();
      reply({ ids: new Uint8Array(sha256) }); // a copy of its own: a view would carry its whole pool across
      return;
    }
    const input = Buffer.from(message.buffer);
    let offset = 0;
    const chunks = Array.from(message.lengths, (length) => input.subarray(offset, (offset += length)));
    if (message.kind === "decode") {
      const expected = { ids: message.expectedIds, lengths: message.expectedLengths };
      const runs = { ids: message.runIds, stored: chunks.splice(chunks.length - message.runIds.length / CHUNK_ID_BYTES) };
      // A buffer of its own (never a slice of Node's shared pool), so it can be handed over without a copy.
      const out = message.out === undefined ? Buffer.allocUnsafeSlow(decodedBytes(expected.lengths)) : Buffer.from(message.out);
      reply({ buffer: out.buffer, lengths: decodeBatchInto(chunks, expected, out, runs) }, [out.buffer]);
      return;
    }
    const { lengths, ids } = encodeBatchInto(chunks, { codec: message.codec, level: message.level }, Buffer.from(message.out), message.name);
    reply({ buffer: message.out, lengths, ...(ids === undefined ? {} : { ids }) }, [message.out]);
  } catch (error) {
    // A buffer lent for the answer (`out`) is not handed back: lost to the pool, which makes another.
    reply({ error: (error as Error).message });
  }
});
