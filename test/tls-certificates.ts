import { join } from "node:path";
import { run } from "./helpers.js";

/** A PEM certificate and its private key, as files. */
export interface CertificateFiles {
  cert: string;
  key: string;
}

const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"];

/** A self-signed certificate for IP 127.0.0.1 (made with the openssl CLI), in `dir` as cert.pem and key.pem. */
export async function selfSignedCertificate(dir: string): Promise<CertificateFiles> {
  const files = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  await run("openssl", ["req", "-x509", ...NEW_KEY, "-keyout", files.key, "-out", files.cert, "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]);
  return files;
}

/** A CA (its certificate and key in `dir`), and certificates it signs: for IP 127.0.0.1, good as server and as client. */
export async function certificateAuthority(dir: string, name = "ca"): Promise<CertificateFiles & { issue(subject: string): Promise<CertificateFiles> }> {
  const ca = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  await run("openssl", ["req", "-x509", ...NEW_KEY, "-keyout", ca.key, "-out", ca.cert, "-subj", `/CN=${name}`]);
  return {
    ...ca,
    issue: async (subject) => {
      const files = { cert: join(dir, `${subject}.pem`), key: join(dir, `${subject}-key.pem`) };
      await run("openssl", [
        "req", "-x509", ...NEW_KEY, "-keyout", files.key, "-out", files.cert, "-subj", `/CN=${subject}`, "-CA", ca.cert, "-CAkey", ca.key,
        "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE",
      ]);
      return files;
    },
  };
}
