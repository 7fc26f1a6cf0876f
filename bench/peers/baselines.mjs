#!/usr/bin/env node
// Storage baselines for the dataset built by bench/dataset/build.sh (plain Node ESM, no dependencies).
//
//   layer-level  what a plain registry stores: every distinct layer blob once, as uncompressed
//                bytes and as gzip -6 (what a registry that receives docker's usual gzip layers keeps)
//   file-level   what DupHunter-style file dedup stores: every distinct regular-file content once
//                (sha256 of the content), found by parsing each layer tar
//
// Usage: node bench/peers/baselines.mjs [CACHE_DIR] [--json]   (default /var/tmp/docker-dedup-bench)
// Each layer is read once; the stream feeds gzip (zlib's thread pool) and the tar parser together.
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import zlib from 'node:zlib';

const args = process.argv.slice(2);
const json = args.includes('--json');
const cache = args.find((a) => !a.startsWith('--')) ?? '/var/tmp/docker-dedup-bench';
const datasetFile = path.join(cache, 'dataset.json');
if (!fs.existsSync(datasetFile)) {
  console.error(`baselines.mjs: no ${datasetFile}; run bench/dataset/build.sh ${cache}`);
  process.exit(1);
}
const dataset = JSON.parse(fs.readFileSync(datasetFile, 'utf8'));

// ---- streaming tar parser --------------------------------------------------------------------
// Calls onFile(path, size) for each regular file and feeds its content to the returned object's
// update(buf) (or to nothing when onFile returns null). Handles ustar name prefixes, base-256
// sizes, PAX 'x' headers (size=, path=) and GNU 'L' long names; 'g' and 'K' records are skipped.
class TarParser {
  constructor(onFile, onEnd) {
    this.onFile = onFile; this.onEnd = onEnd;
    this.header = Buffer.alloc(512); this.have = 0;   // bytes of the current header so far
    this.mode = 'header'; this.remaining = 0; this.pad = 0;
    this.sink = null; this.meta = null;               // file hasher, or chunks of a PAX/L record
    this.pax = {}; this.longName = null; this.zeros = 0; this.done = false;
    this.headerBytes = 0;                             // header blocks + PAX/long-name records
  }
  write(buf) {
    let i = 0;
    while (i < buf.length && !this.done) {
      if (this.mode === 'header') {
        const n = Math.min(512 - this.have, buf.length - i);
        buf.copy(this.header, this.have, i, i + n); this.have += n; i += n;
        if (this.have === 512) { this.have = 0; this.parseHeader(); }
      } else if (this.mode === 'data') {
        const n = Math.min(this.remaining, buf.length - i);
        const part = buf.subarray(i, i + n);
        if (this.sink) this.sink.update(part);
        if (this.meta) this.meta.push(Buffer.from(part));
        this.remaining -= n; i += n;
        if (this.remaining === 0) this.endEntry();
      } else { // 'pad': the zero fill that rounds every entry up to 512 bytes
        const n = Math.min(this.pad, buf.length - i);
        this.pad -= n; i += n;
        if (this.pad === 0) this.mode = 'header';
      }
    }
  }
  parseHeader() {
    const h = this.header;
    if (h.every((b) => b === 0)) {                    // two zero blocks end the archive
      if (++this.zeros === 2) { this.done = true; this.onEnd?.(); }
      return;
    }
    this.zeros = 0; this.headerBytes += 512;
    const stored = octal(h.subarray(148, 156));
    let sum = 8 * 32;                                 // the checksum field counts as 8 spaces
    for (let k = 0; k < 512; k++) if (k < 148 || k >= 156) sum += h[k];
    if (sum !== stored) throw new Error(`tar: bad header checksum (${sum} != ${stored})`);
    const type = String.fromCharCode(h[156] || 0x30);
    let size = numeric(h.subarray(124, 136));
    let name = cstr(h.subarray(0, 100));
    if (h.toString('latin1', 257, 262) === 'ustar') {
      const prefix = cstr(h.subarray(345, 500));
      if (prefix) name = `${prefix}/${name}`;
    }
    // a PAX or GNU record applies to the header that follows it
    if (this.longName !== null) { name = this.longName; this.longName = null; }
    if (this.pax.path !== undefined) name = this.pax.path;
    if (this.pax.size !== undefined && !'xgLK'.includes(type)) size = Number(this.pax.size);
    if (!'xg'.includes(type)) this.pax = {};
    this.type = type; this.remaining = size;
    this.sink = null; this.meta = null;
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') { this.meta = []; this.headerBytes += size; }
    else if (type === '0' || type === '7') this.sink = this.onFile(name, size);
    this.pad = (512 - (size % 512)) % 512;
    if (size === 0) this.endEntry(); else this.mode = 'data';
  }
  endEntry() {
    if (this.sink) this.sink.end?.();
    if (this.meta) {
      const body = Buffer.concat(this.meta);
      if (this.type === 'x') Object.assign(this.pax, parsePax(body));
      else if (this.type === 'L') this.longName = cstr(body);
      // 'g' (global PAX) and 'K' (GNU long link name) do not change file contents: ignored
    }
    this.sink = null; this.meta = null;
    this.mode = this.pad > 0 ? 'pad' : 'header';
  }
}
function cstr(b) { const z = b.indexOf(0); return b.toString('utf8', 0, z < 0 ? b.length : z); }
function octal(b) { const s = cstr(b).trim(); return s ? parseInt(s, 8) : 0; }
function numeric(b) {                                 // ustar octal, or GNU base-256 when bit 7 is set
  if (!(b[0] & 0x80)) return octal(b);
  if (b[0] & 0x40) throw new Error('tar: negative base-256 size');
  let v = BigInt(b[0] & 0x3f);
  for (let k = 1; k < b.length; k++) v = (v << 8n) | BigInt(b[k]);
  return Number(v);
}
function parsePax(body) {                             // records "LEN key=value\n", LEN counts the whole record
  const out = {};
  let p = 0;
  while (p < body.length) {
    const sp = body.indexOf(0x20, p);
    if (sp < 0) break;
    const len = parseInt(body.toString('latin1', p, sp), 10);
    if (!(len > 0)) break;
    const rec = body.toString('utf8', sp + 1, p + len - 1); // without the trailing newline
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    p += len;
  }
  return out;
}

