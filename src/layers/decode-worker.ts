import { parentPort } from "node:worker_threads";
import { decodeChunk } from "../store/codec.js";

/** A worker of DecodePool: decodes a batch of stored chunks into one buffer it hands back. */
parentPort!.on("message", (message: { id: number; buffer: ArrayBuffer; lengths: number[] }) => {
  try {
    const input = Buffer.from(message.buffer);
    let offset = 0;
    const decoded = message.lengths.map((length) => decodeChunk(input.subarray(offset, (offset += length))));
    let total = 0;
    for (const chunk of decoded) total += chunk.length;
    const out = Buffer.allocUnsafeSlow(total);
    let at = 0;
    for (const chunk of decoded) {
      out.set(chunk, at);
      at += chunk.length;
    }
    parentPort!.postMessage({ id: message.id, buffer: out.buffer, lengths: decoded.map((c) => c.length) }, [out.buffer]);
  } catch (error) {
    parentPort!.postMessage({ id: message.id, error: (error as Error).message });
  }
});
