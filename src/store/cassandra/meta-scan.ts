/**
 * How metadata keys map to partitions, and how a prefix scan is answered from them.
 *
 * A key's family is the key up to and including its second '/' ("registry/tag/a:v1" ->
 * "registry/tag/"), or up to its last '/' if it has fewer ("store/settings" -> "store/"), or ""
 * if it has none. Each family is one partition with its keys as clustering columns, kept in
 * UTF-8 byte order: every scan the registry makes ("registry/tag/<name>:", "registry/repo/",
 * "registry/upload/", "sites/log/") is a slice of one partition. A scan whose prefix stops
 * before the second '/' may span several families; it merges their slices in byte order.
 */

export function familyOf(key: string): string {
  const first = key.indexOf("/");
  if (first < 0) return "";
  const second = key.indexOf("/", first + 1);
  return second < 0 ? key.slice(0, key.lastIndexOf("/") + 1) : key.slice(0, second + 1);
}

/** The families among `known` that may hold keys starting with `prefix`. */
export function familiesFor(prefix: string, known: Iterable<string>): string[] {
  const out: string[] = [];
  for (const family of known) if (family.startsWith(prefix) || prefix.startsWith(family)) out.push(family);
  return out;
}

/** Compares strings in UTF-8 byte order (Cassandra's order for text), which JS's < is not above U+FFFF. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Merges streams that are each in key order into one stream in key order. */
export async function* mergeByKey<V>(streams: AsyncIterable<[string, V]>[]): AsyncIterable<[string, V]> {
  if (streams.length === 1) {
    yield* streams[0]!;
    return;
  }
  const iterators = streams.map((s) => s[Symbol.asyncIterator]());
  const heads = await Promise.all(iterators.map((it) => it.next()));
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      if (heads[i]!.done) continue;
      if (best < 0 || compareUtf8(heads[i]!.value[0], heads[best]!.value[0]) < 0) best = i;
    }
    if (best < 0) return;
    yield heads[best]!.value as [string, V];
    heads[best] = await iterators[best]!.next();
  }
}
