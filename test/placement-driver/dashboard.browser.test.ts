// The PD dashboard in a real browser: a real PD and two stores (processes), traffic written through
// the client into two regions, then Debian's chromium (headless, through playwright-core) on
// /dashboard. Judged from what the page shows: the store count and rows, region rows, search by
// key (UTF-8 and hex) finding the region PD names, a heatmap canvas with drawn cells, no page
// errors; and on a follower (a stub member naming the real PD as leader), the banner and its link to
// the leader's dashboard. Region events (splits, merges, operators) show as markers above the
// heatmap: the real split and operators of the first case, and a made-up history of every kind and
// outcome on a stub leader in the second, each judged by its lane, its tooltip and its place on the
// time axis against the window's own scale. A screenshot goes to ${FLOTILLA_ARTIFACTS_DIR ?? 'artifacts'}/dashboard.png.
// Without chromium: skipped locally, a failure under CI (.ci/run installs it).

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Client } from '../../client/index.js';
import { waitFor } from '../../deploy/index.js';
import type { RegionEvent, RegionEventInput } from '../../placement-driver/region-events.js';
import type { PdMember } from '../../placement-driver/state-machine.js';
import { CONDITION_TIMEOUT_MS } from '../support/client-cluster.js';
import { startStubPd, type StubPd } from '../support/pd-dashboard-stub.js';
import { StoreTestCluster } from '../support/store-cluster.js';

const CHROMIUM = process.env['FLOTILLA_CHROMIUM'] ?? '/usr/bin/chromium';
const CHROMIUM_MISSING = 'chromium not found: .ci/run installs it';
const isChromiumMissing = !existsSync(CHROMIUM);
const ARTIFACTS_DIR = process.env['FLOTILLA_ARTIFACTS_DIR'] ?? 'artifacts';
/** How long the page may take to show a condition (it refreshes every 2 s; the machine is slow in bursts). */
const PAGE_TIMEOUT_MS = 30_000;
/** Heatmap pixels that must be heat-coloured (saturated) for the heatmap to count as drawn. */
const HEAT_PIXELS_MIN = 100;

interface RegionJson {
  id: number;
  startKey: string;
  endKey: string;
  leaderPeerId: number;
}

/** The little of the DOM the pixel count needs (the project compiles without lib.dom). */
interface CanvasLike {
  readonly width: number;
  readonly height: number;
  getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { readonly data: Uint8ClampedArray } } | null;
}

/**
 * Saturated pixels on the heatmap's canvas — heat colours, not the dark background, grid or axis
 * text — and how many colours cover at least 50 of them (cells of different values).
 */
async function heatPixelsAndColors(page: Page): Promise<{ pixels: number; colors: number }> {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: { querySelector(selector: string): CanvasLike | null } }).document;
    const canvas = doc.querySelector('#heatmap canvas');
    const ctx = canvas?.getContext('2d');
    if (canvas === null || canvas === undefined || ctx === null || ctx === undefined) return { pixels: -1, colors: 0 };
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    let pixels = 0;
    const byColor = new Map<number, number>();
    for (let i = 0; i < data.length; i += 4) {
      const [r, g, b, a] = [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
      if (a > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) {
        pixels++;
        const rgb = (r << 16) | (g << 8) | b;
        byColor.set(rgb, (byColor.get(rgb) ?? 0) + 1);
      }
    }
    return { pixels, colors: [...byColor.values()].filter((n) => n >= 50).length };
  });
}

async function heatPixels(page: Page): Promise<number> {
  return (await heatPixelsAndColors(page)).pixels;
}

/** One region-event marker as the page shows it; x and y are its centre relative to the plot area's left and the strip's top (CSS px). */
interface Marker {
  readonly kind: string;
  readonly regionId: number;
  readonly atMs: number;
  readonly outcome: string | null;
  readonly title: string;
  readonly x: number;
  readonly y: number;
}

interface MarkerView {
  readonly markers: Marker[];
  /** The plot area's width (CSS px) and the heatmap's time window (ms), as the page drew them. */
  readonly plotWidth: number;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
}

