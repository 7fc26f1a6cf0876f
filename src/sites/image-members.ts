import { parseManifest } from "../registry/manifest-format.js";
import type { Recipe } from "../store/recipe.js";

/**
 * How an operator call gets at a manifest: `status` reads one this site lacks from the peers'
 * chunks without storing it; `replicate` makes it whole here first. Both throw when they cannot.
 */
export interface ManifestSource {
  recipe(digest: string): Promise<Recipe>;
  /** The manifest's bytes, verified against its digest. */
  bytes(recipe: Recipe): Promise<Buffer>;
}

/**
 * An image's members, as both operator calls count it: its manifest, an index's children
 * (breadth first), and every blob they name, each once, with its size. `members` (digest ->
 * bytes) is filled as the walk goes, so a walk that fails leaves what it found. Resolves with
 * the manifests in the order they were read.
 */
export async function walkImage(digest: string, members: Map<string, number>, source: ManifestSource): Promise<string[]> {
  const manifests: string[] = [];
  const queue = [digest];
  while (queue.length > 0) {
    const manifest = queue.shift()!;
    if (members.has(manifest)) continue;
    const recipe = await source.recipe(manifest);
    members.set(manifest, recipe.size);
    manifests.push(manifest);
    const parsed = parseManifest(await source.bytes(recipe), undefined);
    for (const child of parsed.manifests) queue.push(child.digest);
    for (const blob of parsed.blobs) if (!members.has(blob.digest)) members.set(blob.digest, blob.size);
  }
  return manifests;
}
