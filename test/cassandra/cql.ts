import { connect, type Socket } from "node:net";

/**
 * Just enough of the CQL native protocol (v4) to ask a Cassandra node whether it answers queries,
 * without a driver: STARTUP, then one QUERY, on a fresh connection. For readiness checks in the
 * test harness only; the store itself uses the `cassandra-driver` package.
 */

const OPCODE = { ERROR: 0x00, STARTUP: 0x01, READY: 0x02, QUERY: 0x07, RESULT: 0x08 } as const;
const RESULT_ROWS = 2;

/** Consistency levels, as the protocol numbers them. */
export const Consistency = { ONE: 0x0001, QUORUM: 0x0004, ALL: 0x0005 } as const;

export class CqlError extends Error {
  constructor(readonly code: number, message: string) {
    super(`CQL error 0x${code.toString(16).padStart(4, "0")}: ${message}`);
  }
}

function frame(stream: number, opcode: number, body: Buffer): Buffer {
  const header = Buffer.alloc(9);
  header.writeUInt8(0x04, 0); // request, protocol v4
  header.writeUInt8(0, 1); // no flags (no compression, no tracing)
  header.writeInt16BE(stream, 2);
  header.writeUInt8(opcode, 4);
  header.writeInt32BE(body.length, 5);
  return Buffer.concat([header, body]);
}

function shortString(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function longString(s: string): Buffer {
  const bytes = Buffer.from(s, "utf8");
  const length = Buffer.alloc(4);
  length.writeInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** Reads whole response frames off a socket. */
class FrameReader {
  private buffered = Buffer.alloc(0);
  private waiting: ((f: { opcode: number; body: Buffer } | Error) => void) | undefined;
  private failure: Error | undefined;

  constructor(socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.deliver();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.deliver();
    };
    socket.on("error", fail);
    socket.on("close", () => fail(new Error("connection closed")));
  }

  private deliver(): void {
    if (!this.waiting) return;
    if (this.buffered.length >= 9) {
      const length = this.buffered.readInt32BE(5);
      if (this.buffered.length >= 9 + length) {
        const opcode = this.buffered.readUInt8(4);
        const body = this.buffered.subarray(9, 9 + length);
        this.buffered = this.buffered.subarray(9 + length);
        const resolve = this.waiting;
        this.waiting = undefined;
        resolve({ opcode, body });
        return;
      }
    }
    if (this.failure) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(this.failure);
    }
  }

  next(): Promise<{ opcode: number; body: Buffer }> {
    return new Promise((resolve, reject) => {
      this.waiting = (f) => (f instanceof Error ? reject(f) : resolve(f));
      this.deliver();
    });
  }
}

function errorOf(body: Buffer): CqlError {
  const code = body.readInt32BE(0);
  const length = body.readUInt16BE(4);
  return new CqlError(code, body.subarray(6, 6 + length).toString("utf8"));
}

/** The rows of a RESULT Rows body: each cell's serialized bytes (UTF-8 for text, as is for blob), or null. */
function rowsOf(body: Buffer): (Buffer | null)[][] {
  let at = 0;
  const int = () => {
    const v = body.readInt32BE(at);
    at += 4;
    return v;
  };
  const short = () => {
    const v = body.readUInt16BE(at);
    at += 2;
    return v;
  };
  const skipString = () => {
    const length = short();
    at += length;
  };
  const skipType = (): void => {
    const id = short();
    if (id === 0x0000) skipString(); // custom
    else if (id === 0x0020 || id === 0x0022) skipType(); // list, set
    else if (id === 0x0021) (skipType(), skipType()); // map
    else if (id === 0x0030) {
      // UDT: keyspace, name, n fields of (name, type)
      skipString();
      skipString();
      for (let n = short(); n > 0; n--) (skipString(), skipType());
    } else if (id === 0x0031) for (let n = short(); n > 0; n--) skipType(); // tuple
  };
  if (int() !== RESULT_ROWS) return [];
  const flags = int();
  const columns = int();
  if (flags & 0x0002) at += 4 + Math.max(0, body.readInt32BE(at)); // paging state
  const globalSpec = (flags & 0x0001) !== 0;
  const noMetadata = (flags & 0x0004) !== 0;
  if (!noMetadata) {
    if (globalSpec) (skipString(), skipString());
    for (let c = 0; c < columns; c++) {
      if (!globalSpec) (skipString(), skipString());
      skipString();
      skipType();
    }
  }
  const rows: (Buffer | null)[][] = [];
  for (let r = int(); r > 0; r--) {
    const row: (Buffer | null)[] = [];
    for (let c = 0; c < columns; c++) {
      const length = int();
      row.push(length < 0 ? null : Buffer.from(body.subarray(at, at + length)));
      if (length > 0) at += length;
    }
    rows.push(row);
  }
  return rows;
}

/**
 * Opens a connection to HOST:PORT, sends STARTUP and one QUERY at the given consistency, and
 * resolves with the result rows (empty for non-Rows results). Rejects with a CqlError when the node
 * answers an error (e.g. Unavailable while replicas are down), or with the socket error.
 */
export async function cqlQuery(
  host: string,
  port: number,
  query: string,
  consistency: number = Consistency.ONE,
  timeoutMs = 10_000,
): Promise<(Buffer | null)[][]> {
  const socket = connect({ host, port });
  socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${host}:${port} in ${timeoutMs} ms`)));
  try {
    const reader = new FrameReader(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const options = Buffer.alloc(2);
    options.writeUInt16BE(1);
    socket.write(frame(0, OPCODE.STARTUP, Buffer.concat([options, shortString("CQL_VERSION"), shortString("3.0.0")])));
    const ready = await reader.next();
    if (ready.opcode === OPCODE.ERROR) throw errorOf(ready.body);
    if (ready.opcode !== OPCODE.READY) throw new Error(`expected READY, got opcode ${ready.opcode}`);
    const parameters = Buffer.alloc(3);
    parameters.writeUInt16BE(consistency, 0);
    parameters.writeUInt8(0, 2); // no values, no paging, no serial consistency
    socket.write(frame(1, OPCODE.QUERY, Buffer.concat([longString(query), parameters])));
    const result = await reader.next();
    if (result.opcode === OPCODE.ERROR) throw errorOf(result.body);
    if (result.opcode !== OPCODE.RESULT) throw new Error(`expected RESULT, got opcode ${result.opcode}`);
    return rowsOf(result.body);
  } finally {
    socket.destroy();
  }
}
