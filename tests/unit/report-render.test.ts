// renderReport: one self-contained page, all run text escaped, a note instead
// of an empty chart, scripts allowed only by hash. (The browser test in
// tests/integration/report-browser.test.ts checks that the charts draw.)
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildReportData } from '../../report/collect.js';
import { chartLibraryVersion, escapeHtml, histogram, renderReport } from '../../report/render.js';
import { REPORT_DATA_VERSION, type ReportData } from '../../report/types.js';
import { FIXTURE_AGREEMENT, fixtureSources, HOSTILE } from './report-fixture.js';

const emptyData = (over: Partial<ReportData> = {}): ReportData => ({
  version: REPORT_DATA_VERSION,
  generatedAt: '2026-11-27T10:00:00.000Z',
  run: { id: 'run-1', pipeline: 'p', status: 'RUNNING' },
  stages: [],
  funnel: {},
  filter: [],
  evaluations: [],
  ...over,
});

const scripts = (html: string) => [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)].map((m) => ({ attrs: m[1]!, body: m[2]! }));

describe('renderReport', () => {
  const html = renderReport(buildReportData(fixtureSources()));

  it('escapes every piece of run text: no markup from the data survives', () => {
    expect(html).not.toContain('<script>alert');
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;');
    // Exactly three script elements: chart data (inert JSON), the library, the page's own boot code.
    const s = scripts(html);
    expect(s.map((x) => x.attrs.trim())).toEqual(['type="application/json" id="swirl-charts"', '', '']);
    expect(s[0]!.body).not.toMatch(/[<>&]/);
  });

  it('escapes hostile ids, datasets and reasons in the graph and tables too', () => {
    const data = buildReportData(fixtureSources());
    data.stages[0]!.id = HOSTILE;
    data.stages[1]!.inputs = [HOSTILE];
    data.filter[0]!.dropped = { [HOSTILE]: 3 };
    data.evaluations[0]!.dataset = HOSTILE;
    data.notes = [HOSTILE];
    data.run.pipeline = HOSTILE;
    const page = renderReport(data);
    expect(page).not.toContain('<script>alert');
    expect(page).not.toContain('<img src=x');
    expect(page.match(/<script\b/g)).toHaveLength(3);
  });

  it('allows only its own scripts (CSP hashes) and loads nothing from the network', () => {
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1]!.replace(/&#39;/g, "'");
    expect(csp).toContain("default-src 'none'");
    for (const s of scripts(html).slice(1)) expect(csp).toContain(`'sha256-${createHash('sha256').update(s.body).digest('base64')}'`);
    expect(html).not.toMatch(/<(link|iframe|img)\b/i);
    expect(html).not.toMatch(/\s(src|href)="(https?:)?\/\//i);
    expect(html).not.toContain('sourceMappingURL');
    expect(html).toContain(`Chart.js ${chartLibraryVersion()}`);
  });

  it('draws every section of a full run', () => {
    for (const id of ['chart-funnel', 'chart-goodrates', 'chart-rewards', 'chart-training-0-loss', 'chart-training-0-meanReward', 'chart-training-0-kl', 'chart-training-0-validActions']) expect(html).toContain(`<canvas id="${id}"`);
    expect(html).toContain('data-points="256"'); // GOOD rates
    expect(html).toContain('data-points="843"'); // rewards
    expect(html.match(/class="stage"/g)).toHaveLength(9);
    expect(html.match(/class="edge"/g)).toHaveLength(10); // one per input edge of the plan
    expect(html.match(/class="badge-cache"/g)).toHaveLength(2);
    expect(html).toContain('[39.1%, 50.3%]');
    expect(html).toMatch(/\+8\.0 pp/);
    expect(html).not.toContain('class="empty"');
  });

  it('shows judge agreement as a table, and no table when no filter measured it', () => {
    const a = FIXTURE_AGREEMENT;
    const row = html.match(/<table id="agreement-table">[\s\S]*?<\/table>/)?.[0] ?? '';
    expect(row).toContain('<code>gsm8k-reference</code>');
    expect(row).toContain('<code>llm:judge</code>');
    expect(row).toContain(`<td class="r">${a.kappa!.toFixed(3)}</td>`);
    expect(row).toContain(`<td class="r">${(a.agreement! * 100).toFixed(1)}%</td>`);
    for (const k of [540, 59, 71, 173]) expect(row).toContain(`<td class="r">${k}</td>`);
    const src = fixtureSources();
    const f = src.stages.find((x) => x.id === 'filter')!;
    f.stats = { ...f.stats, agreement: undefined };
    expect(renderReport(buildReportData(src))).not.toContain('agreement-table');
  });

  it('says "no data" instead of drawing empty charts', () => {
    const page = renderReport(emptyData());
    expect(page).not.toContain('<canvas');
    expect(page.match(/class="empty"/g)?.length).toBe(8); // graph, funnel, filter, GOOD rates, rewards, training, accuracy, comparisons
    expect(page).toContain('This pipeline has no evaluate stage.');
    expect(page).toContain('still running');
    const chartJson = /<script type="application\/json" id="swirl-charts">(.*?)<\/script>/.exec(page)![1];
    expect(JSON.parse(chartJson!)).toEqual([]);
  });

  it('a train stage without points and a funnel with gaps degrade gracefully', () => {
    const stage = (id: string, type: string) => ({ id, type, inputs: [], status: 'running', cacheHit: false });
    const page = renderReport(emptyData({ stages: [stage('f', 'filter'), stage('t', 'train')], training: [{ stageId: 't', points: [] }], funnel: { questions: 10, steps: 30 }, goodRates: [] }));
    expect(page).toContain('No training curves yet');
    expect(page).toContain('No filter results yet');
    expect(page).toContain('This pipeline has no evaluate stage.');
    expect(page).toContain('data-points="2"'); // funnel bars
    expect(page).toContain('not measured: trajectories, kept steps');
    expect(page).toContain('No GOOD-rate values');
  });
});

describe('escapeHtml', () => {
  it('escapes the five HTML specials', () => {
    expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe('&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
    expect(escapeHtml(undefined)).toBe('');
  });
});

describe('histogram', () => {
  it('rates get ten bins, 1.0 in the last', () => {
    const h = histogram([0, 0.05, 0.1, 0.5, 0.99, 1]);
    expect(h.counts).toEqual([2, 1, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect(h.labels[0]).toBe('0–10%');
  });

  it('other values span their range; one distinct value gives one bin; no values, no bins', () => {
    const h = histogram([-2, 0, 2, 4, 6, 8, 10, 12, 14]);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(9);
    expect(h.counts).toHaveLength(3);
    expect(histogram([5, 5, 5]).counts).toEqual([3]);
    expect(histogram([])).toEqual({ labels: [], counts: [] });
  });

  it('bins 200,000 values (no argument-list overflow)', () => {
    const xs = Array.from({ length: 200_000 }, (_, i) => (i % 1000) / 999);
    expect(histogram(xs).counts.reduce((a, b) => a + b, 0)).toBe(200_000);
    expect(histogram(xs.map((x) => x * 7 - 3)).counts).toHaveLength(20);
  });
});
