import { readFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import type { PagesUnder } from "../registry/app.js";
import { authorizeListing } from "../registry/access.js";
import type { Exchange } from "../registry/context.js";
import { sendJson } from "../registry/http-util.js";
import { RegistryError } from "../registry/oci-errors.js";
import { INDEX_HTML, STYLE_CSS } from "./page/index.js";
import { visibleTo, type Overview } from "./overview.js";
import { sitesAnswer, type SitesView } from "./sites.js";
import type { TotalsHistory } from "./totals-history.js";

export interface WebPageParts {
  overview: Overview;
  totals: TotalsHistory;
  /** The running site, when serve is one (sites.ts). */
  site?: SitesView | undefined;
}

/** Where the page and its API live, beside /v2/. */
export const UI_PREFIX = "/ui";

/** The page's own files; nothing from elsewhere (its Content-Security-Policy says so to the browser). */
const SECURITY_HEADERS = {
  "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
  "Cache-Control": "no-cache",
};

/**
 * The web page at /ui/ and its JSON API at /ui/api/: `images` (repositories, tags, sizes, each
 * blob's sharing with the other images, the heatmap), `totals` (the store's totals over time),
 * `sites` (peers, link estimates, what each site holds, replications under way). The page
 * itself is static and answered to anyone; the API is authorized as the catalog is, and shows
 * only the repositories the caller may pull.
 */
export function webPages(parts: WebPageParts): PagesUnder {
  // The browser script is the compiled page/app.ts, next to this module (in dist, as tsc lays it out).
  const script = (name: string) => readFile(new URL(`./page/${name}`, import.meta.url));
  const files: Record<string, { type: string; body: () => Promise<Buffer | string> }> = {
    "/ui/": { type: "text/html; charset=utf-8", body: async () => INDEX_HTML },
    "/ui/style.css": { type: "text/css; charset=utf-8", body: async () => STYLE_CSS },
    "/ui/app.js": { type: "text/javascript; charset=utf-8", body: () => script("app.js") },
    "/ui/app.js.map": { type: "application/json; charset=utf-8", body: () => script("app.js.map") },
  };
  const api: Record<string, (mayList: (repository: string) => boolean) => Promise<unknown>> = {
    "/ui/api/images": async (mayList) => visibleTo(await parts.overview.get(), mayList),
    "/ui/api/totals": async () => ({ intervalSeconds: parts.totals.intervalMs / 1000, samples: parts.totals.samples() }),
    "/ui/api/sites": async (mayList) => {
      if (parts.site === undefined) return { site: null };
      const images = visibleTo(await parts.overview.get(), mayList).images;
      return sitesAnswer(parts.site, images, mayList);
    },
  };
  return {
    prefix: UI_PREFIX,
    name: "ui",
    answer: async (ex, path) => {
      if (ex.method !== "GET" && ex.method !== "HEAD") {
        throw new RegistryError("UNSUPPORTED", `${ex.method} is not supported on this endpoint`, { status: 405, headers: { Allow: "GET, HEAD" } });
      }
      if (path === UI_PREFIX) return redirect(ex.res, `${UI_PREFIX}/`);
      const file = files[path];
      if (file !== undefined) return send(ex, file.type, await file.body());
      const call = api[path];
      if (call === undefined) throw new RegistryError("UNSUPPORTED", `no such page: ${path.slice(0, 200)}`, { status: 404 });
      const who = await authorizeListing(ex);
      sendJson(ex.res, 200, await call(who === undefined ? () => true : (repository) => who.mayList(repository)), { "Cache-Control": "no-store" });
    },
  };
}

function send(ex: Exchange, type: string, body: Buffer | string): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  ex.res.writeHead(200, { "Content-Type": type, "Content-Length": String(bytes.length), ...SECURITY_HEADERS });
  ex.res.end(ex.method === "HEAD" ? undefined : bytes);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(301, { Location: location, "Content-Length": "0" });
  res.end();
}
