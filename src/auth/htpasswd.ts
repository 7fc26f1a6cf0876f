import { createHmac, randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import bcrypt from "bcryptjs";
import { AuthConfigError } from "./errors.js";

/**
 * Users and passwords from an Apache htpasswd file, bcrypt entries only (`htpasswd -B`), as
 * distribution's htpasswd access controller reads them. Other schemes (MD5 `$apr1$`, `{SHA}`,
 * crypt, plain text) are weak and refused with the line that holds them.
 *
 * Cost: bcryptjs (pure JS) verifies a cost-10 hash in about 75 ms on this project's machines, and
 * a Basic-auth client sends its password with every request. So a password that verified is
 * remembered for a minute (as an HMAC under a per-process key, never the password itself); a
 * wrong one is never remembered, so guessing gets no faster.
 */

/** Anything that checks a user's password; `Htpasswd` and `HtpasswdFile` both are. */
export interface PasswordVerifier {
  verify(user: string, password: string): Promise<boolean>;
}

export interface HtpasswdEntry {
  user: string;
  hash: string;
  cost: number;
}

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** Parses htpasswd text into user -> entry; throws AuthConfigError naming `source:line`. */
export function parseHtpasswd(text: string, source = "htpasswd"): Map<string, HtpasswdEntry> {
  const entries = new Map<string, HtpasswdEntry>();
  const lines = text.split("\n");
  lines.forEach((raw, index) => {
    const where = `${source}:${index + 1}`;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new AuthConfigError(where, "expected user:hash");
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1).trim();
    if (/[\u0000-\u001f\u007f]/.test(user)) throw new AuthConfigError(where, "the user name holds control characters");
    const match = BCRYPT.exec(hash);
    if (!match) throw new AuthConfigError(where, `user ${JSON.stringify(user)}: ${describeScheme(hash)}; only bcrypt ($2y$, $2a$, $2b$) is accepted: recreate it with htpasswd -B`);
    const cost = Number(match[1]);
    if (cost < 4 || cost > 31) throw new AuthConfigError(where, `user ${JSON.stringify(user)}: bcrypt cost ${cost} is outside 4..31`);
    if (entries.has(user)) throw new AuthConfigError(where, `user ${JSON.stringify(user)} appears twice`);
    entries.set(user, { user, hash, cost });
  });
  return entries;
}

/** Names the scheme of a hash that is not bcrypt, for the error (never echoes the hash). */
function describeScheme(hash: string): string {
  if (hash.startsWith("$2")) return "malformed bcrypt hash";
  if (hash.startsWith("$apr1$")) return "Apache MD5 ($apr1$) hash";
  if (hash.startsWith("$1$")) return "MD5-crypt ($1$) hash";
  if (hash.startsWith("$5$")) return "SHA-256-crypt ($5$) hash";
  if (hash.startsWith("$6$")) return "SHA-512-crypt ($6$) hash";
  if (hash.startsWith("{SHA}")) return "SHA-1 ({SHA}) hash";
  if (/^[./A-Za-z0-9]{13}$/.test(hash)) return "DES crypt hash (or a plain-text password)";
  return "unsupported password scheme (or a plain-text password)";
}

export interface HtpasswdOptions {
  /** How long a verified password is remembered; 0 disables. Default 60 s. */
  cacheTtlMs?: number;
  /** Most remembered passwords; the oldest go first. Default 1024. */
  cacheMax?: number;
  /** The bcrypt comparison; tests count calls through it. Default bcryptjs's async compare, which yields to the event loop while it works. */
  compare?: (password: string, hash: string) => Promise<boolean>;
  /** The clock, in ms; tests pass a fixed one. */
  now?: () => number;
}

/** One parsed htpasswd file. */
export class Htpasswd implements PasswordVerifier {
  readonly #entries: ReadonlyMap<string, HtpasswdEntry>;
  readonly #compare: (password: string, hash: string) => Promise<boolean>;
  readonly #now: () => number;
  readonly #cacheTtlMs: number;
  readonly #cacheMax: number;
  readonly #cacheKey = randomBytes(32);
  /** HMAC(user, password) -> when it stops counting. Insertion order is age order. */
  readonly #verified = new Map<string, number>();
  #dummy: Promise<string> | undefined;
  /** The cost of the dummy hash an unknown user is checked against: the most common cost in the file. */
  readonly dummyCost: number;

  constructor(entries: ReadonlyMap<string, HtpasswdEntry>, options: HtpasswdOptions = {}) {
    this.#entries = entries;
    this.#compare = options.compare ?? ((password, hash) => bcrypt.compare(password, hash));
    this.#now = options.now ?? Date.now;
    this.#cacheTtlMs = options.cacheTtlMs ?? 60_000;
    this.#cacheMax = options.cacheMax ?? 1024;
    this.dummyCost = mostCommonCost(entries);
  }