/** The little of the DOM the marker read-out needs (the project compiles without lib.dom). */
interface ElementLike {
  getBoundingClientRect(): { left: number; top: number; width: number; height: number };
  getAttribute(name: string): string | null;
  readonly dataset: Record<string, string | undefined>;
}

async function eventMarkers(page: Page): Promise<MarkerView> {
  return page.evaluate(() => {
    const doc = (globalThis as unknown as { document: { querySelector(s: string): ElementLike | null; querySelectorAll(s: string): Iterable<ElementLike> } }).document;
    const over = doc.querySelector('#heatmap .u-over')!.getBoundingClientRect();
    const strip = doc.querySelector('#heatmap-events')!.getBoundingClientRect();
    const heatmap = doc.querySelector('#heatmap')!;
    const markers = [...doc.querySelectorAll('#heatmap-events .event-marker')].map((m) => {
      const r = m.getBoundingClientRect();
      return {
        kind: m.getAttribute('data-kind') ?? '',
        regionId: Number(m.getAttribute('data-region-id')),
        atMs: Number(m.getAttribute('data-at-ms')),
        outcome: m.getAttribute('data-outcome'),
        title: m.getAttribute('title') ?? '',
        x: r.left + r.width / 2 - over.left,
        y: r.top + r.height / 2 - strip.top,
      };
    });
    return { markers, plotWidth: over.width, windowStartMs: Number(heatmap.dataset['windowStartMs']), windowEndMs: Number(heatmap.dataset['windowEndMs']) };
  });
}

/** Where an event at `atMs` belongs on the time axis: the window's linear scale over the plot's width. */
function expectedX(view: MarkerView, atMs: number): number {
  return ((atMs - view.windowStartMs) / (view.windowEndMs - view.windowStartMs)) * view.plotWidth;
}

/** The marker sits at its event's time (within a pixel and a half) in its kind's lane (split above merge above operators). */
function assertPlaced(view: MarkerView, marker: Marker): void {
  const want = expectedX(view, marker.atMs);
  assert.ok(Math.abs(marker.x - want) <= 1.5, `${marker.kind} of region ${marker.regionId} at x ${marker.x.toFixed(1)}, its time is at ${want.toFixed(1)}`);
  const lane = { split: 0, merge: 1, operator: 2 }[marker.kind];
  assert.ok(lane !== undefined, `marker kind ${marker.kind}`);
  const lanes = [7, 20, 33]; // centres of the lanes: 2 + 5, 15 + 5, 28 + 5 (style.css)
  assert.ok(Math.abs(marker.y - lanes[lane]!) <= 1.5, `${marker.kind} marker in lane y ${marker.y}, expected ${lanes[lane]}`);
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.textContent(selector)) ?? '';
}

