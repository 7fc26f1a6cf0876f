/**
 * The page's HTML and CSS, kept as strings so that tsc alone puts them into dist (no copy step);
 * its script is app.ts, compiled beside this file. Everything it loads is its own (`pages.ts`
 * serves it under a Content-Security-Policy of 'self'): no CDN, no framework.
 */

export const INDEX_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>docker-dedup</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="style.css">
<script type="module" src="app.js"></script>
</head>
<body>
<header><h1>docker-dedup</h1><span id="status" role="status"></span></header>
<main>
<section id="repositories">
  <h2>Repositories and tags</h2>
  <p class="note">Size: the image's manifests, configs and layers as clients pull them. Own chunks: the distinct chunks of its configs and layers, what it would cost a store alone.</p>
  <table id="images"><thead><tr><th>#</th><th>Repository</th><th>Tags</th><th>Digest</th><th>Size</th><th>Own chunks</th><th>Blobs</th></tr></thead><tbody></tbody></table>
</section>
<section id="image">
  <h2>Layers of <span id="image-name">(choose an image above)</span></h2>
  <table id="layers"><thead><tr><th>Blob</th><th>Type</th><th>Size</th><th>Distinct chunks</th><th>Shared with</th></tr></thead><tbody></tbody></table>
</section>
<section id="sharing">
  <h2>Sharing heatmap</h2>
  <p class="note">Each cell: the bytes of the distinct chunks both images contain, as a share of the row image's own chunks.</p>
  <table id="heatmap"></table>
</section>
<section id="totals">
  <h2>Store totals over time</h2>
  <p class="note">Sampled by this serve process at start and every <span id="totals-interval">?</span> s, kept in memory.</p>
  <svg id="totals-chart" viewBox="0 0 640 200" role="img" aria-label="store totals over time"></svg>
  <table id="totals-latest"><tbody></tbody></table>
</section>
<section id="sites">
  <h2>Sites</h2>
  <p id="sites-none" class="note">This registry is not a site.</p>
  <svg id="site-map" viewBox="0 0 640 360" role="img" aria-label="sites and their links"></svg>
  <table id="holdings"><thead></thead><tbody></tbody></table>
  <div id="replications"></div>
</section>
</main>
</body>
</html>
`;

export const STYLE_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 1em; padding: 0.6em 1.2em; background: #1d2330; color: #fff; }
header h1 { font-size: 1.2em; margin: 0; }
#status { opacity: 0.8; }
main { padding: 0 1.2em 2em; }
section { background: #fff; border: 1px solid #dde1e7; border-radius: 6px; margin: 1em 0; padding: 0.2em 1em 1em; overflow-x: auto; }
h2 { font-size: 1.05em; }
.note { color: #5a6475; margin-top: 0; }
table { border-collapse: collapse; }
th, td { padding: 0.25em 0.6em; text-align: left; border-bottom: 1px solid #eef0f3; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.selectable { cursor: pointer; }
tr.selected { background: #e6f0ff; }
code { font-size: 0.92em; }
#heatmap td { width: 4.2em; height: 2.2em; text-align: center; border: 1px solid #fff; font-variant-numeric: tabular-nums; }
#heatmap th.col { writing-mode: vertical-rl; transform: rotate(180deg); }
svg { max-width: 100%; background: #fbfcfd; border: 1px solid #eef0f3; }
svg text { font: 11px system-ui, sans-serif; fill: #1d2330; }
svg text.on-dark { fill: #fff; }
.legend span { display: inline-block; width: 0.8em; height: 0.8em; margin: 0 0.3em 0 1em; }
progress { width: 16em; }
`;
