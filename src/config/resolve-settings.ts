import { resolve } from "node:path";
import { z } from "zod";
import { DedupError } from "../errors.js";
import { envName, flagName, SETTING_KEYS, specOf, type ServeSettings, type SettingKey } from "./serve-settings.js";
import { describeIssues, keysAt } from "./value-schemas.js";

/**
 * serve's settings from their three sources, each checked against the schema of
 * serve-settings.ts, then merged: a flag wins over its environment variable, which wins over the
 * config file (defaults come last, serve-settings.ts `withDefaults`). Lists (`--upstream`,
 * `--peer`) add up instead. Every mistake in every source is one line of the error thrown.
 */

export type Origin = { kind: "flag" } | { kind: "env" } | { kind: "file"; file: string };

export interface SettingSources {
  /** Commander's values, by the flag's camelCase name (`maxUploads`, `upstream`): strings, lists of them, booleans. */
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
  /** A config file's content, parsed, and its name; with `dir`, paths in it are made relative to that directory (the file's). */
  file?: { name: string; value: unknown; dir?: string };
}

export interface ResolvedSettings {
  settings: ServeSettings;
  /** Where each setting given came from: the source that won, or every source that added to a list. */
  origins: Partial<Record<SettingKey, Origin[]>>;
}

/** The config file's schema: every setting optional, nothing else allowed. */
const FILE_SCHEMA = z.strictObject(
  Object.fromEntries(SETTING_KEYS.map((key) => [key, specOf(key).schema.optional()])),
  { error: "expected settings, one `key: value` a line (see the README's example file)" },
);

export function resolveSettings(sources: SettingSources): ResolvedSettings {
  const problems: string[] = [];
  const layers: [Origin, ServeSettings][] = [];
  if (sources.file !== undefined) layers.push([{ kind: "file", file: sources.file.name }, fileSettings(sources.file, problems)]);
  if (sources.env !== undefined) layers.push([{ kind: "env" }, textSettings((key) => nonEmpty(sources.env![envName(key)]), (key) => `$${envName(key)}`, problems)]);
  if (sources.flags !== undefined) layers.push([{ kind: "flag" }, textSettings((key) => sources.flags![attributeName(key)], flagName, problems)]);
  if (problems.length > 0) throw new DedupError("INPUT_INVALID", problems.join("\n"), { problems });

  const settings: Record<string, unknown> = {};
  const origins: Partial<Record<SettingKey, Origin[]>> = {};
  for (const [origin, layer] of layers) {
    for (const key of SETTING_KEYS) {
      const value = layer[key];
      if (value === undefined) continue;
      const list = specOf(key).list === true;
      settings[key] = list ? [...((settings[key] as unknown[] | undefined) ?? []), ...(value as unknown[])] : value;
      origins[key] = list ? [...(origins[key] ?? []), origin] : [origin];
    }
  }
  return { settings: settings as ServeSettings, origins };
}

/** Checks a config file's content; with `dir`, paths in it are made relative to it. */
function fileSettings({ name, value, dir }: NonNullable<SettingSources["file"]>, problems: string[]): ServeSettings {
  // An empty file (or one of comments only) sets nothing.
  const result = FILE_SCHEMA.safeParse(value ?? {}, { reportInput: true });
  if (!result.success) {
    problems.push(...describeIssues(result.error, { prefix: `${name}: `, knownKeys: (path) => keysAt(FILE_SCHEMA, path) }));
    return {};
  }
  const settings = result.data as Record<string, unknown>;
  for (const key of SETTING_KEYS) {
    const spec = specOf(key);
    const given = settings[key];
    if (dir === undefined || spec.path === undefined || typeof given !== "string") continue;
    if (spec.path === "unless-url" && /^[a-z][a-z0-9+.-]*:\/\//i.test(given)) continue;
    settings[key] = resolve(dir, given);
  }
  return settings as ServeSettings;
}

/** Settings given as text (flags, environment variables), each read and checked on its own, named as given. */
function textSettings(textOf: (key: SettingKey) => unknown, nameOf: (key: SettingKey) => string, problems: string[]): ServeSettings {
  const settings: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const spec = specOf(key);
    const given = textOf(key);
    if (given === undefined) continue;
    const read = (value: string) => (spec.fromText ?? ((text: string) => text))(value);
    const check = (schema: z.ZodType, value: unknown, text: string | undefined) => {
      const result = schema.safeParse(value, { reportInput: true });
      if (result.success) return result.data;
      problems.push(...describeIssues(result.error, { prefix: "", name: nameOf(key), ...(spec.secret === true ? {} : { text }) }));
      return undefined;
    };
    if (typeof given === "boolean") settings[key] = check(spec.schema, given, String(given));
    else if (spec.list === true) {
      // One item a flag, or the environment variable's items apart: each checked alone, so a mistake names its item.
      const items = Array.isArray(given) ? (given as string[]) : String(given).split(/[\s,]+/).filter((item) => item !== "");
      const element = (spec.schema as unknown as z.ZodArray<z.ZodType>).element;
      settings[key] = items.map((item) => check(element, read(item), item));
    } else settings[key] = check(spec.schema, read(String(given)), String(given));
  }
  return settings as ServeSettings;
}

/** A setting as its source names it: `--tls-cert`, `$DOCKER_DEDUP_TLS_CERT`, or the file's key `tlsCert`. */
export function nameFrom(origin: Origin, key: SettingKey): string {
  return origin.kind === "flag" ? flagName(key) : origin.kind === "env" ? `$${envName(key)}` : key;
}

/** Commander's name for a flag's value: `--max-uploads` is `maxUploads`. */
export function attributeName(key: SettingKey): string {
  return flagName(key)
    .slice(2)
    .replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

/** An empty environment variable sets nothing, as if unset (`DOCKER_DEDUP_LISTEN= docker-dedup serve`). */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}
