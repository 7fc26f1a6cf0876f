import { parentPort } from "node:worker_threads";
import { decodeBatchInto, decodedBytes } from "./decode-batch.js";

/** A worker of DecodePool: decodes and checks a batch of stored chunks into one buffer it hands over, with the input's buffer back for reuse. */
parentPort!.on("message", (message: { id: number; buffer: ArrayBuffer; lengths: Uint32Array; expectedIds: Uint8Array; expectedLengths: Uint32Array }) => {
  try {
    const input = Buffer.from(message.buffer);
    let offset = 0;
    const stored = Array.from(message.lengths, (length) => input.subarray(offset, (offset += length)));
    const expected = { ids: message.expectedIds, lengths: message.expectedLengths };
    // A buffer of its own (never a slice of Node's shared pool), so it can be handed over without a copy.
    const out = Buffer.allocUnsafeSlow(decodedBytes(expected));
    const lengths = decodeBatchInto(stored, expected, out);
    parentPort!.postMessage({ id: message.id, input: message.buffer, buffer: out.buffer, lengths }, [message.buffer, out.buffer]);
  } catch (error) {
    parentPort!.postMessage({ id: message.id, input: message.buffer, error: (error as Error).message }, [message.buffer]);
  }
});
