import { createSecureContext } from "node:tls";
import { DedupError } from "../errors.js";
import { readSettingsFile } from "./read-file.js";

/** PEM files: a certificate (chain), its private key, and optionally the CA certificates to trust. */
export interface TlsFiles {
  cert: string;
  key: string;
  ca?: string;
}

/** Reads the files, and checks that they make a TLS context (the key matches the certificate, the CA parses). */
export async function readTlsFiles(files: TlsFiles): Promise<{ cert: Buffer; key: Buffer; ca?: Buffer }> {
  const read = (path: string, what: string) => readSettingsFile(path, `TLS ${what}`);
  const material: { cert: Buffer; key: Buffer; ca?: Buffer } = { cert: await read(files.cert, "certificate"), key: await read(files.key, "key"), ...(files.ca === undefined ? {} : { ca: await read(files.ca, "CA certificate") }) };
  try {
    createSecureContext(material);
  } catch (error) {
    const what = files.ca === undefined ? "certificate or key" : "certificate, key or CA";
    throw new DedupError("INPUT_INVALID", `bad TLS ${what} (${[files.cert, files.key, files.ca].filter(Boolean).join(", ")}): ${(error as Error).message}`);
  }
  return material;
}
