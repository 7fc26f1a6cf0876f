// Test and benchmark inputs for the zlib encoder: text, binaries, repetitive data and real tar, all
// deterministic for a given machine.

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, run } from "../helpers.js";

const MiB = 1 << 20;

/** The texts of /usr/share/common-licenses (or word salad where it is missing). */
export function licenses(): Buffer {
  const dir = "/usr/share/common-licenses";
  if (!existsSync(dir)) return synthText(300_000, 5);
  return Buffer.concat(
    readdirSync(dir)
      .sort()
      .map((f) => join(dir, f))
      .filter((f) => statSync(f).isFile())
      .map((f) => readFileSync(f)),
  );
}

/** Word salad with a skewed vocabulary: compressible like text, deterministic. */
export function synthText(length: number, seed: number): Buffer {
  const rnd = randomBytes(length + 64, seed);
  const words: string[] = [];
  for (let i = 0; i < 3000; i++) {
    let w = "";
    const len = 2 + (rnd[i % rnd.length]! % 9);
    for (let j = 0; j < len; j++) w += String.fromCharCode(97 + (rnd[(i * 7 + j * 13) % rnd.length]! % 26));
    words.push(w);
  }
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < length; i++) {
    const r = rnd.readUInt16LE((i * 2) % (rnd.length - 2));
    const w = words[Math.floor((r / 65536) ** 3 * words.length)]!;
    parts.push(w);
    size += w.length + 1;
  }
  return Buffer.from(parts.join(" ")).subarray(0, length);
}

/** Real shared libraries (machine code, tables, strings), up to `max` bytes. */
export function binaries(max: number): Buffer {
  const dir = "/usr/lib/x86_64-linux-gnu";
  const names = ["libc.so.6", "libstdc++.so.6", "libz.so.1", "libm.so.6", "libcrypto.so.3", "libssl.so.3"];
  const parts: Buffer[] = [];
  let size = 0;
  for (const n of names) {
    const p = join(dir, n);
    if (!existsSync(p) || size >= max) continue;
    const b = readFileSync(p);
    parts.push(b);
    size += b.length;
  }
  if (size === 0) return Buffer.concat([randomBytes(max >> 1, 3), synthText(max >> 1, 4)]);
  return Buffer.concat(parts).subarray(0, max);
}

/**
 * Zeros, short periods, long repeats (258+ matches) with sparse edits, a repeat at the window's
 * distance. `scale` < 1 shortens the zeros and the periodic runs (levels 8 and 9 are slow on them,
 * in Go as well: about 7 us a byte of zeros).
 */
export function repetitive(scale = 1): Buffer {
  const parts: Buffer[] = [Buffer.alloc(Math.round(300_000 * scale))];
  for (const period of [1, 2, 3, 4, 5, 7, 8, 13]) {
    const unit = randomBytes(period, period + 100);
    const b = Buffer.alloc(Math.round((40_000 + period * 997) * scale));
    for (let i = 0; i < b.length; i++) b[i] = unit[i % period]!;
    parts.push(b);
  }
  const unit = randomBytes(5000, 42);
  const rep = Buffer.alloc(400_000);
  for (let i = 0; i < rep.length; i++) rep[i] = unit[i % unit.length]!;
  for (let i = 777; i < rep.length; i += 3001) rep[i] = rep[i]! ^ 0x5a;
  parts.push(rep);
  // Repeats at distances just under, at and over the 32 KiB window (zlib's MAX_DIST is 32506).
  const far = randomBytes(32_768, 43);
  parts.push(far, randomBytes(100, 44), far, far.subarray(0, 20_000), randomBytes(32_506 - 20_000, 45), far.subarray(0, 5000));
  return Buffer.concat(parts);
}

let tarCache: Promise<Buffer> | undefined;

/**
 * Real tar data, made once in `dir`: 8 MB of a tar of /usr/share/doc, 8 MB of /usr/include, 4 MB of /etc,
 * 8 MB of libraries, then more of /usr/share/doc (padded with text and random bytes where that is short);
 * cut to `size` bytes. Up to about 80 MB.
 */
export function realTar(dir: string, size: number): Promise<Buffer> {
  tarCache ??= (async () => {
    const tarOf = async (src: string, max: number): Promise<Buffer> => {
      if (!existsSync(src)) return Buffer.alloc(0);
      const file = join(dir, "part.tar");
      await run("sh", ["-c", `tar -cf - ${src} 2>/dev/null | head -c ${max} > ${file}; true`]);
      return readFileSync(file);
    };
    const doc = await tarOf("/usr/share/doc", 60 * MiB);
    const parts = [doc.subarray(0, 8 * MiB), await tarOf("/usr/include", 8 * MiB), await tarOf("/etc", 4 * MiB), binaries(8 * MiB), doc.subarray(8 * MiB)];
    const all = Buffer.concat(parts);
    return all.length >= 60 * MiB ? all : Buffer.concat([all, synthText(10 * MiB, 31), randomBytes(10 * MiB, 32), await tarOf("/usr/lib", 60 * MiB - all.length)]);
  })();
  return tarCache.then((b) => b.subarray(0, Math.min(size, b.length)));
}
