import { z } from "zod";
import { DedupError } from "../errors.js";
import { DURATION_PATTERN } from "./duration.js";

/**
 * The kinds of value settings take, as zod schemas whose one message says what was expected
 * (`expected a whole number > 0`): resolve-settings.ts puts the setting's name and the value
 * given in front of it, whatever the source (file, environment or flag).
 */

export function text(expected: string) {
  return z.string({ error: `expected ${expected}` }).min(1, { error: `expected ${expected}` });
}

/** A string that `test` accepts. */
export function textWhere(expected: string, test: (value: string) => boolean) {
  return text(expected).refine(test, { error: `expected ${expected}` });
}

/** A file or directory name; in a config file, relative to its directory. */
export function path(expected = "a file name") {
  return text(expected);
}

/** A finite number that `test` accepts. */
export function numberWhere(expected: string, test: (value: number) => boolean) {
  return z.number({ error: `expected ${expected}` }).refine((n) => Number.isFinite(n) && test(n), { error: `expected ${expected}` });
}

export const wholeAbove0 = (what: string) => numberWhere(`${what}, a whole number > 0`, (n) => Number.isInteger(n) && n > 0);
export const wholeAtLeast0 = (what: string) => numberWhere(`${what}, a whole number >= 0`, (n) => Number.isInteger(n) && n >= 0);
export const above0 = (what: string) => numberWhere(`${what}, a number > 0`, (n) => n > 0);
export const atLeast0 = (what: string) => numberWhere(`${what}, a number >= 0`, (n) => n >= 0);

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `expected ${values.slice(0, -1).join(", ")} or ${values.at(-1)}` });
}

export const flag = z.boolean({ error: "expected true or false" });

/**
 * A duration's text (duration.ts reads it), or a number of seconds. A number passes only if its
 * text does: serve reads both as text, and `1e-7` or `-1` are not durations there.
 */
const DURATION_EXPECTED = "a duration like 90s, 30m, 1h or 7d, or seconds";
export const duration = z
  .union([z.number(), z.string()], { error: `expected ${DURATION_EXPECTED}` })
  .refine((value) => DURATION_PATTERN.test(typeof value === "number" ? String(value) : value.trim()), { error: `expected ${DURATION_EXPECTED}` });

/** The text as an http:// or https:// URL; undefined if it is none. */
export function httpUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
}

/** Runs a check that returns what is wrong with a value (undefined: nothing), as a zod refinement. */
export function refusing<T>(problem: (value: T) => string | undefined) {
  return (value: T, ctx: z.RefinementCtx) => {
    const message = problem(value);
    if (message !== undefined) ctx.addIssue({ code: "custom", message, input: value });
  };
}

/** A mistake, named as its source names it: `bad --listen "x": expected ...`, `serve.yaml: bad listen "x": expected ...`. */
export interface Naming {
  /** Before every line: the config file's name and ": ", or nothing. */
  prefix: string;
  /** The setting's name where it was given as text (`--peer`, `$DOCKER_DEDUP_PEER`), else undefined: the issue's path names it. */
  name?: string;
  /** The text given, shown instead of the value it was read as (undefined for a secret: not shown). */
  text?: string;
  /** The keys allowed in the object at a path, to say what an unknown key could have been. */
  knownKeys?: (path: readonly PropertyKey[]) => readonly string[];
}

/** One line for each of a zod error's issues. */
export function describeIssues(error: z.ZodError, naming: Naming): string[] {
  return error.issues.flatMap((issue): string[] => {
    if (issue.code === "unrecognized_keys") {
      const known = naming.knownKeys?.(issue.path) ?? [];
      return issue.keys.map((key) => `${naming.prefix}unknown setting ${pathText([...issue.path, key])}${suggestion(key, known)}`);
    }
    // Text from the command line or the environment is shown as typed, in the flag's usual
    // words; a file's value after its path, which may lead into a list or an object.
    if (naming.name !== undefined) return [`${naming.prefix}bad ${naming.name}${naming.text === undefined ? "" : ` ${shown(naming.text)}`}: ${issue.message}`];
    const given = issue.input === undefined || SECRET_KEYS.has(String(issue.path.at(-1))) ? "" : `, got ${shown(issue.input)}`;
    const where = issue.path.length === 0 ? "" : `${pathText(issue.path)}: `;
    return [`${naming.prefix}${where}${issue.message}${given}`];
  });
}

/** Parses a setting's text with its schema, or throws one line naming it (`bad --peer "x": expected ...`). */
export function parseTextWith<S extends z.ZodType>(schema: S, value: unknown, name: string, text: string): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) throw new DedupError("INPUT_INVALID", describeIssues(result.error, { prefix: "", name, text }).join("\n"));
  return result.data;
}

/** `mirrors[0].upstream` */
export function pathText(path: readonly PropertyKey[]): string {
  return path.map((part, i) => (typeof part === "number" ? `[${part}]` : `${i === 0 ? "" : "."}${String(part)}`)).join("");
}

/** Keys whose values are never repeated in a message. */
const SECRET_KEYS = new Set(["password", "peerSecret"]);

function shown(value: unknown): string {
  const text = maskUrlPasswords(JSON.stringify(value, (key, inner: unknown) => (SECRET_KEYS.has(key) ? "<masked>" : inner)) ?? String(value));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `scheme://user:secret@host` with the secret masked, wherever it stands in `text`. */
export function maskUrlPasswords(text: string): string {
  return text.replace(/(\/\/[^/:@\s"]*):[^/@\s"]*@/g, "$1:***@");
}

/** What an unknown key could have been: the known ones when they are few, else the nearest by spelling. */
function suggestion(key: string, known: readonly string[]): string {
  if (known.length === 0) return "";
  if (known.length <= 6) return ` (expected one of: ${known.join(", ")})`;
  const nearest = [...known].sort((a, b) => editDistance(key.toLowerCase(), a.toLowerCase()) - editDistance(key.toLowerCase(), b.toLowerCase()))[0]!;
  return editDistance(key.toLowerCase(), nearest.toLowerCase()) <= Math.max(2, key.length / 3) ? ` (did you mean ${nearest}?)` : "";
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

/** The shape of zod's schema definitions that `keysAt` walks. */
interface SchemaDef {
  type: string;
  shape?: Record<string, { def: SchemaDef }>;
  element?: { def: SchemaDef };
  in?: { def: SchemaDef };
  innerType?: { def: SchemaDef };
}

/** The keys an object schema allows at a path into it (`["mirrors", 0]`): what an unknown key could have been. */
export function keysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (def: SchemaDef): SchemaDef => {
    const inner = def.in ?? def.innerType;
    return (def.type === "pipe" || def.type === "optional" || def.type === "nullable") && inner !== undefined ? unwrap(inner.def) : def;
  };
  let def: SchemaDef | undefined = unwrap(schema.def as unknown as SchemaDef);
  for (const part of path) {
    const next: { def: SchemaDef } | undefined = typeof part === "number" ? def.element : def.shape?.[String(part)];
    if (next === undefined) return [];
    def = unwrap(next.def);
  }
  return def.shape === undefined ? [] : Object.keys(def.shape);
}
