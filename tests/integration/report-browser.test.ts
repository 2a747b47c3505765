// The HTML run report in a real browser (headless Chromium over file://):
// every chart draws its data, the pipeline graph and accuracy table are
// there, run text stays text, nothing errors and nothing is fetched.
// SWIRL_REPORT_SCREENSHOT=/tmp/report.png saves a full-page screenshot.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReportData } from '../../report/collect.js';
import { histogram, renderReport } from '../../report/render.js';
import { REPORT_DATA_VERSION, type ReportData } from '../../report/types.js';
import { fixtureSources } from '../unit/report-fixture.js';
import { launchChromium } from './browser.js';

interface DrawnChart {
  id: string;
  points: number;
  rendered: string | null;
  type: string;
  values: Array<number | null>;
  elements: number;
  finite: boolean;
  painted: number;
  dataColoured: number;
}

// Runs in the page (a string, so no transpiler helpers leak into it): per
// canvas, what Chart.js holds and how many pixels carry a dataset colour.
const INSPECT_CHARTS = `(() => {
  const rgb = (h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
  return [...document.querySelectorAll('canvas')].map((c) => {
    const chart = Chart.getChart(c);
    const ds = chart.data.datasets[0];
    const colours = [].concat(ds.backgroundColor, ds.borderColor).filter((x) => typeof x === 'string' && /^#[0-9a-f]{6}$/i.test(x)).map(rgb);
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0, dataColoured = 0;
    for (let i = 0; i < px.length; i += 4) {
      if (px[i + 3] === 0) continue;
      painted++;
      if (px[i + 3] > 200 && colours.some((k) => Math.abs(k[0] - px[i]) + Math.abs(k[1] - px[i + 1]) + Math.abs(k[2] - px[i + 2]) < 40)) dataColoured++;
    }
    const meta = chart.getDatasetMeta(0);
    return { id: c.id, points: Number(c.dataset.points), rendered: c.getAttribute('data-rendered'), type: chart.config.type, values: ds.data, elements: meta.data.length,
      finite: meta.data.every((e) => Number.isFinite(e.x) && Number.isFinite(e.y)), painted, dataColoured };
  });
})()`;