  static parse(text: string, source?: string, options?: HtpasswdOptions): Htpasswd {
    return new Htpasswd(parseHtpasswd(text, source), options);
  }

  get size(): number {
    return this.#entries.size;
  }

  has(user: string): boolean {
    return this.#entries.has(user);
  }

  /**
   * Whether `password` is `user`'s. An unknown user costs the same bcrypt work as a known one
   * (a dummy hash of the file's usual cost), so timing does not tell which users exist.
   */
  async verify(user: string, password: string): Promise<boolean> {
    const entry = this.#entries.get(user);
    const key = createHmac("sha256", this.#cacheKey).update(user).update("\0").update(password).digest("base64");
    const now = this.#now();
    const until = this.#verified.get(key);
    if (entry !== undefined && until !== undefined && until > now) return true;
    if (until !== undefined) this.#verified.delete(key);
    const hash = entry?.hash ?? (await this.#dummyHash());
    const ok = (await this.#compare(password, hash)) && entry !== undefined;
    if (ok && this.#cacheTtlMs > 0) this.#remember(key, now + this.#cacheTtlMs);
    return ok;
  }

  #remember(key: string, until: number): void {
    this.#verified.set(key, until);
    while (this.#verified.size > this.#cacheMax) {
      const oldest = this.#verified.keys().next().value;
      if (oldest === undefined) break;
      this.#verified.delete(oldest);
    }
  }

  #dummyHash(): Promise<string> {
    // Made once, on first need, so loading a file stays cheap; its password is random and lost.
    this.#dummy ??= bcrypt.hash(randomBytes(18).toString("base64"), this.dummyCost);
    return this.#dummy;
  }
}

function mostCommonCost(entries: ReadonlyMap<string, HtpasswdEntry>): number {
  const counts = new Map<number, number>();
  for (const { cost } of entries.values()) counts.set(cost, (counts.get(cost) ?? 0) + 1);
  let best = 10;
  let bestCount = 0;
  for (const [cost, count] of counts) {
    if (count > bestCount || (count === bestCount && cost > best)) [best, bestCount] = [cost, count];
  }
  return best;
}

export interface HtpasswdFileOptions extends HtpasswdOptions {
  /** How often the file's mtime, size and inode are looked at; default 5 s. 0: on every verify. */
  checkIntervalMs?: number;
  /** Where a failed reload is reported; the users loaded before stay in force. */
  log?: (line: string) => void;
}

/**
 * An htpasswd file that is read again when it changes, so users can be added or removed
 * without a restart. A file that no longer parses (or vanishes) keeps the last good users and
 * is reported through `log`; `load` is strict and throws.
 */
export class HtpasswdFile implements PasswordVerifier {
  readonly path: string;
  readonly #options: HtpasswdFileOptions;
  #current: Htpasswd | undefined;
  #signature = "";
  #checkedAt = -Infinity;
  #checking: Promise<void> | undefined;

  constructor(path: string, options: HtpasswdFileOptions = {}) {
    this.path = path;
    this.#options = options;
  }

  /** Reads the file; throws AuthConfigError when it cannot be read or parsed. */
  async load(): Promise<Htpasswd> {
    const now = (this.#options.now ?? Date.now)();
    let info;
    let text;
    try {
      info = await stat(this.path);
      text = await readFile(this.path, "utf8");
    } catch (error) {
      throw new AuthConfigError(this.path, `cannot read the htpasswd file: ${(error as Error).message}`, { cause: error });
    }
    this.#current = Htpasswd.parse(text, this.path, this.#options);
    this.#signature = `${info.ino}:${info.size}:${info.mtimeMs}`;
    this.#checkedAt = now;
    return this.#current;
  }

  async verify(user: string, password: string): Promise<boolean> {
    await this.#refresh();
    if (this.#current === undefined) throw new AuthConfigError(this.path, "the htpasswd file was never loaded");
    return this.#current.verify(user, password);
  }

  async #refresh(): Promise<void> {
    if (this.#current === undefined) {
      await this.load();
      return;
    }
    const now = (this.#options.now ?? Date.now)();
    if (now - this.#checkedAt < (this.#options.checkIntervalMs ?? 5_000)) return;
    // Concurrent requests share one look at the file.
    this.#checking ??= this.#reloadIfChanged(now).finally(() => (this.#checking = undefined));
    await this.#checking;
  }

  async #reloadIfChanged(now: number): Promise<void> {
    this.#checkedAt = now;
    try {
      const info = await stat(this.path);
      if (`${info.ino}:${info.size}:${info.mtimeMs}` === this.#signature) return;
      await this.load();
      this.#options.log?.(`reloaded ${this.path}: ${this.#current?.size} users`);
    } catch (error) {
      this.#options.log?.(`keeping the users loaded before: ${(error as Error).message}`);
    }
  }
}
