/**
 * The sites' records in the store's metadata API, beside the registry's (registry/keys.ts):
 *
 *   sites/log/<seq, 16 digits>          this site's change log               ChangeEntry (change-log.ts)
 *   sites/log-head                      the last seq written                 "<seq>"
 *   sites/stamp/<registry key>          who last wrote a shared key          "<time> <site>"
 *   sites/peer/<peer>/seq               how far this site has read <peer>'s log
 *   sites/holds/<site>/<digest>         <site> holds the whole blob          "" (announced in a log)
 *   sites/has/<peer>/<digest>           which of the blob's chunks <peer> said it holds: a bitmap in recipe order
 *   sites/link/<peer>                   the link estimate from <peer>        {"bytesPerSecond": n, "updated": ISO time}
 *
 * Nothing here is ever only in memory: a restarted site knows what it knew.
 */
const ROOT = "sites/";
const SEQ_DIGITS = 16;

export const siteKeys = {
  logPrefix: `${ROOT}log/`,
  logEntry: (seq: number) => `${ROOT}log/${String(seq).padStart(SEQ_DIGITS, "0")}`,
  logHead: `${ROOT}log-head`,
  seqOfLogKey: (key: string) => Number(key.slice(`${ROOT}log/`.length)),

  stamp: (key: string) => `${ROOT}stamp/${key}`,
  peerPosition: (peer: string) => `${ROOT}peer/${peer}/seq`,
  holds: (site: string, digest: string) => `${ROOT}holds/${site}/${digest}`,
  has: (peer: string, digest: string) => `${ROOT}has/${peer}/${digest}`,
  link: (peer: string) => `${ROOT}link/${peer}`,
} as const;

/** Registry keys that every site shares; upload sessions stay with the site that holds their parts. */
export function isShared(key: string): boolean {
  return key.startsWith("registry/") && !key.startsWith("registry/upload/");
}
