import { parentPort } from "node:worker_threads";
import bcrypt from "bcryptjs";

/** A worker of BcryptPool: one comparison at a time, synchronously (this thread does nothing else). */
parentPort!.on("message", (message: { id: number; password: string; hash: string }) => {
  let ok = false;
  try {
    ok = bcrypt.compareSync(message.password, message.hash);
  } catch {
    // A hash bcryptjs cannot read matches no password.
  }
  parentPort!.postMessage({ id: message.id, ok });
});
