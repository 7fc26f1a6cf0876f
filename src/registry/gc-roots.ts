import type { MetadataStore } from "../store/types.js";
import { keys } from "./keys.js";
import { UploadRecords } from "./upload-record.js";

/**
 * The blobs the registry needs, for garbage collection: every blob and manifest a repository
 * links, and every part of an upload session still in the store (expired sessions are deleted by
 * the sessions' own sweep, and their parts then stop being roots).
 */
export async function registryRoots(meta: MetadataStore & { sync(): Promise<void> }): Promise<Set<string>> {
  const roots = new Set<string>();
  for (const prefix of [keys.blobLinkPrefix, keys.manifestLinkPrefix]) {
    for await (const [key] of meta.scanMeta(prefix)) roots.add(key.slice(key.lastIndexOf("@") + 1));
  }
  for await (const { record } of new UploadRecords(meta).scan()) for (const part of record?.parts ?? []) roots.add(part.digest);
  return roots;
}