// ---- one pass per layer: gzip size and file hashes --------------------------------------------
const files = new Map();                              // sha256 -> size, over all layers
async function scanLayer(file) {
  let fileBytes = 0, fileCount = 0, newBytes = 0, newFiles = 0, gz = 0;
  const parser = new TarParser((name, size) => {
    fileCount++; fileBytes += size;
    const h = crypto.createHash('sha256');
    return {
      update: (b) => h.update(b),
      end: () => {
        const d = h.digest('hex');
        if (!files.has(d)) { files.set(d, size); newBytes += size; newFiles++; }
      },
    };
  });
  const gzip = zlib.createGzip({ level: 6 });
  gzip.on('data', (c) => { gz += c.length; });
  const gzDone = new Promise((res, rej) => { gzip.on('end', res); gzip.on('error', rej); });
  const input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
  for await (const chunk of input) {
    parser.write(chunk);
    if (!gzip.write(chunk)) await new Promise((r) => gzip.once('drain', r));
  }
  gzip.end();
  await gzDone;
  if (!parser.done) throw new Error(`${file}: tar ended without its end-of-archive blocks`);
  return { fileCount, fileBytes, newFiles, newBytes, gz, headerBytes: parser.headerBytes };
}

const t0 = process.hrtime.bigint();
const rows = [];
for (const l of dataset.layers) {
  const r = await scanLayer(path.join(cache, 'layers', l.file));
  rows.push({ digest: l.digest, size: l.size, usedBy: l.usedBy, ...r });
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
const pulled = dataset.images.reduce((a, img) => a + img.layers.reduce(
  (b, d) => b + dataset.layers.find((l) => l.digest === d).size, 0), 0);
const result = {
  layers: rows,
  pulledBytes: pulled,
  layerLevel: { blobs: rows.length, bytes: sum('size'), gzipBytes: sum('gz') },
  fileLevel: {
    files: sum('fileCount'), fileBytes: sum('fileBytes'),
    distinctFiles: files.size, distinctFileBytes: sum('newBytes'),
    tarHeaderBytes: sum('headerBytes'),                 // what rebuilding the tars needs besides file data
    tarOverheadBytes: sum('size') - sum('fileBytes'),   // headers + padding + end blocks
  },
  seconds: secs,
};
if (json) { console.log(JSON.stringify(result, null, 2)); process.exit(0); }

const MiB = (n) => (n / 1048576).toFixed(1);
const pad = (s, n) => String(s).padStart(n);
console.log('layer          size MiB  gzip-6 MiB   files  file MiB  new distinct file MiB  used by');
for (const r of rows) {
  console.log(`${r.digest.slice(7, 19)}  ${pad(MiB(r.size), 9)}  ${pad(MiB(r.gz), 10)}  ${pad(r.fileCount, 6)}  ${pad(MiB(r.fileBytes), 8)}  ${pad(MiB(r.newBytes), 21)}  ${r.usedBy.join(',')}`);
}
const L = result.layerLevel, F = result.fileLevel, base = L.bytes;
const line = (what, n) => console.log(`${what.padEnd(52)} ${pad(n, 11)} B ${pad(MiB(n), 8)} MiB  ${pad((base / n).toFixed(2), 5)}x`);
console.log('\nbaseline (ratio = distinct layer bytes / this)');
line('all layers of all images (what clients pull)', pulled);
line(`layer-level: ${L.blobs} distinct blobs, uncompressed`, L.bytes);
line('layer-level: the same blobs gzip -6', L.gzipBytes);
line(`file-level: ${F.files} regular files, all content`, F.fileBytes);
line(`file-level: ${F.distinctFiles} distinct file contents (sha256)`, F.distinctFileBytes);
line('file-level: distinct contents + every tar header', F.distinctFileBytes + F.tarHeaderBytes);
console.log(`tar bytes that are not file content: ${MiB(F.tarOverheadBytes)} MiB, of which headers ${MiB(F.tarHeaderBytes)} MiB; scanned in ${secs.toFixed(1)} s`);
