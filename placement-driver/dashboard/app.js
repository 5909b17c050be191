// Flotilla PD dashboard: polls PD's HTTP API every 2 s and renders the cluster overview, the region
// table (with search by key), operators in flight, and the key-space heatmap (uPlot provides the
// time axis and the key axis; the cells are drawn in a draw hook) with the region events of its
// time window (splits, merges, operators) as markers above it. Plain browser JavaScript, no build
// step. Every value from PD reaches the page through textContent or attributes, never as HTML.
'use strict';

(function dashboard() {
  const API = '/pd/api/v1';
  const REFRESH_MS = 2000;
  /** Regions shown in the table (one page of /regions; PD's page maximum is 1,000). */
  const REGION_ROWS_MAX = 1000;
  /** A store with no heartbeat for this long is shown down (stores beat every 10 s by default). */
  const STORE_DOWN_AFTER_MS = 30000;
  /** The heatmap shows at least this much time, so a young cluster's few buckets do not fill the width. */
  const HEATMAP_WINDOW_MS_MIN = 5 * 60 * 1000;
  /** Key-axis labels drawn at most. */
  const KEY_LABELS_MAX = 24;
  const HEATMAP_BACKGROUND = '#0b1020';
  /** Region events drawn at most (the newest of the window; PD answers up to 1,024 a request). */
  const EVENT_MARKERS_MAX = 500;
  /** The line an event draws down the heatmap: pale and unsaturated, so it never reads as heat. */
  const EVENT_LINE_COLOR = 'rgba(235, 240, 255, 0.28)';

  const $ = (id) => document.getElementById(id);

  // ───────────────────────────── small helpers ─────────────────────────────

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === 'className') node.className = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  function fillTable(table, rows) {
    const tbody = table.querySelector('tbody');
    tbody.replaceChildren(...rows);
  }

  function formatBytes(n) {
    const v = Number(n);
    if (!Number.isFinite(v) || v <= 0) return '—';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    let x = v;
    while (x >= 1024 && i < units.length - 1) {
      x /= 1024;
      i++;
    }
    return `${x.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  }

  function formatCount(v) {
    if (v >= 1e9) return `${(v / 1e9).toFixed(1)}G`;
    if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
    if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
    return v.toFixed(v % 1 === 0 ? 0 : 1);
  }

  function formatAge(ms) {
    if (ms < 0) return 'just now';
    if (ms < 1000) return `${ms} ms ago`;
    if (ms < 120000) return `${(ms / 1000).toFixed(1)} s ago`;
    return `${Math.round(ms / 60000)} min ago`;
  }

  /** A raw key (hex) as text when it is printable ASCII, else as 0x-hex. */
  function keyText(hex) {
    if (hex === '') return '';
    const bytes = hex.match(/../g).map((h) => parseInt(h, 16));
    const isPrintable = bytes.every((c) => c >= 0x20 && c < 0x7f);
    return isPrintable ? JSON.stringify(String.fromCharCode(...bytes)) : `0x${hex}`;
  }

  function shorten(text, max) {
    return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
  }

  function utf8ToHex(text) {
    return Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  /** GET a path; resolves to { status, body, serverNowMs } (body null when not JSON). */
  async function get(path) {
    const res = await fetch(path, { cache: 'no-store' });
    const text = await res.text();
    let body;
    try {
      body = text === '' ? null : JSON.parse(text);
    } catch {
      body = { message: text };
    }
    const date = Date.parse(res.headers.get('date') || '');
    return { status: res.status, body, serverNowMs: Number.isFinite(date) ? date : Date.now() };
  }

  class NotLeader extends Error {
    constructor(body) {
      super(body.message || 'not the leader');
      this.leader = body.leader || null;
    }
  }

  /** GET a leader-only path: the body on 200, NotLeader on PD_NOT_LEADER, Error otherwise. */
  async function getLeaderOnly(path) {
    const r = await get(path);
    if (r.status === 200) return r;
    if (r.body && r.body.code === 'PdNotLeader') throw new NotLeader(r.body);
    throw new Error(`${path}: ${r.status} ${(r.body && (r.body.message || r.body.code)) || ''}`);
  }

  // ───────────────────────────── state ─────────────────────────────

  const state = {
    isRefreshing: false,
    regions: [],
    foundRegionId: null,
    heat: null,
    /** The region events of the heatmap's window, oldest first (GET /region-events). */
    events: [],
    plot: null,
    serverNowMs: Date.now(),
  };

  // ───────────────────────────── overview ─────────────────────────────

  function renderHealth(health) {
    $('member-name').textContent = `member ${health.name} (id ${health.memberId})`;
    const role = $('member-role');
    role.textContent = health.serving ? 'serving leader' : health.isLeader ? 'leader (not serving yet)' : 'follower';
    role.className = `badge ${health.serving ? 'leader' : 'follower'}`;
  }

  function renderMembers(members) {
    $('member-count').textContent = String(members.members.length);
    fillTable(
      $('members'),
      members.members.map((m) => {
        const isLeader = m.id === members.leaderId;
        const url = m.statusUrl ? m.statusUrl.replace(/\/+$/, '') : '';
        const dash = url ? el('a', { href: `${url}/dashboard` }, url) : '—';
        return el(
          'tr',
          {},
          el('td', {}, m.name),
          el('td', {}, String(m.id)),
          el('td', { className: isLeader ? 'state-up' : '' }, isLeader ? 'leader' : 'follower'),
          el('td', {}, (m.clientUrls || []).join(', ')),
          el('td', {}, (m.peerUrls || []).join(', ')),
          el('td', {}, dash),
        );
      }),
    );
  }

  function storeHealth(store, nowMs) {
    if (store.state !== 'up') return { text: store.state, className: store.state === 'tombstone' ? 'state-down' : 'state-other', isUp: false };
    if (!store.lastHeartbeatMs) return { text: 'no heartbeat yet', className: 'state-other', isUp: false };
    if (nowMs - store.lastHeartbeatMs > STORE_DOWN_AFTER_MS) return { text: 'down (no heartbeat)', className: 'state-down', isUp: false };
    return { text: 'up', className: 'state-up', isUp: true };
  }

  function renderStores(stores, nowMs) {
    let up = 0;
    const rows = stores.stores.map((s) => {
      const h = storeHealth(s, nowMs);
      if (h.isUp) up++;
      const stats = s.stats || {};
      return el(
        'tr',
        { 'data-store-id': String(s.id) },
        el('td', {}, String(s.id)),
        el('td', {}, s.address),
        el('td', { className: h.className }, h.text),
        el('td', {}, formatBytes(stats.capacity)),
        el('td', {}, formatBytes(stats.available)),
        el('td', {}, String(s.regionCount)),
        el('td', {}, String(s.leaderCount)),
        el('td', {}, s.lastHeartbeatMs ? formatAge(nowMs - s.lastHeartbeatMs) : '—'),
        el('td', {}, s.version || ''),
      );
    });
    fillTable($('stores'), rows);
    $('store-count').textContent = String(stores.count);
    $('store-updown').textContent = `${up} up, ${stores.count - up} down or not up`;
  }

  // ───────────────────────────── regions ─────────────────────────────

  function renderRegions(page) {
    state.regions = page.regions;
    $('region-count').textContent = String(page.count);
    $('leader-count').textContent = String(page.regions.filter((r) => r.leaderPeerId !== 0).length) + (page.count > page.regions.length ? '+' : '');
    $('region-note').textContent = page.count > page.regions.length ? `showing the first ${page.regions.length} of ${page.count} regions; search by key finds any` : '';
    fillTable(
      $('regions'),
      page.regions.map((r) => {
        const leader = r.peers.find((p) => p.id === r.leaderPeerId);
        const tr = el(
          'tr',
          { 'data-region-id': String(r.id) },
          el('td', {}, String(r.id)),
          el('td', { className: 'key', title: r.startKey }, r.startKey === '' ? '(−∞)' : keyText(r.startKey)),
          el('td', { className: 'key', title: r.endKey }, r.endKey === '' ? '(+∞)' : keyText(r.endKey)),
          el('td', {}, leader ? String(leader.storeId) : 'none'),
          el('td', {}, r.peers.map((p) => `${p.id} (${p.storeId}${p.role && p.role !== 'voter' ? `, ${p.role}` : ''})`).join(', ')),
          el('td', {}, `${r.epoch.confVer}, ${r.epoch.version}`),
          el('td', {}, formatBytes(r.approximateSizeBytes)),
          el('td', {}, String(r.approximateKeys)),
        );
        if (r.id === state.foundRegionId) tr.className = 'found';
        return tr;
      }),
    );
  }

  async function searchRegion(event) {
    event.preventDefault();
    const out = $('search-result');
    out.className = '';
    delete out.dataset.regionId;
    const input = $('search-input').value;
    const mode = $('search-mode').value;
    let hex;
    if (mode === 'hex') {
      hex = input.trim().replace(/^0x/i, '').toLowerCase();
      if (!/^([0-9a-f]{2})+$/.test(hex)) {
        out.className = 'error';
        out.textContent = 'hex keys need an even number of 0-9a-f digits';
        return;
      }
    } else {
      if (input === '') {
        out.className = 'error';
        out.textContent = 'enter a key';
        return;
      }
      hex = utf8ToHex(input);
    }
    try {
      const r = await getLeaderOnly(`${API}/region/key/${hex}`);
      const region = r.body;
      state.foundRegionId = region.id;
      out.textContent = `key ${keyText(hex)} is in region ${region.id} [${region.startKey === '' ? '−∞' : keyText(region.startKey)}, ${region.endKey === '' ? '+∞' : keyText(region.endKey)})`;
      out.dataset.regionId = String(region.id);
      for (const tr of $('regions').querySelectorAll('tbody tr')) tr.className = tr.dataset.regionId === String(region.id) ? 'found' : '';
      const row = $('regions').querySelector(`tr[data-region-id="${region.id}"]`);
      if (row) row.scrollIntoView({ block: 'nearest' });
    } catch (err) {
      out.className = 'error';
      out.textContent = err instanceof NotLeader ? 'this member is not the leader: search on the leader' : String(err.message || err);
    }
  }

  // ───────────────────────────── operators ─────────────────────────────

  function renderOperators(ops, nowMs) {
    $('operator-count').textContent = String(ops.operators.length);
    const rows = ops.operators.map((o) =>
      el(
        'tr',
        {},
        el('td', {}, String(o.regionId)),
        el('td', {}, o.description),
        el('td', {}, o.steps.map((s) => s.kind).join(' → ')),
        el('td', {}, `${o.currentStep + 1} of ${o.steps.length}`),
        el('td', {}, formatAge(nowMs - o.createdAtMs)),
      ),
    );
    fillTable($('operators'), rows.length > 0 ? rows : [el('tr', {}, el('td', { colspan: '5', className: 'muted' }, 'none'))]);
  }

  // ───────────────────────────── heatmap ─────────────────────────────

  /** Heat colour for a value in (0, max]: log scale, dark violet → red → yellow. */
  function heatColor(value, max) {
    const f = max <= 0 ? 0 : Math.log1p(value) / Math.log1p(max);
    const stops = [[84, 20, 140], [200, 30, 70], [250, 130, 20], [255, 235, 60]];
    const x = Math.min(0.9999, Math.max(0, f)) * (stops.length - 1);
    const i = Math.floor(x);
    const t = x - i;
    const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * t));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  function rowsOf(heat) {
    return heat && heat.keys.length > 1 ? heat.keys.length - 1 : 0;
  }

  function boundaryLabel(heat, i) {
    const rows = rowsOf(heat);
    const hex = heat.keys[i];
    if (hex === undefined) return '';
    if (hex === '' && i === 0) return '−∞';
    if (hex === '' && i === rows) return '+∞';
    return shorten(keyText(hex), 18);
  }

  function drawCells(u) {
    const heat = state.heat;
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    ctx.save();
    ctx.fillStyle = HEATMAP_BACKGROUND;
    ctx.fillRect(left, top, width, height);
    ctx.beginPath();
    ctx.rect(left, top, width, height);
    ctx.clip();
    if (heat && rowsOf(heat) > 0) {
      for (let t = 0; t < heat.times.length; t++) {
        const x0 = u.valToPos(heat.times[t] / 1000, 'x', true);
        const x1 = u.valToPos((heat.times[t] + heat.bucketMs) / 1000, 'x', true);
        const column = heat.values[t];
        for (let r = 0; r < column.length; r++) {
          const v = column[r];
          if (!(v > 0)) continue;
          const y0 = u.valToPos(r, 'y', true);
          const y1 = u.valToPos(r + 1, 'y', true);
          ctx.fillStyle = heatColor(v, heat.valueMax);
          ctx.fillRect(Math.min(x0, x1), Math.min(y0, y1), Math.max(1, Math.abs(x1 - x0) - 1), Math.max(1, Math.abs(y1 - y0)));
        }
      }
    }
    ctx.strokeStyle = EVENT_LINE_COLOR;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const e of state.events) {
      const x = Math.round(u.valToPos(e.atMs / 1000, 'x', true)) + 0.5;
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
    }
    ctx.stroke();
    ctx.restore();
  }

  // ───────────────────────────── region events ─────────────────────────────

  function rangeText(startHex, endHex) {
    return `[${startHex === '' ? '−∞' : keyText(startHex)}, ${endHex === '' ? '+∞' : keyText(endHex)})`;
  }

  const OUTCOME_TEXT = { created: 'created', finished: 'finished', cancelled: 'cancelled', timedOut: 'timed out', regionGone: 'dropped (region gone)' };

  /** One line describing an event: its tooltip and, on hover, the info line. */
  function eventText(e) {
    const time = new Date(e.atMs).toLocaleTimeString();
    if (e.kind === 'split') {
      const at = e.splitKeys.length === 0 ? '' : ` at ${e.splitKeys.map(keyText).join(', ')}`;
      const created = e.newRegionIds.length === 0 ? '' : `; new region ${e.newRegionIds.join(', ')}`;
      return `${time} · split: region ${e.regionId}${at}, was ${rangeText(e.startKey, e.endKey)}, now version ${e.version}${created}`;
    }
    if (e.kind === 'merge') {
      return `${time} · merge: region ${e.mergedRegionIds.join(', ')} into region ${e.regionId}, now ${rangeText(e.startKey, e.endKey)}, version ${e.version}`;
    }
    const from = e.fromStoreIds.length === 0 ? '' : `store ${e.fromStoreIds.join(', ')}`;
    const to = e.toStoreIds.length === 0 ? '' : `store ${e.toStoreIds.join(', ')}`;
    const move = from === '' && to === '' ? '' : ` · ${from === '' ? '' : `from ${from}`}${from !== '' && to !== '' ? ' ' : ''}${to === '' ? '' : `to ${to}`}`;
    return `${time} · operator ${e.operatorId} ${OUTCOME_TEXT[e.outcome] || e.outcome}: region ${e.regionId}, ${e.description} (by ${e.source}, ${e.operatorKind})${move}`;
  }

  function markerClass(e) {
    return e.kind === 'operator' ? `event-marker event-operator outcome-${e.outcome}` : `event-marker event-${e.kind}`;
  }

  /**
   * A marker per event above the heatmap, at the event's time on uPlot's x scale (the same scale
   * the cells are drawn on), in the lane of its kind; its title is the event's details. Runs on
   * every redraw, so markers follow resizes and new windows.
   */
  function renderEventMarkers(u) {
    const strip = $('heatmap-events');
    // The strip spans the plot area (not the key axis' labels), then markers are placed within it.
    const plot = u.over.getBoundingClientRect();
    strip.style.marginLeft = `${Math.max(0, plot.left - strip.parentElement.getBoundingClientRect().left)}px`;
    strip.style.width = `${plot.width}px`;
    const offset = plot.left - strip.getBoundingClientRect().left;
    const width = u.over.clientWidth;
    const markers = [];
    for (const e of state.events) {
      const x = u.valToPos(e.atMs / 1000, 'x');
      if (!(x >= 0 && x <= width)) continue;
      const text = eventText(e);
      const marker = el('span', { className: markerClass(e), role: 'listitem', title: text, 'data-kind': e.kind, 'data-region-id': String(e.regionId), 'data-at-ms': String(e.atMs) });
      if (e.kind === 'operator') marker.setAttribute('data-outcome', e.outcome);
      marker.style.left = `${offset + x}px`;
      marker.addEventListener('mouseenter', () => {
        $('heatmap-info').textContent = text;
      });
      markers.push(marker);
    }
    strip.replaceChildren(...markers);
  }

  function renderEventSummary(page, error) {
    const out = $('heatmap-events-summary');
    if (error) {
      out.textContent = `region events unavailable: ${error}`;
      return;
    }
    const count = (kind) => page.events.filter((e) => e.kind === kind).length;
    const older = page.omitted > 0 ? ` (${page.omitted} older not shown)` : '';
    out.textContent = `${page.events.length} event${page.events.length === 1 ? '' : 's'} in this window: ${count('split')} split, ${count('merge')} merge, ${count('operator')} operator${older}`;
  }

  function keySplits() {
    const rows = rowsOf(state.heat);
    if (rows === 0) return [];
    const step = Math.max(1, Math.ceil((rows + 1) / KEY_LABELS_MAX));
    const splits = [];
    for (let i = 0; i <= rows; i += step) splits.push(i);
    if (splits[splits.length - 1] !== rows) splits.push(rows);
    return splits;
  }

  function showCell(u) {
    const heat = state.heat;
    const info = $('heatmap-info');
    const { left, top } = u.cursor;
    if (!heat || left === undefined || left < 0 || rowsOf(heat) === 0) return;
    const ms = u.posToVal(left, 'x') * 1000;
    const row = Math.floor(u.posToVal(top, 'y'));
    const t = heat.times.findIndex((start) => ms >= start && ms < start + heat.bucketMs);
    if (t < 0 || row < 0 || row >= rowsOf(heat)) {
      info.textContent = 'no data here';
      return;
    }
    const value = heat.values[t][row];
    info.textContent = `${new Date(heat.times[t]).toLocaleTimeString()} +${heat.bucketMs / 1000}s · [${boundaryLabel(heat, row)}, ${boundaryLabel(heat, row + 1)}) · ${heat.metric.replace('_', ' ')}: ${formatCount(value)}`;
  }

  /** The heatmap's time window, ms: its buckets, at least HEATMAP_WINDOW_MS_MIN, ending now or at the last bucket's end. */
  function heatmapWindow(heat, nowMs) {
    const lastEndMs = heat.times.length === 0 ? nowMs : Math.max(nowMs, heat.times[heat.times.length - 1] + heat.bucketMs);
    const firstMs = Math.min(heat.times.length === 0 ? nowMs : heat.times[0], lastEndMs - HEATMAP_WINDOW_MS_MIN);
    return { firstMs, lastEndMs };
  }

  /** uPlot's data: the bucket starts (s) framed by the window's ends; one empty series (cells are drawn in the hook). */
  function heatmapData(heat, nowMs) {
    const { firstMs, lastEndMs } = heatmapWindow(heat, nowMs);
    const xs = [firstMs, ...heat.times.filter((t) => t > firstMs), lastEndMs].map((ms) => ms / 1000);
    return [xs, xs.map(() => null)];
  }

  function createPlot(container) {
    const opts = {
      width: Math.max(320, container.clientWidth),
      height: 360,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      scales: {
        x: { time: true },
        y: { auto: false, dir: -1, range: () => [0, Math.max(1, rowsOf(state.heat))] },
      },
      axes: [
        { stroke: '#6b7384', grid: { stroke: '#2a3147', width: 1 } },
        {
          stroke: '#6b7384',
          size: 150,
          grid: { stroke: '#2a3147', width: 1 },
          splits: keySplits,
          values: (u, splits) => splits.map((i) => boundaryLabel(state.heat, i)),
        },
      ],
      series: [{}, { label: 'traffic', stroke: 'transparent', points: { show: false }, paths: () => null }],
      hooks: { draw: [drawCells, renderEventMarkers], setCursor: [showCell] },
    };
    return new uPlot(opts, heatmapData({ times: [], bucketMs: 10000 }, state.serverNowMs), container);
  }

  /** Draws the heatmap and the events of its window (`events`: a /region-events answer, or null when it failed). */
  function renderHeatmap(heat, events, eventsError) {
    state.heat = heat;
    state.events = events ? events.events : [];
    renderEventSummary(events, eventsError);
    const container = $('heatmap');
    if (state.plot === null) state.plot = createPlot(container);
    const u = state.plot;
    const data = heatmapData(heat, heat.nowMs);
    // The window's ends, for anyone checking where markers and cells land (the browser test does).
    const span = heatmapWindow(heat, heat.nowMs);
    container.dataset.windowStartMs = String(span.firstMs);
    container.dataset.windowEndMs = String(span.lastEndMs);
    u.setData(data, false);
    u.batch(() => {
      u.setScale('x', { min: data[0][0], max: data[0][data[0].length - 1] });
      u.setScale('y', { min: 0, max: Math.max(1, rowsOf(heat)) });
    });
    u.redraw(false, true);
    const rows = rowsOf(heat);
    $('heatmap-summary').textContent =
      heat.times.length === 0
        ? 'no region heartbeats with traffic yet (stores report every 10 s by default)'
        : `${heat.times.length} bucket${heat.times.length === 1 ? '' : 's'} of ${heat.bucketMs / 1000} s × ${rows} key range${rows === 1 ? '' : 's'}${heat.fineRows > rows ? ` (merged from ${heat.fineRows})` : ''} · max ${formatCount(heat.valueMax)} per cell`;
  }

  // ───────────────────────────── refresh ─────────────────────────────

  function showLeaderBanner(err) {
    const banner = $('leader-banner');
    const leader = err.leader;
    const parts = ['This PD member is not the serving leader, so it shows no cluster state. '];
    if (leader && leader.statusUrl) {
      parts.push(`The leader is ${leader.name} (id ${leader.memberId}): `);
      parts.push(el('a', { id: 'leader-link', href: `${leader.statusUrl.replace(/\/+$/, '')}/dashboard` }, `open the leader's dashboard at ${leader.statusUrl}`));
    } else if (leader) {
      parts.push(`The leader is ${leader.name} (id ${leader.memberId}); its HTTP address is not known yet.`);
    } else {
      parts.push('No leader is known right now (an election may be in progress).');
    }
    banner.replaceChildren(...parts.map((p) => (p instanceof Node ? p : document.createTextNode(p))));
    banner.hidden = false;
  }

  async function refresh() {
    if (state.isRefreshing) return;
    state.isRefreshing = true;
    const errors = $('error-banner');
    try {
      const [health, members] = await Promise.all([get(`${API}/health`), get(`${API}/members`)]);
      if (health.status === 200) renderHealth(health.body);
      if (members.status === 200) renderMembers(members.body);
      try {
        const metric = $('heatmap-metric').value;
        const [stores, regions, operators, heat] = await Promise.all([
          getLeaderOnly(`${API}/stores`),
          getLeaderOnly(`${API}/regions?limit=${REGION_ROWS_MAX}`),
          getLeaderOnly(`${API}/operators`),
          getLeaderOnly(`${API}/keyvisual?metric=${encodeURIComponent(metric)}`),
        ]);
        // The events of the heatmap's window (its start is known only now); without them the heatmap still draws.
        let events = null;
        let eventsError = '';
        try {
          const since = Math.floor(heatmapWindow(heat.body, heat.body.nowMs).firstMs);
          events = (await getLeaderOnly(`${API}/region-events?since=${since}&limit=${EVENT_MARKERS_MAX}`)).body;
        } catch (err) {
          if (err instanceof NotLeader) throw err;
          eventsError = String(err.message || err);
        }
        state.serverNowMs = stores.serverNowMs;
        $('leader-banner').hidden = true;
        document.body.classList.remove('not-leader');
        renderStores(stores.body, heat.body.nowMs);
        renderRegions(regions.body);
        renderOperators(operators.body, heat.body.nowMs);
        renderHeatmap(heat.body, events, eventsError);
      } catch (err) {
        if (!(err instanceof NotLeader)) throw err;
        document.body.classList.add('not-leader');
        showLeaderBanner(err);
      }
      errors.hidden = true;
      $('refreshed').textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      errors.textContent = `Refresh failed: ${err && err.message ? err.message : String(err)}`;
      errors.hidden = false;
    } finally {
      state.isRefreshing = false;
    }
  }

  $('search').addEventListener('submit', (e) => void searchRegion(e));
  $('heatmap-metric').addEventListener('change', () => void refresh());
  window.addEventListener('resize', () => {
    if (state.plot) state.plot.setSize({ width: Math.max(320, $('heatmap').clientWidth), height: 360 });
  });
  setInterval(() => {
    if ($('auto-refresh').checked && !document.hidden) void refresh();
  }, REFRESH_MS);
  void refresh();
})();
