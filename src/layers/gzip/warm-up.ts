import type { EncoderSpec } from "../../deflate/encoders.js";
import { inPieces, type EncodePool } from "./encode-pool.js";
import type { EncodeJob } from "./encode-protocol.js";

/**
 * Content each encode thread runs through each encoder before pulls need it: enough for V8 to
 * compile the hot loops, with the feedback of the branches real layers take.
 */
export const WARM_UP_BYTES = 4 << 20;

/** An encoder to warm up, and content of a layer it made to run it over. */
export interface WarmUp {
  encoder: EncoderSpec;
  content: Uint8Array;
}

/**
 * Runs each encoder on every thread of `pool` over its content, the output thrown away, so that
 * the first pull after a start does not pay for compiling it. V8 compiles an encoder's hot
 * functions once per thread, after they ran a while, and again after each deoptimization (the
 * first input to take a branch not taken before): in a process just started, the first
 * re-creation of minbase's skopeo layer took about 1 CPU s more than after this (BENCHMARKS.md).
 * Made-up input saved a third of that: real layers take branches it did not, hence a layer's own
 * content. Go and pgzip run as the parts of a pull do; zlib and single-stream klauspost are left
 * out (zlib's level 9 takes seconds over this much input, and both run on one thread anyway).
 * The encoders warmed up.
 */
export async function warmUpEncoders(pool: EncodePool, warmUps: WarmUp[]): Promise<EncoderSpec[]> {
  const jobs = warmUps.flatMap(({ encoder, content }) => {
    const job = warmUpJob(encoder);
    return job === undefined ? [] : [{ encoder, content, job }];
  });
  // One sequence per thread: the pool gives each job to the thread with the fewest.
  const sequence = async () => {
    for (const { job, content } of jobs) for await (const _ of pool.encode(job, inPieces(content))) void _;
  };
  if (jobs.length > 0) await Promise.all(Array.from({ length: pool.threads }, sequence));
  return jobs.map((j) => j.encoder);
}

/** Whether warmUpEncoders runs `encoder` (Go's and pgzip's). */
export function hasWarmUp(encoder: EncoderSpec): boolean {
  return warmUpJob(encoder) !== undefined;
}

function warmUpJob(encoder: EncoderSpec): EncodeJob | undefined {
  if (encoder.family === "go") return { kind: "go-part", level: encoder.level, from: null, to: null, preceding: new Uint8Array(0) };
  if (encoder.family === "pgzip") return { kind: "pgzip-part", level: encoder.level, blockSize: encoder.blockSize, dictionary: new Uint8Array(0), last: true };
  return undefined;
}