describe('HTML run report in headless Chromium', () => {
  let context: BrowserContext;
  let close: () => Promise<void>;
  const dir = mkdtempSync(path.join(tmpdir(), 'swirl-report-'));

  beforeAll(async () => {
    ({ context, close } = await launchChromium());
  });
  afterAll(async () => {
    await close?.();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Opens a rendered report from file:// and records console errors, page errors, dialogs and non-file requests. */
  async function open(data: ReportData, name: string): Promise<{ page: Page; problems: string[]; requests: string[] }> {
    const file = path.join(dir, name);
    writeFileSync(file, renderReport(data));
    const page = await context.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && problems.push(`console: ${m.text()}`)));
    page.on('pageerror', (e) => void problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => void (problems.push(`dialog: ${d.message()}`), d.dismiss()));
    page.on('request', (r) => void (!/^(file|data):/.test(r.url()) && requests.push(r.url())));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    return { page, problems, requests };
  }

  it('draws every chart of a full run with its data, offline and without errors', async () => {
    const data = buildReportData(fixtureSources());
    const { page, problems, requests } = await open(data, 'full.html');
    const charts = (await page.evaluate(INSPECT_CHARTS)) as DrawnChart[];
    expect(charts.map((c) => c.id).sort()).toEqual(['chart-funnel', 'chart-goodrates', 'chart-rewards', 'chart-training-0-kl', 'chart-training-0-loss', 'chart-training-0-meanReward', 'chart-training-0-validActions']);
    for (const c of charts) {
      expect(c.rendered, c.id).toBe('true');
      expect(c.elements, c.id).toBe(c.values.length);
      expect(c.finite, c.id).toBe(true);
      expect(c.painted, `${c.id} has pixels`).toBeGreaterThan(1000);
      expect(c.dataColoured, `${c.id} shows its data in the dataset colour`).toBeGreaterThan(c.type === 'line' ? 100 : 500);
      // data-points = values drawn: bar counts of a histogram add up to it, other charts have one point each.
      const drawn = c.id === 'chart-goodrates' || c.id === 'chart-rewards' ? c.values.reduce<number>((a, b) => a + (b ?? 0), 0) : c.values.filter((v) => v !== null).length;
      expect(drawn, c.id).toBe(c.points);
    }
    const byId = Object.fromEntries(charts.map((c) => [c.id, c]));
    expect(byId['chart-funnel']!.values).toEqual([64, 256, 843, 391]);
    expect(byId['chart-goodrates']!.values).toEqual(histogram(data.goodRates!).counts);
    expect(byId['chart-rewards']!.points).toBe(843);
    expect(byId['chart-training-0-loss']!.values).toEqual(data.training![0]!.points.map((p) => p.loss));

    // Pipeline graph: one box per stage, one arrow per input edge, cache badges, boxes laid out.
    const graph = (await page.evaluate(`(() => ({
      stages: [...document.querySelectorAll('#pipeline-graph g.stage')].map((g) => ({ id: g.getAttribute('data-stage'), w: g.getBBox().width })),
      edges: [...document.querySelectorAll('#pipeline-graph path.edge')].map((p) => p.getTotalLength()),
      badges: document.querySelectorAll('#pipeline-graph .badge-cache').length,
    }))()`)) as { stages: Array<{ id: string; w: number }>; edges: number[]; badges: number };
    expect(graph.stages.map((s) => s.id)).toEqual(data.stages.map((s) => s.id));
    expect(graph.stages.every((s) => s.w > 100)).toBe(true);
    expect(graph.edges).toHaveLength(data.stages.reduce((n, s) => n + s.inputs.length, 0));
    expect(graph.edges.every((len) => len > 10)).toBe(true);
    expect(graph.badges).toBe(2);

    // Accuracy table with intervals, and the paired comparison.
    const rows = await page.locator('#accuracy-table tbody tr').allInnerTexts();
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(/base[\s\S]*300[\s\S]*134[\s\S]*44\.7%[\s\S]*\[39\.1%, 50\.3%\]/);
    expect(rows[1]).toMatch(/trained[\s\S]*158[\s\S]*52\.7%[\s\S]*\[47\.0%, 58\.2%\]/);
    expect(await page.locator('#accuracy-table svg.ci .ci-range').count()).toBe(2);
    expect(await page.locator('#comparison-table tbody tr').innerText()).toMatch(/\+8\.0 pp[\s\S]*\[\+4\.1, \+11\.9\] pp[\s\S]*paired[\s\S]*better/);
    expect(await page.locator('#filter-table tbody tr').innerText()).toMatch(/process\+outcome[\s\S]*71\.0%/);

    // Run text with markup is shown as text: nothing ran, nothing was injected.
    expect(await page.locator('header .desc').innerText()).toContain('<script>alert("pwned")</script>');
    expect(await page.locator('.failure').innerText()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('script').count()).toBe(3);
    expect(await page.locator('img').count()).toBe(0);

    if (process.env.SWIRL_REPORT_SCREENSHOT) await page.screenshot({ path: process.env.SWIRL_REPORT_SCREENSHOT, fullPage: true });
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });

  it('a run without data shows notes, not empty charts, and no errors', async () => {
    const data: ReportData = { version: REPORT_DATA_VERSION, generatedAt: new Date().toISOString(), run: { id: 'r', pipeline: 'empty', status: 'RUNNING' }, stages: [], funnel: {}, filter: [], evaluations: [] };
    const { page, problems, requests } = await open(data, 'empty.html');
    expect(await page.locator('canvas').count()).toBe(0);
    const notes = await page.locator('p.empty').allInnerTexts();
    expect(notes).toHaveLength(8);
    expect(notes.every((n) => n.length > 10)).toBe(true);
    expect(problems).toEqual([]);
    expect(requests).toEqual([]);
    await page.close();
  });
});
