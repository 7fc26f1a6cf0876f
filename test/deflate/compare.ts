import assert from "node:assert/strict";

/** What every encoder port offers: bytes in, then the end; output goes to the sink given at construction. */
interface StreamEncoder {
  write(piece: Uint8Array): void;
  close(): void;
}

/** An encoder's whole output over `pieces`, copied out of the views its sink is handed. */
export function encodeAll(make: (sink: (bytes: Uint8Array) => void) => StreamEncoder, pieces: Iterable<Uint8Array>): Buffer {
  const parts: Buffer[] = [];
  const encoder = make((bytes) => parts.push(Buffer.from(bytes)));
  for (const piece of pieces) encoder.write(piece);
  encoder.close();
  return Buffer.concat(parts);
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

/** Fails with the lengths and the first differing byte (not a dump of megabytes) unless equal. */
export function assertSame(actual: Uint8Array, expected: Uint8Array, what: string, whose: string): void {
  if (Buffer.compare(Buffer.from(actual.buffer, actual.byteOffset, actual.length), Buffer.from(expected.buffer, expected.byteOffset, expected.length)) === 0) return;
  assert.fail(`${what}: ${actual.length} bytes vs ${whose} ${expected.length}, first difference at byte ${firstDifference(actual, expected)}`);
}