/** Polls the page until `check` holds (it refreshes every 2 s). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  await waitFor(what, async () => ((await check()) ? true : undefined), { timeoutMs: PAGE_TIMEOUT_MS, intervalMs: 100 });
}

describe('PD dashboard in a headless browser', { skip: isChromiumMissing && process.env['CI'] === undefined ? CHROMIUM_MISSING : false }, () => {
  let cluster: StoreTestCluster | undefined;
  let client: Client | undefined;
  let browser: Browser | undefined;
  let follower: StubPd | undefined;
  let splitLeader: StubPd | undefined;
  const pageErrors: string[] = [];

  before(async () => {
    if (isChromiumMissing) return;
    cluster = await StoreTestCluster.start({ stores: 2, pdCount: 1, extraStoreArgs: ['--pd-heartbeat-ms', '300'] });
    await cluster.waitForRegionLeader(undefined, CONDITION_TIMEOUT_MS);
  });

  after(async () => {
    // Everything started is stopped, also when a test failed; one failure must not keep the rest alive.
    await browser?.close().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await follower?.close().catch(() => undefined);
    await splitLeader?.close().catch(() => undefined);
    await cluster?.stop();
  });

  it('shows stores, regions, search by key and a drawn heatmap; a follower links to the leader', async () => {
    if (isChromiumMissing) assert.fail(CHROMIUM_MISSING);
    const c = cluster!;
    const pdHttp = `http://127.0.0.1:${c.pd.members[0]!.httpPort}`;

    // A split at "m" through PD's operator, carried out by the stores; then a merge of the two
    // halves back into one, carried out too.
    const first = ((await c.pdApi('regions')).body as { regions: RegionJson[] }).regions;
    assert.ok(first.length >= 1);
    const split = await fetch(`${pdHttp}/pd/api/v1/operators`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: first[0]!.id, kind: 'split', keys: ['6d'] }) });
    assert.equal(split.status, 201, await split.text());
    const halves = await waitFor('the split at "m" carried out', async () => {
      const now = ((await c.pdApi('regions')).body as { regions: RegionJson[] }).regions;
      return now.length >= 2 && now.every((r) => r.leaderPeerId !== 0) ? now : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });
    const merge = await fetch(`${pdHttp}/pd/api/v1/operators`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ regionId: halves[0]!.id, kind: 'merge', targetRegionId: halves[1]!.id }) });
    assert.equal(merge.status, 201, await merge.text());
    const regions = await waitFor('the merge carried out', async () => {
      const now = ((await c.pdApi('regions')).body as { regions: RegionJson[] }).regions;
      return now.length === 1 && now[0]!.id === halves[1]!.id && now[0]!.leaderPeerId !== 0 ? now : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

    // Traffic, then wait until region heartbeats brought it to the key visualizer.
    client = await Client.connect({ pdEndpoints: c.pdEndpoints });
    const pairs = Array.from({ length: 200 }, (_, i) => [`${i % 2 === 0 ? 'apple' : 'zebra'}/${String(i).padStart(4, '0')}`, 'v'.repeat(100)] as const);
    await client.raw.batchPut(pairs);
    for (let i = 0; i < 20; i++) await client.raw.get(`zebra/${String(2 * i + 1).padStart(4, '0')}`);
    await waitFor('written bytes in the key visualizer', async () => {
      const r = await fetch(`${pdHttp}/pd/api/v1/keyvisual?metric=written_bytes`);
      const body = (await r.json()) as { valueMax: number; keys: string[] };
      return body.valueMax > 0 && body.keys.length >= 2 ? true : undefined;
    }, { timeoutMs: CONDITION_TIMEOUT_MS, intervalMs: 200 });

    const page = await newPage();
    await page.goto(`${pdHttp}/dashboard`);

    // Overview: two stores, both up; the PD member is the leader.
    await until('the store count 2', async () => (await text(page, '#store-count')) === '2');
    assert.equal(await page.locator('#stores tbody tr').count(), 2);
    await until('both stores up', async () => (await page.locator('#stores tbody td.state-up').count()) === 2);
    assert.match(await text(page, '#member-role'), /serving leader/);
    assert.match(await text(page, '#members tbody'), /pd1.*leader/);
    // Each member links to its own dashboard (the member list's statusUrl).
    assert.equal(await page.getAttribute('#members tbody a', 'href'), `${pdHttp}/dashboard`);
    assert.equal(await page.locator('#leader-banner').isHidden(), true);
    assert.equal(await page.locator('#keyvisual').isVisible(), true);

    // Regions: a row per region PD knows.
    await until(`${regions.length} region rows`, async () => (await page.locator('#regions tbody tr').count()) >= regions.length);
    assert.equal(await text(page, '#region-count'), String(regions.length));
    for (const r of regions) assert.equal(await page.locator(`#regions tr[data-region-id="${r.id}"]`).count(), 1, `row of region ${r.id}`);

    // Search by key — hex, a malformed hex key (refused, the last answer cleared), then UTF-8: the
    // region PD itself names for that key, highlighted in the table.
    const want = async (hex: string): Promise<number> => ((await c.pdApi(`region/key/${hex}`)).body as RegionJson).id;
    await page.fill('#search-input', '6170706c65'); // "apple"
    await page.selectOption('#search-mode', 'hex');
    await page.click('#search-button');
    const appleRegion = String(await want('6170706c65'));
    await until(`search to find region ${appleRegion}`, async () => (await page.getAttribute('#search-result', 'data-region-id')) === appleRegion);
    // The key searched is the one typed in hex (one region holds every key today, so the region alone does not tell).
    assert.match(await text(page, '#search-result'), /^key "apple" is in region/);

    await page.fill('#search-input', 'xyz');
    await page.selectOption('#search-mode', 'hex');
    await page.click('#search-button');
    await until('bad hex refused', async () => (await page.getAttribute('#search-result', 'class')) === 'error');
    assert.match(await text(page, '#search-result'), /even number/);
    assert.equal(await page.getAttribute('#search-result', 'data-region-id'), null);
    await page.fill('#search-input', 'zebra/0001');
    await page.selectOption('#search-mode', 'utf8');
    await page.click('#search-button');
    const zebraRegion = String(await want(Buffer.from('zebra/0001').toString('hex')));
    await until(`search to find region ${zebraRegion}`, async () => (await page.getAttribute('#search-result', 'data-region-id')) === zebraRegion);
    assert.match(await text(page, '#search-result'), new RegExp(`^key "zebra/0001" is in region ${zebraRegion}\\b`));
    assert.equal(await page.locator(`#regions tr.found[data-region-id="${zebraRegion}"]`).count(), 1, 'the found region is highlighted');
    // Operators in flight: none (the merge finished).
    await until('the operator count 0', async () => (await text(page, '#operator-count')) === '0');

    // The heatmap: uPlot's canvas with heat-coloured cells, axes drawn by uPlot.
    await until('the heatmap summary', async () => /buckets? of 10 s × [12] key ranges?/.test(await text(page, '#heatmap-summary')));
    await until('heat-coloured cells on the heatmap canvas', async () => (await heatPixels(page)) >= HEAT_PIXELS_MIN);
    assert.ok((await page.locator('#heatmap .uplot .u-axis').count()) >= 2, 'uPlot drew the time and key axes');

    // Region events: PD recorded the split it saw and the operators it made; the page shows each
    // where its time is, with its details. Judged against PD's own answer.
    const splitRegion = first[0]!.id;
    const recorded = ((await (await fetch(`${pdHttp}/pd/api/v1/region-events`)).json()) as { events: RegionEvent[] }).events;
    const wanted = [
      recorded.find((e) => e.kind === 'operator' && e.outcome === 'created' && e.regionId === splitRegion && e.description === 'admin-split'),
      recorded.find((e) => e.kind === 'split' && e.regionId === splitRegion),
      recorded.find((e) => e.kind === 'operator' && e.outcome === 'created' && e.regionId === halves[0]!.id && e.description === 'admin-merge'),
      recorded.find((e) => e.kind === 'merge' && e.regionId === halves[1]!.id),
    ];
    assert.ok(wanted.every((e) => e !== undefined), `PD recorded the split, the merge and both operators: ${JSON.stringify(recorded)}`);
    const splitEvent = wanted[1]!;
    assert.deepEqual(splitEvent.kind === 'split' && splitEvent.splitKeys, ['6d'], 'split at "m"');
    await until('a marker for each of those events', async () => {
      const shown = (await eventMarkers(page)).markers;
      return wanted.every((e) => shown.some((m) => m.kind === e.kind && m.regionId === e.regionId && m.atMs === e.atMs));
    });
    const view = await eventMarkers(page);
    for (const e of wanted) assertPlaced(view, view.markers.find((m) => m.kind === e.kind && m.regionId === e.regionId && m.atMs === e.atMs)!);
    const splitMarker = view.markers.find((m) => m.kind === 'split')!;
    assert.match(splitMarker.title, new RegExp(`· split: region ${splitRegion} at "m", was \\[−∞, \\+∞\\)`));
    assert.match(await text(page, '#heatmap-events-summary'), /\d+ events? in this window: [1-9]\d* split/);

    await mkdir(ARTIFACTS_DIR, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard.png'), fullPage: true });

    // A follower: the banner says so plainly and links to the leader's dashboard, which works.
    const leader: PdMember = { id: 1, name: 'pd1', peerUrls: ['127.0.0.1:1'], clientUrls: [c.pdEndpoint], statusAddress: `127.0.0.1:${c.pd.members[0]!.httpPort}` };
    follower = await startStubPd({ isServing: false, leader });
    await page.goto(`${follower.url}/dashboard`);
    await page.waitForSelector('#leader-banner:not([hidden])', { timeout: PAGE_TIMEOUT_MS });
    assert.match(await text(page, '#leader-banner'), /not the serving leader.*pd1/);
    assert.equal(await page.getAttribute('#leader-link', 'href'), `${pdHttp}/dashboard`);
    assert.match(await text(page, '#member-role'), /follower/);
    assert.equal(await page.locator('#keyvisual').isHidden(), true, 'leader-only sections are hidden on a follower');
    assert.match(await text(page, '#members tbody'), /pd1.*leader/);
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-follower.png'), fullPage: true });
    await page.click('#leader-link');
    await until("the leader's dashboard showing 2 stores", async () => (await text(page, '#store-count')) === '2');
    assert.equal(page.url(), `${pdHttp}/dashboard`);

    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });

  it('several regions: a row each, search in hex and UTF-8 finds each, the heatmap draws each range over time', async () => {
    if (isChromiumMissing) assert.fail(CHROMIUM_MISSING);
    // A stub leader with a real state machine holds two regions, ['', m) and [m, +∞), with traffic history made up here.
    splitLeader = await startStubPd({ isServing: true, splitKeys: [Buffer.from('m')] });
    const now = Date.now();
    const kv = splitLeader.keyVisual;
    kv.record(now - 3_000, Buffer.alloc(0), Buffer.alloc(0), { writtenBytes: 100, readBytes: 0, writtenKeys: 0, readKeys: 0 });
    kv.record(now - 2_000, Buffer.alloc(0), Buffer.from('m'), { writtenBytes: 30, readBytes: 0, writtenKeys: 0, readKeys: 0 });
    kv.record(now - 2_000, Buffer.from('m'), Buffer.alloc(0), { writtenBytes: 70, readBytes: 0, writtenKeys: 0, readKeys: 0 });
    kv.record(now - 1_000, Buffer.alloc(0), Buffer.from('m'), { writtenBytes: 5, readBytes: 0, writtenKeys: 0, readKeys: 0 });
    // Region events of every kind and outcome, with the tooltip each must show (after its time);
    // one from before the heatmap's window, which must not show.
    const operator = (atMs: number, outcome: 'created' | 'finished' | 'cancelled' | 'timedOut' | 'regionGone', fromStoreIds: number[], toStoreIds: number[]): RegionEventInput => ({
      kind: 'operator', atMs, regionId: 2, outcome, operatorId: 7, operatorKind: 'leader', source: 'balance-leader', description: 'balance-leader', fromStoreIds, toStoreIds,
    });
    const history: [RegionEventInput, string][] = [
      [{ kind: 'split', atMs: now - 3_500, regionId: 1, version: 2, startKey: '', endKey: '', splitKeys: ['6d'], newRegionIds: [2] }, 'split: region 1 at "m", was [−∞, +∞), now version 2; new region 2'],
      [operator(now - 3_000, 'created', [1], [2]), 'operator 7 created: region 2, balance-leader (by balance-leader, leader) · from store 1 to store 2'],
      [operator(now - 2_500, 'finished', [1], []), 'operator 7 finished: region 2, balance-leader (by balance-leader, leader) · from store 1'],
      [operator(now - 2_000, 'cancelled', [], [3]), 'operator 7 cancelled: region 2, balance-leader (by balance-leader, leader) · to store 3'],
      [operator(now - 1_500, 'timedOut', [], []), 'operator 7 timed out: region 2, balance-leader (by balance-leader, leader)'],
      [operator(now - 1_200, 'regionGone', [], []), 'operator 7 dropped (region gone): region 2, balance-leader (by balance-leader, leader)'],
      [{ kind: 'merge', atMs: now - 1_000, regionId: 2, version: 4, startKey: '6d', endKey: '', mergedRegionIds: [3] }, 'merge: region 3 into region 2, now ["m", +∞), version 4'],
    ];
    splitLeader.regionEvents.append({ kind: 'split', atMs: now - 20 * 60_000, regionId: 9, version: 2, startKey: '', endKey: '', splitKeys: ['61'], newRegionIds: [] });
    for (const [e] of history) splitLeader.regionEvents.append(e);
    const page = await newPage();
    await page.goto(`${splitLeader.url}/dashboard`);
    await until('two region rows', async () => (await page.locator('#regions tbody tr').count()) === 2);
    assert.equal(await text(page, '#region-count'), '2');

    await page.fill('#search-input', '7a'); // "z"
    await page.selectOption('#search-mode', 'hex');
    await page.click('#search-button');
    await until('hex search to find region 2', async () => (await page.getAttribute('#search-result', 'data-region-id')) === '2');
    assert.match(await text(page, '#search-result'), /^key "z" is in region 2 \["m", \+∞\)/);
    await page.fill('#search-input', 'apple');
    await page.selectOption('#search-mode', 'utf8');
    await page.click('#search-button');
    await until('UTF-8 search to find region 1', async () => (await page.getAttribute('#search-result', 'data-region-id')) === '1');
    assert.equal(await page.locator('#regions tr.found[data-region-id="1"]').count(), 1);

    // 3 buckets × 2 ranges; values 50|50, 30|70, 5|0 draw in at least 4 colours.
    await until('the heatmap summary', async () => /3 buckets of 1 s × 2 key ranges/.test(await text(page, '#heatmap-summary')));
    await until('cells of several values on the heatmap', async () => (await heatPixelsAndColors(page)).colors >= 4);

    // A marker per event of the window, none for the older one; each where its time is, in its lane, with its details.
    await until(`${history.length} event markers`, async () => (await eventMarkers(page)).markers.length === history.length);
    const view = await eventMarkers(page);
    assert.ok(view.windowStartMs > now - 20 * 60_000 && view.windowEndMs >= now - 1_000, `window [${view.windowStartMs}, ${view.windowEndMs}]`);
    const shown = [...view.markers].sort((x, y) => x.atMs - y.atMs);
    for (const [i, [e, tooltip]] of history.entries()) {
      const m = shown[i]!;
      assert.deepEqual([m.kind, m.regionId, m.atMs, m.outcome], [e.kind, e.regionId, e.atMs, e.kind === 'operator' ? e.outcome : null]);
      assert.ok(m.title.endsWith(` · ${tooltip}`), `tooltip ${JSON.stringify(m.title)} should end with ${JSON.stringify(tooltip)}`);
      assertPlaced(view, m);
    }
    assert.equal(await text(page, '#heatmap-events-summary'), '7 events in this window: 1 split, 1 merge, 5 operator');
    assert.equal(await page.locator('#heatmap-legend .legend-item').count(), 5);
    // Distinct colours per lane and outcome: split, merge, created, finished, a failure.
    const colours = await page.$$eval('#heatmap-events .event-marker', (ms) => ms.map((m) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(m).backgroundColor));
    assert.equal(new Set(colours).size, 5, `marker colours ${colours.join(', ')}`);
    await page.hover('#heatmap-events .event-marker[data-kind="merge"]');
    await until('the merge described on hover', async () => (await text(page, '#heatmap-info')).endsWith(history[6]![1]));
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard-regions.png'), fullPage: true });
    assert.deepEqual(pageErrors, [], 'no script errors on the page');
  });

  /** A page of the shared browser (launched on first use), its script errors collected. */
  async function newPage(): Promise<Page> {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    const page = await browser.newPage({ viewport: { width: 1400, height: 1800 } });
    page.on('pageerror', (err) => pageErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      // A follower's refusals (503 PdNotLeader) are expected and shown in the banner; any other error is not.
      if (msg.type() === 'error' && !/status of 503/.test(msg.text())) pageErrors.push(`console: ${msg.text()} (${msg.location().url})`);
    });
    return page;
  }
});
