/**
 * The status page: a static HTML shell, a stylesheet and a script (all served by us: no CDN, no
 * external font, and a Content-Security-Policy that allows nothing else). The script fetches
 * `/status.json` every 2 s and re-renders with DOM calls (textContent only: names and error messages
 * are never parsed as HTML); the lag chart is an inline SVG drawn from the JSON.
 * The `/storage` listing is rendered here on the server (escaped), with the same stylesheet.
 */
import { readFileSync } from 'node:fs';
import { formatBytes } from '../util/format.js';
import { packageRoot } from '../util/package-root.js';
import { formatDuration } from '../config/units.js';
import type { StorageListing } from './view.js';

/** The start of every page, up to `<body>`: `title` is HTML (escape it). */
function pageHead(title: string, extra = ''): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/status.css">
${extra}</head>`;
}

export const PAGE_HTML = `${pageHead('Lightning Stream status', '<script src="/assets/status.js" defer></script>\n')}
<body>
<header>
  <h1><span class="bolt" aria-hidden="true">&#9889;</span> Lightning Stream <span id="instance" class="instance"></span></h1>
  <nav><a href="/storage">Storage</a><a href="/metrics">Metrics</a><a href="/healthz">/healthz</a><a href="/readyz">/readyz</a><a href="/status.json">status.json</a></nav>
</header>
<div id="summary" class="summary"></div>
<div id="banner" class="banner" hidden></div>
<main id="lmdbs"><p class="muted">Loading&hellip;</p></main>
<footer id="footer" class="muted"></footer>
</body>
</html>
`;

export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><path d="M9 0 2 9h5l-1 7 7-9H8z" fill="#f5b400"/></svg>`;


/**
 * The page script. Plain JavaScript in a String.raw literal: it must contain no backtick and no
 * dollar-brace sequence.
 */
/** The page's stylesheet and script: real files beside the sources (the linter checks the script). */
const ASSETS = new URL('src/status/assets/', packageRoot(import.meta.url));
export const PAGE_CSS = readFileSync(new URL('status.css', ASSETS), 'utf8');
export const PAGE_JS = readFileSync(new URL('status.js', ASSETS), 'utf8');

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** `2026-11-26T10:39:08.416Z` as `2026-11-26 10:39:08.416` (the column says UTC). */
const utc = (isoTime: string): string => escapeHtml(isoTime.replace('T', ' ').replace(/Z$/, ''));

/** The `/storage` page. */
export function storageHtml(instance: string, listing: StorageListing, ms: number): string {
  const rows = listing.objects.map((o) => {
    const s = o.snapshot;
    return `<tr><td class="mono">${escapeHtml(o.name)}</td><td>${s ? escapeHtml(s.db) : ''}</td><td>${s ? escapeHtml(s.instance) : '<span class="muted">not a snapshot</span>'}</td>` +
      `<td class="mono nowrap">${s ? utc(s.timestamp) : ''}</td><td class="num nowrap">${formatBytes(o.size)}</td><td class="mono nowrap">${utc(o.lastModified)}</td></tr>`;
  }).join('\n');
  const objects = (n: number) => `${n} object${n === 1 ? '' : 's'}`;
  const shown = listing.truncated ? `first ${listing.objects.length} of ${objects(listing.total)}` : objects(listing.total);
  return `${pageHead(`Storage &ndash; Lightning Stream ${escapeHtml(instance)}`)}
<body>
<header>
  <h1><span class="bolt" aria-hidden="true">&#9889;</span> Storage <span class="instance">${escapeHtml(instance)}</span></h1>
  <nav><a href="/">Status</a><a href="/storage?format=json&amp;prefix=${encodeURIComponent(listing.prefix)}&amp;limit=${listing.limit}">JSON</a></nav>
</header>
<section class="card">
<form class="filters" method="get" action="/storage">
  <label>Prefix <input name="prefix" value="${escapeHtml(listing.prefix)}" placeholder="e.g. main__"></label>
  <label>Limit <input name="limit" type="number" min="1" value="${listing.limit}"></label>
  <button type="submit">List</button>
</form>
<p>${shown}, ${formatBytes(listing.totalBytes)} in total; listed in ${formatDuration(ms)}.</p>
<div class="scroll"><table>
<thead><tr><th>Name</th><th>LMDB</th><th>Instance</th><th>Snapshot time (UTC)</th><th class="num">Size</th><th>Last modified (UTC)</th></tr></thead>
<tbody>
${rows}
</tbody>
</table></div>
</section>
</body>
</html>
`;
}
