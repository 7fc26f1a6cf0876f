// A TypeScript port of Go's compress/flate encoder as in Go 1.8-1.26 (Copyright The Go Authors;
// BSD-style licence), byte-identical to it, plus checkpoints for re-creating a stream in parallel.

export { GO_FLATE_FAMILY, GoFlateEncoder, type GoFlateOptions } from "./deflate.js";
export { type GoFlateCheckpoint, encodeCheckpoint, decodeCheckpoint } from "./checkpoint.js";
export { encodeSegment, goDeflate } from "./segment.js";
