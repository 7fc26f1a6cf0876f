import { parentPort, workerData } from "node:worker_threads";
import { isDedupError } from "../errors.js";
import type { ChunkId } from "../store/chunk-id.js";
import { openStore } from "../store/open.js";
import type { Claim, ChunkClaimer } from "./claims.js";
import { CodecPool } from "./codec-pool.js";
import { IngestBuffers, ingestBlob } from "./ingest.js";
import { joinIds, type FromWorker, type ToWorker } from "./ingest-protocol.js";
import { openSource, type BlobSource } from "./sources.js";

/** A worker of IngestPool: ingests the blobs it is sent, asking the main thread for chunk claims. */
async function runWorker(): Promise<void> {
  const port = parentPort!;
  const store = await openStore((workerData as { location: string }).location);
  const buffers = new IngestBuffers();
  // This thread is one of several ingesting at once: it compresses its chunks itself.
  const codec = new CodecPool(0);
  const calls = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextCall = 0;
  const send = (message: FromWorker) => port.postMessage(message);
  const call = <T>(type: "claim" | "awaitIdle", ids: readonly ChunkId[]): Promise<T> =>
    new Promise((resolve, reject) => {
      const id = nextCall++;
      calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      send({ type, call: id, ids: joinIds(ids) });
    });
  const remoteClaims: ChunkClaimer = {
    claim: (ids) => call<Claim[]>("claim", ids),
    awaitIdle: (ids) => call<boolean[]>("awaitIdle", ids),
    settle: (ids) => send({ type: "settle", ids: joinIds(ids) }),
  };

  const ingest = async (job: number, source: BlobSource): Promise<void> => {
    try {
      // ingestBlob keeps no view into a piece beyond its chunker's largest chunk: the reader reuses its buffers.
      const pieces = openSource(source, store.settings.chunker.maxSize);
      const result = await ingestBlob(store, reporting(job, pieces, send), {
        expectedDigest: source.expectedDigest,
        claims: remoteClaims,
        buffers,
        codec,
        onInputDone: () => send({ type: "inputDone", job }),
      });
      send({ type: "done", job, result });
    } catch (error) {
      const e = error as Error;
      const code = isDedupError(error) ? error.code : "INPUT_INVALID";
      const detail = isDedupError(error) ? error.detail : {};
      send({ type: "failed", job, error: { code, message: e.message, detail } });
    }
  };

  port.on("message", (message: ToWorker) => {
    if (message.type === "ingest") {
      void ingest(message.job, message.source);
      return;
    }
    const pending = calls.get(message.call);
    calls.delete(message.call);
    if (message.error !== undefined) pending?.reject(new Error(message.error));
    else pending?.resolve(message.value);
  });
}

/** Reports progress every few MiB rather than per piece. */
async function* reporting(job: number, source: AsyncIterable<Buffer>, send: (message: FromWorker) => void): AsyncGenerator<Buffer> {
  let unreported = 0;
  for await (const piece of source) {
    unreported += piece.length;
    if (unreported >= 8 << 20) {
      send({ type: "progress", job, bytes: unreported });
      unreported = 0;
    }
    yield piece;
  }
  if (unreported > 0) send({ type: "progress", job, bytes: unreported });
}

await runWorker();
