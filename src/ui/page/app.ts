/**
 * The web page's script, run by the browser (compiled by the project's tsc, served as /ui/app.js).
 * It reads the JSON API beside it (api/images, api/totals, api/sites) and draws plain DOM and SVG.
 * Names come from the registry: they are set as text, never as HTML.
 */
import type { ImagesAnswer } from "../overview.js";
import type { SitesAnswer } from "../sites.js";
import type { TotalsSample } from "../totals-history.js";

/** How often each part is read again: replications are live, the rest changes slowly. */
const REFRESH_MS = { images: 30_000, totals: 60_000, sites: 2_000 };
const SVG = "http://www.w3.org/2000/svg";
/** The store's totals drawn, with their colours. */
const SERIES: { key: keyof TotalsSample; label: string; colour: string }[] = [
  { key: "logicalBytes", label: "logical", colour: "#3b6fd8" },
  { key: "chunkedBytes", label: "chunked", colour: "#8a5cd0" },
  { key: "uniqueBytes", label: "unique", colour: "#2e9d62" },
  { key: "storedBytes", label: "stored", colour: "#d4822a" },
];

interface PageState {
  images: ImagesAnswer | undefined;
  selected: number;
}

function byId<T extends Element = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as unknown as T;
}

function el(tag: string, attributes: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${Math.round((part / whole) * 100)}%` : "-";
}

function imageName(state: PageState, index: number): string {
  const image = state.images?.images[index];
  return image === undefined ? `#${index}` : `${image.repository}:${image.tags.join(",")}`;
}

function setStatus(text: string): void {
  byId("status").textContent = text;
}

