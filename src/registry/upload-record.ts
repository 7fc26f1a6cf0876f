import { randomUUID } from "node:crypto";
import type { BlobCompression } from "../layers/compression.js";
import type { MetadataStore } from "../store/types.js";
import { keys } from "./keys.js";

/** One request body of an upload, stored as a blob of its own (its recipe, under its digest). */
export interface UploadPart {
  digest: string;
  size: number;
  /** What its first bytes say it is compressed with (the first part's tells of the whole blob). */
  compression?: BlobCompression;
}

/**
 * An upload session as kept in the store (JSON at `registry/upload/<uuid>`). Written whole every
 * time, so a record is always self-consistent: `offset` is the sum of the parts' sizes.
 */
export interface UploadRecord {
  repository: string;
  /** Who opened it, for the per-client session limit (absent in records of older versions). */
  client?: string;
  /** ISO times; `updated` moves with every append and while a request works on the session. */
  created: string;
  updated: string;
  /** Bytes received so far: where the next chunk must start. */
  offset: number;
  parts: UploadPart[];
  /**
   * A new random token with every append: it names this exact list of parts, so a request can
   * tell that another one appended meanwhile, and a cached running hash that it belongs here.
   */
  revision: string;
}

export interface UploadSession {
  readonly id: string;
  readonly record: UploadRecord;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The session records of a store; ids that are not UUIDs are simply not found. */
/** Where session records live: a store's metadata, with its sync. */
export type RecordStore = MetadataStore & { sync(): Promise<void> };

export class UploadRecords {
  readonly #meta: RecordStore;

  constructor(meta: RecordStore) {
    this.#meta = meta;
  }

  /** Resolves when every record written so far is durable. */
  sync(): Promise<void> {
    return this.#meta.sync();
  }

  static fresh(repository: string, client: string, now = new Date()): UploadSession {
    const time = now.toISOString();
    return { id: randomUUID(), record: { repository, client, created: time, updated: time, offset: 0, parts: [], revision: newRevision() } };
  }

  async get(id: string): Promise<UploadRecord | undefined> {
    if (!UUID.test(id)) return undefined;
    const bytes = await this.#meta.getMeta(keys.upload(id));
    return bytes === undefined ? undefined : parseRecord(bytes);
  }

  async put(session: UploadSession): Promise<void> {
    await this.#meta.putMeta(keys.upload(session.id), Buffer.from(JSON.stringify(session.record)));
  }

  async delete(id: string): Promise<void> {
    await this.#meta.deleteMeta(keys.upload(id));
  }

  /** Every session in the store; an unreadable record comes as undefined (and is swept). */
  async *scan(): AsyncGenerator<{ id: string; record: UploadRecord | undefined }> {
    for await (const [key, value] of this.#meta.scanMeta(keys.uploadPrefix)) {
      yield { id: key.slice(keys.uploadPrefix.length), record: parseRecord(value) };
    }
  }
}

export function withPart(record: UploadRecord, part: UploadPart, now = new Date()): UploadRecord {
  return { ...record, offset: record.offset + part.size, parts: [...record.parts, part], updated: now.toISOString(), revision: newRevision() };
}

/** When the session was last worked on, in ms since the epoch. */
export function lastActive(record: UploadRecord): number {
  return Date.parse(record.updated);
}

function newRevision(): string {
  return randomUUID();
}

function parseRecord(bytes: Buffer): UploadRecord | undefined {
  try {
    const record = JSON.parse(bytes.toString("utf8")) as UploadRecord;
    const wellFormed =
      typeof record.repository === "string" &&
      Number.isSafeInteger(record.offset) &&
      Array.isArray(record.parts) &&
      typeof record.revision === "string" &&
      Number.isFinite(Date.parse(record.updated)) &&
      record.parts.reduce((sum, part) => sum + part.size, 0) === record.offset;
    return wellFormed ? record : undefined;
  } catch {
    return undefined;
  }
}
