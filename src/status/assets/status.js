// The status page script (served as /assets/status.js): fetches /status.json every 2 s and renders it with
// DOM calls only (textContent: names and messages are never parsed as HTML). Plain browser JavaScript, no build.
'use strict';
(function () {
  var REFRESH_MS = 2000;
  var COLOURS = ['#0969da', '#8250df', '#bf3989', '#1a7f37', '#bc4c00', '#0a7ea4', '#6e7781'];
  var lastData = null;
  var lastOkAt = 0;
  var openDetails = {};

  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      for (var k in attrs) {
        if (attrs[k] === undefined || attrs[k] === null || attrs[k] === false) continue;
        // style through the CSSOM: the Content-Security-Policy forbids style attributes.
        if (k === 'class') el.className = attrs[k]; else if (k === 'style') el.style.cssText = attrs[k]; else el.setAttribute(k, attrs[k]);
      }
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === undefined || child === null || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  function svg(tag, attrs) {
    var el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) el.setAttribute(k, attrs[k]);
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c !== undefined && c !== null) el.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function fmtBytes(n) {
    if (n === undefined || n === null) return '\u2013';
    var units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + units[i];
  }
  function fmtDuration(s) {
    if (s === undefined || s === null) return '\u2013';
    if (s < 1) return Math.round(s * 1000) + ' ms';
    if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + ' s';
    var m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + Math.round(s % 60) + ' s';
    var hr = Math.floor(m / 60);
    if (hr < 48) return hr + ' h ' + (m % 60) + ' min';
    return Math.floor(hr / 24) + ' d ' + (hr % 24) + ' h';
  }
  function fmtAxis(s) {
    if (s === 0) return '0';
    if (s < 1) return Math.round(s * 1000) + ' ms';
    if (s < 120) return Math.round(s * 10) / 10 + ' s';
    if (s < 7200) return Math.round(s / 6) / 10 + ' min';
    return Math.round(s / 360) / 10 + ' h';
  }
  function fmtTime(iso) {
    if (!iso) return '\u2013';
    var d = new Date(iso);
    function p(x) { return (x < 10 ? '0' : '') + x; }
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function num(n) { return n === undefined || n === null ? '\u2013' : Number(n).toLocaleString('en-US'); }
  function levelText(level) { return { ok: 'OK', warning: 'Warning', error: 'Error', none: '' }[level] || level; }

  function kpi(label, value, sub, extra) {
    return h('div', { class: 'kpi' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value),
      sub ? h('div', { class: 'sub' }, sub) : null, extra || null);
  }

  function envKpis(db) {
    var env = db.env;
    if (env.error) return [kpi('LMDB', 'unavailable', env.error)];
    var pct = env.usedFraction * 100;
    var level = pct >= 90 ? 'error' : pct >= 75 ? 'warning' : 'ok';
    var bar = h('div', { class: 'bar ' + level, title: pct.toFixed(2) + '% of the map in use' }, h('span', { style: 'width:' + Math.min(100, Math.max(0.5, pct)).toFixed(2) + '%' }));
    return [
      kpi('Last txn id', num(env.lastTxnId), db.lastStored ? 'last snapshot: txn ' + num(db.lastStored.txnId) : 'no snapshot stored yet'),
      kpi('Map usage', pct.toFixed(1) + ' %', fmtBytes(env.usedBytes) + ' of ' + fmtBytes(env.mapSize), bar),
      kpi('Readers', num(env.numReaders) + ' / ' + num(env.maxReaders), 'page size ' + fmtBytes(env.pageSize)),
      kpi('Snapshots', num(db.counters.stored) + ' stored', num(db.counters.loaded) + ' merged'),
      kpi('Failures', num(db.counters.listFailures + db.counters.storeFailures + db.counters.loadFailures),
        'list ' + db.counters.listFailures + ' \u00b7 store ' + db.counters.storeFailures + ' \u00b7 merge ' + db.counters.loadFailures),
    ];
  }

  function ours(db) {
    var rows = [];
    var s = db.lastStored;
    rows.push(h('div', { class: 'k' }, 'Last stored'));
    rows.push(s ? h('div', null, h('code', { title: s.name }, s.name), h('div', { class: 'muted' },
      fmtDuration(s.ageSeconds) + ' ago \u00b7 txn ' + num(s.txnId) + ' \u00b7 ' + num(s.entries) + ' entries \u00b7 ' +
      fmtBytes(s.bytes) + ' \u00b7 took ' + fmtDuration(s.ms / 1000))) : h('div', { class: 'muted' }, 'none yet'));
    var l = db.lastLoaded;
    rows.push(h('div', { class: 'k' }, 'Last merged'));
    rows.push(l ? h('div', null, h('code', { title: l.name }, l.name), h('div', { class: 'muted' },
      'from ' + l.instance + ' \u00b7 ' + fmtDuration(l.ageSeconds) + ' ago \u00b7 ' + num(l.changed) + ' of ' + num(l.remoteEntries) +
      ' entries changed \u00b7 txn ' + num(l.txnId) + ' \u00b7 took ' + fmtDuration(l.ms / 1000))) : h('div', { class: 'muted' }, 'none yet'));
    return h('div', { class: 'ours' }, rows);
  }

  function instancesTable(db, th) {
    if (db.instances.length === 0) return h('p', { class: 'muted' }, 'No snapshot of this LMDB in the storage yet.');
    var body = db.instances.map(function (i) {
      var n = i.newest;
      var state = i.state;
      if (i.pendingSeconds !== undefined) state += ' (' + fmtDuration(i.pendingSeconds) + ')';
      var merged = i.lastLoaded ? fmtDuration((Date.parse(lastData.now) - Date.parse(i.lastLoaded.at)) / 1000) + ' ago' +
        (i.own ? ' (start-up)' : '') + ' \u00b7 ' + num(i.lastLoaded.changed) + ' changed' : '\u2013';
      return h('tr', { 'data-instance': i.instance },
        h('td', null, h('strong', null, i.instance), i.own ? h('span', { class: 'tag' }, 'this instance') : null),
        h('td', { class: 'mono', title: n ? n.name : '' }, n ? fmtTime(n.timestamp) : '\u2013'),
        h('td', { class: 'num ' + (i.ageLevel === 'none' ? '' : i.ageLevel), title: 'age of the newest snapshot' }, n ? fmtDuration(n.ageSeconds) : '\u2013'),
        h('td', { class: 'num' }, n ? fmtBytes(n.size) : '\u2013'),
        h('td', null, merged),
        h('td', { class: i.syncLevel === 'none' ? '' : i.syncLevel }, state));
    });
    var ageRule = th.ageWarnSeconds === undefined ? 'not judged (storage_force_snapshot_interval is 0)' :
      'amber after ' + fmtDuration(th.ageWarnSeconds) + ', red after ' + fmtDuration(th.ageErrorSeconds);
    return [
      h('table', null, h('thead', null, h('tr', null, h('th', null, 'Instance'), h('th', null, 'Newest snapshot'), h('th', { class: 'num' }, 'Age'),
        h('th', { class: 'num' }, 'Size'), h('th', null, 'Merged here'), h('th', null, 'State'))), h('tbody', null, body)),
      h('div', { class: 'legend' }, 'Age of the newest snapshot: ' + ageRule + ' (every live instance writes at least every storage_force_snapshot_interval). ' +
        'Newest snapshot not merged yet: amber after ' + fmtDuration(th.pendingWarnSeconds) + ', red after ' + fmtDuration(th.pendingErrorSeconds) +
        ' (2 \u00d7 storage_poll_interval + 5 s / + 60 s).'),
    ];
  }

  function niceMax(v) {
    if (v <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function lagChart(db, nowMs) {
    var lag = db.lag;
    var points = 0;
    lag.series.forEach(function (s) { points += s.points.length; });
    if (points === 0) return h('p', { class: 'muted' }, 'No remote snapshot merged in the last hour.');
    // Drawn at the container's pixel width, so the text keeps its real size.
    var W = Math.max(360, (document.getElementById('lmdbs').clientWidth || 800) - 44), H = 170, L = 56, R = 12, T = 10, B = 24;
    var max = 0;
    var first = nowMs;
    lag.series.forEach(function (s) { s.points.forEach(function (p) { if (p[1] > max) max = p[1]; if (p[0] < first) first = p[0]; }); });
    // Zoom to the data: the shortest of 5, 10, 15, 30, 60 minutes that holds every point.
    var spans = [[5, 1], [10, 2], [15, 5], [30, 10], [60, 15]];
    var span = spans[spans.length - 1];
    for (var si = 0; si < spans.length; si++) if ((nowMs - first) / 60000 <= spans[si][0]) { span = spans[si]; break; }
    var windowMs = Math.min(span[0] * 60000, lag.windowSeconds * 1000);
    var t0 = nowMs - windowMs;
    var ymax = niceMax(max * 1.1);
    function x(t) { return L + (W - L - R) * Math.min(1, Math.max(0, (t - t0) / windowMs)); }
    function y(v) { return T + (H - T - B) * (1 - v / ymax); }
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'sync lag chart' });
    for (var g = 0; g <= 4; g++) {
      var v = ymax * g / 4;
      root.appendChild(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(v), y2: y(v), 'stroke-dasharray': g === 0 ? '' : '2 3' }));
      root.appendChild(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end' }, fmtAxis(v)));
    }
    for (var m = 0; m <= span[0]; m += span[1]) {
      var tx = x(t0 + m * 60000);
      root.appendChild(svg('text', { x: tx, y: H - 6, 'text-anchor': m === 0 ? 'start' : m === span[0] ? 'end' : 'middle' }, m === span[0] ? 'now' : '-' + (span[0] - m) + ' min'));
    }
    lag.series.forEach(function (s, idx) {
      var colour = COLOURS[idx % COLOURS.length];
      var d = s.points.map(function (p, i) { return (i === 0 ? 'M' : 'L') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1); }).join(' ');
      root.appendChild(svg('path', { d: d, fill: 'none', stroke: colour, 'stroke-width': 1.5, 'stroke-linejoin': 'round' }));
      s.points.forEach(function (p) {
        root.appendChild(svg('circle', { cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2.2, fill: colour },
          svg('title', {}, s.instance + ': ' + fmtDuration(p[1]) + ' at ' + fmtTime(new Date(p[0]).toISOString()))));
      });
    });
    var keys = lag.series.map(function (s, idx) {
      return h('span', { class: 'series-key' }, h('i', { style: 'background:' + COLOURS[idx % COLOURS.length] }), s.instance);
    });
    return [h('div', { class: 'chart' }, root), h('div', { class: 'legend' }, keys,
      'Last ' + span[0] + ' min (up to an hour is kept). Lag = time from a snapshot\u2019s creation on its instance to its merge here; highest per ' + lag.bucketSeconds + ' s.')];
  }

  function checks(db) {
    var problems = db.health.filter(function (c) { return c.status !== 'ok'; }).map(function (c) {
      return h('li', { class: c.status }, h('span', { class: 'what' }, c.tracker), ': ', c.message);
    });
    return [h('div', { class: 'checks' }, db.health.map(function (c) {
      var text = c.tracker + ': ' + (c.tracker === 'start' ? (c.lastOk ? 'done' : 'pending') : levelText(c.status));
      var title = c.message || (c.tracker === 'start' ? (c.lastOk ? 'initial sync completed at ' + fmtTime(c.lastOk) : 'initial sync in progress') :
        (c.lastOk ? 'last success ' + fmtTime(c.lastOk) : 'no call yet'));
      title += '\nwarning after ' + fmtDuration(c.warnAfterSeconds) + ' of failures, error after ' + fmtDuration(c.errorAfterSeconds) +
        (c.reported ? '' : ' (not reported: start.report_healthz is false)');
      return h('span', { class: 'chip ' + c.status, title: title }, text);
    })), problems.length ? h('ul', { class: 'problems' }, problems) : null];
  }

  function errors(db) {
    if (db.recentErrors.length === 0) return h('p', { class: 'muted' }, 'None.');
    // Newest first; a run of identical errors is one line with its count and time span.
    var groups = [];
    db.recentErrors.forEach(function (e) {
      var g = groups[groups.length - 1];
      if (g && g.what === e.what && g.message === e.message) { g.count++; g.first = e.at; } else groups.push({ what: e.what, message: e.message, last: e.at, first: e.at, count: 1 });
    });
    var items = groups.map(function (g) {
      return h('li', null, h('span', { class: 'mono muted' }, fmtTime(g.last)), ' ', h('span', { class: 'what' }, g.what), ': ', g.message,
        g.count > 1 ? h('span', { class: 'muted' }, ' \u00d7' + g.count + ' since ' + fmtTime(g.first)) : null);
    });
    var first = h('ul', { class: 'errors' }, items.slice(0, 3));
    if (items.length <= 3) return first;
    var key = 'errors-' + db.name;
    var det = h('details', { open: openDetails[key] ? 'open' : null }, h('summary', null, (items.length - 3) + ' more'), h('ul', { class: 'errors' }, items.slice(3)));
    det.addEventListener('toggle', function () { openDetails[key] = det.open; });
    return [first, det];
  }

  function content(db) {
    var c = db.content;
    if (!c || !c.enabled) return h('p', { class: 'muted' }, 'Content hashes are off (content_hash.enabled).');
    var short = function (x) { return x ? x.slice(0, 16) : '\u2013'; };
    var head = c.verdict === 'converged'
      ? h('span', { class: 'chip ok' }, 'converged: ' + c.agreeing + ' of ' + c.instances + ' instances agree')
      : c.verdict === 'differs'
        ? h('span', { class: 'chip warning' }, 'differs since ' + fmtTime(c.differsSince) + ': ' + c.agreeing + ' of ' + c.instances + ' agree')
        : h('span', { class: 'chip' }, 'not hashed yet');
    var rows = [h('tr', null, h('td', null, 'this instance'), h('td', { class: 'mono' }, short(c.local && c.local.hash)),
      h('td', null, c.local ? 'local LMDB, ' + num(c.local.entries) + ' entries' : ''), h('td', { class: 'mono muted' }, c.local ? fmtTime(c.local.at) : ''), h('td', null, ''))];
    c.perInstance.forEach(function (i) {
      rows.push(h('tr', null, h('td', null, i.instance), h('td', { class: 'mono' }, short(i.hash)),
        h('td', null, i.source === 'published' ? 'published state' : i.source === 'snapshot' ? 'newest full snapshot merged here' : ''),
        h('td', { class: 'mono muted' }, i.at ? fmtTime(i.at) : ''),
        h('td', null, h('span', { class: 'chip ' + (i.verdict === 'equal' ? 'ok' : i.verdict === 'differs' ? 'warning' : '') }, i.verdict))));
    });
    return [h('p', null, head), h('table', { class: 'content-hashes' },
      h('thead', null, h('tr', null, h('th', null, 'Instance'), h('th', null, 'Content hash'), h('th', null, 'From'), h('th', null, 'At'), h('th', null, ''))),
      h('tbody', null, rows))];
  }

  function fullOnly(db) {
    var peers = db.fullOnlyPeers || [];
    if (peers.length === 0) return null;
    return h('p', { class: 'muted' }, 'Taking only full snapshots (Go, or deltas off): ' + peers.join(', ') +
      '; a full snapshot is stored beside each delta for them.');
  }

  // Go's per-DBI table (DBI, used, entries, depth, branch/leaf/overflow pages, flags).
  function dbisTable(db) {
    var dbis = db.dbis;
    if (!dbis) return null;
    if (dbis.error) return h('p', { class: 'muted' }, 'DBI statistics unavailable: ' + dbis.error);
    if (dbis.length === 0) return h('p', { class: 'muted' }, 'No named DBI.');
    var rows = dbis.map(function (d) {
      return h('tr', { 'data-dbi': d.name }, h('td', { class: 'mono' }, d.name), h('td', { class: 'num' }, fmtBytes(d.usedBytes)),
        h('td', { class: 'num' }, num(d.entries)), h('td', { class: 'num' }, num(d.depth)), h('td', { class: 'num' }, num(d.branchPages)),
        h('td', { class: 'num' }, num(d.leafPages)), h('td', { class: 'num' }, num(d.overflowPages)), h('td', null, d.flags));
    });
    return h('div', { class: 'scroll' }, h('table', { class: 'dbis' },
      h('thead', null, h('tr', null, h('th', null, 'DBI'), h('th', { class: 'num' }, 'Used'), h('th', { class: 'num' }, 'Entries'),
        h('th', { class: 'num' }, 'Depth'), h('th', { class: 'num' }, 'Branch pages'), h('th', { class: 'num' }, 'Leaf pages'),
        h('th', { class: 'num' }, 'Overflow pages'), h('th', null, 'Flags'))),
      h('tbody', null, rows)));
  }

  function returnGuard(db) {
    var g = db.returnGuard;
    if (!g || g.phase === 'off') return null;
    var holding = g.phase === 'armed' || g.phase === 'cleaning';
    return h('p', { class: 'muted' }, h('span', { class: 'chip ' + (holding ? 'warning' : 'ok') }, 'return guard: ' + g.phase), ' ',
      g.note + (g.removed > 0 ? ' (' + num(g.removed) + ' entries)' : '') +
      (g.judges.length > 0 ? '; judged by ' + g.judges.join(', ') : '') +
      (g.lastMergedAllAt ? '; last merged every instance ' + fmtTime(g.lastMergedAllAt) : ''));
  }

  function lmdbCard(db, data) {
    return h('section', { class: 'card', 'data-lmdb': db.name },
      h('div', { class: 'card-head' }, h('h2', null, db.name), h('span', { class: 'tag' }, db.mode + ' mode'),
        h('span', { class: 'chip ' + (db.ready ? 'ok' : 'warning') }, db.ready ? 'initial sync done' : 'initial sync in progress'),
        h('span', { class: 'path muted mono' }, db.path)),
      h('div', { class: 'kpis' }, envKpis(db)),
      h('h3', null, 'DBIs'), dbisTable(db),
      h('h3', null, 'This instance\u2019s snapshots'), ours(db),
      h('h3', null, 'Instances in the storage'), instancesTable(db, data.thresholds), fullOnly(db), returnGuard(db),
      h('h3', null, 'Content'), content(db),
      h('h3', null, 'Sync lag'), lagChart(db, Date.parse(data.now)),
      h('h3', null, 'Health'), checks(db),
      h('h3', null, 'Recent errors'), errors(db));
  }

  function render(data) {
    lastData = data;
    document.title = 'Lightning Stream \u2013 ' + data.instance;
    document.getElementById('instance').textContent = data.instance;
    var summary = document.getElementById('summary');
    summary.replaceChildren(
      h('span', { class: 'chip ' + data.health, id: 'health' }, 'Health: ' + levelText(data.health)),
      h('span', { class: 'chip ' + (data.ready ? 'ok' : 'warning'), id: 'ready' }, data.ready ? 'Ready' : 'Starting'),
      h('span', { class: 'chip' }, 'storage: ' + data.storageType + (data.storageInstrumented ? '' : ' (calls not instrumented)')),
      h('span', { class: 'chip' }, 'host ' + data.hostname),
      h('span', { class: 'chip' }, 'up ' + fmtDuration((Date.parse(data.now) - Date.parse(data.startedAt)) / 1000)),
      h('span', { class: 'chip', id: 'updated' }, 'updated ' + fmtTime(data.now)));
    document.getElementById('lmdbs').replaceChildren.apply(document.getElementById('lmdbs'), data.lmdbs.map(function (db) { return lmdbCard(db, data); }));
    document.getElementById('footer').textContent = 'Lightning Stream ' + data.version + ' \u00b7 polls: LMDB every ' + fmtDuration(data.intervals.lmdbPollSeconds) +
      ', storage every ' + fmtDuration(data.intervals.storagePollSeconds) + ' \u00b7 this page refreshes every ' + (REFRESH_MS / 1000) + ' s';
  }

  function showProblem(message) {
    var banner = document.getElementById('banner');
    banner.hidden = false;
    banner.textContent = 'Cannot refresh: ' + message + (lastOkAt ? ' \u2013 showing data from ' + fmtTime(new Date(lastOkAt).toISOString()) : '') + '. Retrying\u2026';
  }

  function refresh() {
    fetch('/status.json', { cache: 'no-store' }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      return r.json();
    }).then(function (data) {
      lastOkAt = Date.now();
      document.getElementById('banner').hidden = true;
      render(data);
    }).catch(function (err) {
      showProblem(err && err.message ? err.message : String(err));
    }).then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  refresh();
})();