/** An API answer; a refusal (sign-in needed, or not allowed) is said on the page and ends the read. */
async function api<T>(path: string): Promise<T> {
  const res = await fetch(`api/${path}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (res.status === 401) throw new Error("sign in to see this registry (its API answered 401)");
  if (!res.ok) throw new Error(`api/${path} answered ${res.status}`);
  return (await res.json()) as T;
}

function renderImages(state: PageState, answer: ImagesAnswer): void {
  const body = byId("images").querySelector("tbody")!;
  body.replaceChildren(
    ...answer.images.map((image, i) => {
      const row = el(
        "tr",
        { class: "selectable", "data-image": String(i) },
        el("td", { class: "num" }, String(i)),
        el("td", {}, image.repository),
        el("td", {}, image.tags.join(", ")),
        el("td", {}, el("code", { title: image.digest }, image.digest.slice(7, 19))),
        el("td", { class: "num" }, formatBytes(image.size)),
        el("td", { class: "num" }, formatBytes(image.uniqueBytes)),
        el("td", { class: "num" }, image.error === undefined ? String(image.blobs.length) : `${image.blobs.length} (${image.error})`),
      );
      row.addEventListener("click", () => {
        state.selected = i;
        renderImages(state, answer);
      });
      if (i === state.selected) row.classList.add("selected");
      return row;
    }),
  );
  renderLayers(state, answer);
}

function renderLayers(state: PageState, answer: ImagesAnswer): void {
  const image = answer.images[state.selected];
  byId("image-name").textContent = image === undefined ? "(no image)" : imageName(state, state.selected);
  const body = byId("layers").querySelector("tbody")!;
  body.replaceChildren(
    ...(image?.blobs ?? []).map((blob) => {
      const shared = blob.sharedWith.length === 0 ? "nothing" : blob.sharedWith.map((s) => `${imageName(state, s.image)}: ${formatBytes(s.bytes)} (${percent(s.bytes, blob.uniqueBytes)})`).join("; ");
      return el(
        "tr",
        { "data-blob": blob.digest },
        el("td", {}, el("code", { title: blob.digest }, blob.digest.slice(7, 19))),
        el("td", {}, blob.mediaType.includes("config") ? "config" : "layer"),
        el("td", { class: "num" }, formatBytes(blob.size)),
        el("td", { class: "num" }, formatBytes(blob.uniqueBytes)),
        el("td", {}, shared),
      );
    }),
  );
}

function renderHeatmap(state: PageState, answer: ImagesAnswer): void {
  const header = el("tr", {}, el("th", {}, ""), ...answer.images.map((_, j) => el("th", { class: "col", title: imageName(state, j) }, `#${j} ${imageName(state, j)}`)));
  const rows = answer.common.map((row, i) => {
    const own = row[i] ?? 0;
    const cells = row.map((bytes, j) => {
      const share = own > 0 ? bytes / own : 0;
      // White for nothing in common, deep blue for all of it.
      const colour = `hsl(216, 70%, ${Math.round(97 - share * 55)}%)`;
      const cell = el("td", { "data-row": String(i), "data-col": String(j), "data-bytes": String(bytes), title: `${imageName(state, i)} and ${imageName(state, j)}: ${formatBytes(bytes)} in common` }, percent(bytes, own));
      cell.style.background = colour;
      cell.style.color = share > 0.6 ? "#fff" : "#1d2330";
      return cell;
    });
    return el("tr", {}, el("th", { title: imageName(state, i) }, `#${i} ${imageName(state, i)}`), ...cells);
  });
  byId("heatmap").replaceChildren(el("thead", {}, header), el("tbody", {}, ...rows));
}

function renderTotals(intervalSeconds: number, samples: readonly TotalsSample[]): void {
  byId("totals-interval").textContent = String(intervalSeconds);
  const chart = byId<SVGSVGElement>("totals-chart");
  const [width, height, pad] = [640, 200, 30];
  const first = samples[0]?.time ?? 0;
  const span = Math.max(1, (samples[samples.length - 1]?.time ?? 0) - first);
  const top = Math.max(1, ...samples.flatMap((s) => SERIES.map((series) => Number(s[series.key]))));
  const x = (time: number) => pad + ((time - first) / span) * (width - 2 * pad);
  const y = (bytes: number) => height - pad - (bytes / top) * (height - 2 * pad);
  const lines = SERIES.map((series) => {
    const points = samples.map((s) => `${x(s.time).toFixed(1)},${y(Number(s[series.key])).toFixed(1)}`).join(" ");
    const line = svg("polyline", { points, fill: "none", stroke: series.colour, "stroke-width": 2, "data-series": series.label });
    // The last sample marked, so that a history of one sample shows too.
    const last = samples[samples.length - 1];
    return last === undefined ? [line] : [line, svg("circle", { cx: x(last.time), cy: y(Number(last[series.key])), r: 3, fill: series.colour })];
  });
  chart.replaceChildren(
    svg("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#99a" }),
    svg("text", { x: pad, y: pad - 10 }, formatBytes(top)),
    svg("text", { x: pad, y: height - 8 }, samples.length === 0 ? "no sample yet" : new Date(first).toLocaleTimeString()),
    ...lines.flat(),
  );
  const last = samples[samples.length - 1];
  const body = byId("totals-latest").querySelector("tbody")!;
  body.replaceChildren(
    ...SERIES.map((series) => {
      const swatch = el("span");
      swatch.style.background = series.colour;
      return el("tr", { "data-total": series.label }, el("td", { class: "legend" }, swatch, series.label), el("td", { class: "num" }, last === undefined ? "-" : formatBytes(Number(last[series.key]))));
    }),
    el("tr", {}, el("td", {}, "blobs"), el("td", { class: "num" }, last === undefined ? "-" : String(last.blobs))),
    el("tr", {}, el("td", {}, "chunks"), el("td", { class: "num" }, last === undefined ? "-" : String(last.chunks))),
  );
}

