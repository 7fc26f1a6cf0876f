import { parentPort } from "node:worker_threads";
import { openEncoder, type DeflateWriter } from "../../deflate/encoders.js";
import { decodeCheckpoint, encodeCheckpoint, GoFlateEncoder } from "../../deflate/go-flate/index.js";
import { PgzipBodyEncoder } from "../../deflate/klauspost-flate/index.js";
import type { EncodeJob, FromEncoder, ToEncoder } from "./encode-protocol.js";

/** A worker of EncodePool: runs deflate encoders over the input it is sent, sending their output back. */
function runWorker(): void {
  const port = parentPort!;
  const send = (message: FromEncoder, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  /** Output collected during one call into an encoder, sent as one message. */
  const pending = new Map<number, Uint8Array[]>();
  const encoders = new Map<number, { writer: DeflateWriter; done: () => boolean }>();

  const flush = (job: number) => {
    const parts = pending.get(job);
    if (parts === undefined || parts.length === 0) return;
    pending.set(job, []);
    const bytes = Buffer.concat(parts);
    const own = new Uint8Array(bytes.length);
    own.set(bytes);
    send({ type: "output", job, bytes: own }, [own.buffer]);
  };

  const start = (job: number, work: EncodeJob) => {
    pending.set(job, []);
    // The encoders' views are valid only during the call: copied as they come.
    const sink = (bytes: Uint8Array) => pending.get(job)!.push(new Uint8Array(bytes));
    switch (work.kind) {
      case "stream": {
        if (work.checkpointEvery !== undefined && work.spec.family === "go") {
          const writer = new GoFlateEncoder(work.spec.level, sink, {
            checkpointEvery: work.checkpointEvery,
            onCheckpoint: (cp) => {
              flush(job);
              send({ type: "checkpoint", job, bytes: encodeCheckpoint(cp) });
            },
          });
          encoders.set(job, { writer, done: () => false });
        } else {
          encoders.set(job, { writer: openEncoder(work.spec, sink), done: () => false });
        }
        return;
      }
      case "go-part": {
        const to = work.to === null ? null : decodeCheckpoint(work.to);
        const writer =
          work.from === null ? new GoFlateEncoder(work.level, sink, { until: to }) : GoFlateEncoder.resumeFrom(decodeCheckpoint(work.from), work.preceding, sink, { until: to });
        encoders.set(job, { writer, done: () => writer.done });
        return;
      }
      case "pgzip-part": {
        const writer = new PgzipBodyEncoder(work.level, work.blockSize, sink, work.dictionary);
        // A part that does not end the stream ends with its last full block, never closed.
        encoders.set(job, { writer: work.last ? writer : { write: (input) => writer.write(input), close: () => undefined }, done: () => false });
        return;
      }
    }
  };

  port.on("message", (message: ToEncoder) => {
    const { job } = message;
    try {
      if (message.type === "start") return start(job, message.work);
      const encoder = encoders.get(job);
      if (encoder === undefined) return;
      if (message.type === "input") {
        if (!encoder.done()) encoder.writer.write(message.bytes);
        flush(job);
        send({ type: encoder.done() ? "done" : "took", job });
        if (encoder.done()) finish(job);
        return;
      }
      if (!encoder.done()) encoder.writer.close();
      flush(job);
      send({ type: "done", job });
      finish(job);
    } catch (error) {
      finish(job);
      send({ type: "failed", job, message: (error as Error).message });
    }
  });

  const finish = (job: number) => {
    encoders.delete(job);
    pending.delete(job);
  };
}

runWorker();
