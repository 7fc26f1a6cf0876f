import { Document, isMap, isScalar, type Pair } from "yaml";
import { nameFrom, type ResolvedSettings } from "./resolve-settings.js";
import { withDefaults, type SettingKey } from "./serve-settings.js";
import { maskUrlPasswords } from "./value-schemas.js";

/** What a secret prints as. */
export const MASKED = "<masked>";

/**
 * The settings in force as YAML, a config file serve would take, each line saying where its
 * value came from; secrets masked: the peer secret, mirrors' passwords, a password in the store
 * URL. (Key files are named, never read: their contents stay where they are.)
 */
export function printSettings(resolved: ResolvedSettings): string {
  const effective: Record<string, unknown> = { ...withDefaults(resolved.settings) };
  if (effective.peerSecret !== undefined) effective.peerSecret = MASKED;
  if (typeof effective.store === "string") effective.store = maskUrlPasswords(effective.store);
  if (Array.isArray(effective.mirrors)) effective.mirrors = effective.mirrors.map((mirror: Record<string, unknown>) => (mirror.password === undefined ? mirror : { ...mirror, password: MASKED }));
  const document = new Document(effective);
  if (isMap(document.contents)) {
    for (const pair of document.contents.items as Pair[]) {
      const key = String(isScalar(pair.key) ? pair.key.value : pair.key) as SettingKey;
      const from = resolved.origins[key]?.map((origin) => (origin.kind === "file" ? origin.file : nameFrom(origin, key))).join(" + ") ?? "default";
      const comment = ` from ${from}`;
      if (isScalar(pair.value)) pair.value.comment = comment;
      else if (pair.key !== null && isScalar(pair.key)) pair.key.comment = comment;
    }
  }
  return document.toString({ lineWidth: 0 });
}