function renderSites(answer: SitesAnswer | { site: null }): void {
  const map = byId<SVGSVGElement>("site-map");
  byId("sites-none").hidden = answer.site !== null;
  map.style.display = answer.site === null ? "none" : "";
  if (answer.site === null) return;
  const [cx, cy, radius] = [320, 180, 130];
  const nodes: SVGElement[] = [];
  const links: SVGElement[] = [];
  answer.peers.forEach((peer, k) => {
    const angle = (2 * Math.PI * k) / Math.max(1, answer.peers.length) - Math.PI / 2;
    const [px, py] = [cx + radius * Math.cos(angle), cy + radius * Math.sin(angle)];
    const colour = peer.answered === false ? "#c0392b" : peer.answered === true ? "#2e9d62" : "#99a";
    const mbits = (peer.bytesPerSecond * 8) / 1e6;
    links.push(svg("line", { x1: cx, y1: cy, x2: px, y2: py, stroke: colour, "stroke-width": 2 }));
    links.push(svg("text", { x: (cx + px) / 2 + 6, y: (cy + py) / 2, "data-link": peer.name }, `${mbits.toFixed(mbits < 10 ? 1 : 0)} Mbit/s, ${formatBytes(peer.fetchedBytes)} fetched`));
    const group = svg("g", { "data-peer": peer.name });
    group.append(svg("circle", { cx: px, cy: py, r: 22, fill: "#fff", stroke: colour, "stroke-width": 3 }), svg("text", { x: px, y: py + 4, "text-anchor": "middle" }, peer.name));
    nodes.push(group);
  });
  const self = svg("g", { "data-site": answer.site });
  self.append(svg("circle", { cx, cy, r: 28, fill: "#1d2330" }), svg("text", { x: cx, y: cy + 4, "text-anchor": "middle", class: "on-dark" }, answer.site));
  map.replaceChildren(...links, ...nodes, self);

  const sites = [answer.site, ...answer.peers.map((peer) => peer.name)];
  byId("holdings").querySelector("thead")!.replaceChildren(el("tr", {}, el("th", {}, "Image (configs and layers held whole)"), ...sites.map((site) => el("th", { class: "num" }, site))));
  byId("holdings")
    .querySelector("tbody")!
    .replaceChildren(...answer.holdings.map((h) => el("tr", {}, el("td", {}, h.name), ...sites.map((site) => el("td", { class: "num", "data-site": site }, percent(h.held[site] ?? 0, h.bytes))))));
  byId("replications").replaceChildren(
    el("h3", {}, answer.replications.length === 0 ? "No replication running" : "Replications running"),
    ...answer.replications.map((r) => {
      const bar = el("progress", { max: String(Math.max(1, r.total)), value: String(r.done) });
      return el("p", {}, `${r.image} to ${r.site}: `, bar, ` ${formatBytes(r.done)} of ${formatBytes(r.total)}, ${formatBytes(r.fetched)} fetched`);
    }),
  );
}

/** Reads and draws one part now, then again every `ms`; a failure is shown and the next round tries again. */
function keepFresh(ms: number, read: () => Promise<void>): void {
  const round = async () => {
    try {
      await read();
      setStatus(`updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      setStatus((error as Error).message);
    }
    setTimeout(() => void round(), ms);
  };
  void round();
}

/** The page's state lives here, for as long as the page is open. */
function start(): void {
  const state: PageState = { images: undefined, selected: 0 };
  keepFresh(REFRESH_MS.images, async () => {
    const answer = await api<ImagesAnswer>("images");
    state.images = answer;
    if (state.selected >= answer.images.length) state.selected = 0;
    renderImages(state, answer);
    renderHeatmap(state, answer);
  });
  keepFresh(REFRESH_MS.totals, async () => {
    const answer = await api<{ intervalSeconds: number; samples: TotalsSample[] }>("totals");
    renderTotals(answer.intervalSeconds, answer.samples);
  });
  keepFresh(REFRESH_MS.sites, async () => renderSites(await api<SitesAnswer | { site: null }>("sites")));
}

start();
