// renderReport: one self-contained page, all run text escaped, a note instead
// of an empty chart, scripts allowed only by hash. (The browser test in
// tests/integration/report-browser.test.ts checks that the charts draw.)
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/index.js';
import { buildReportData } from '../../report/collect.js';
import { chartLibraryVersion, escapeHtml, histogram, pipelineLayout, plural, renderReport, type GraphBox } from '../../report/render.js';
import { packageRoot } from '../../runtime/paths.js';
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

  it('names a stage output\'s rows by what a row is (a steps artifact holds trajectories)', () => {
    const data = buildReportData(fixtureSources());
    const steps = data.stages.find((s) => s.output?.kind === 'steps');
    expect(steps, 'the fixture has a steps output').toBeDefined();
    expect(html).toContain(`${steps!.output!.rows} trajectories`);
    expect(html).not.toMatch(new RegExp(`>${steps!.output!.rows} steps<`));
  });

  it('shows the served adapter and probe per iteration for a runtime-LoRA sampler (escaped), and nothing of it otherwise', () => {
    const data = emptyData({ training: [{ stageId: 'swirl', points: [
      { iteration: 1, meanReward: 0.1, served: 'base' },
      { iteration: 2, meanReward: 0.2, served: 'run-swirl-step-1<b>', servedAdapterHash: 'f'.repeat(64), probeNew: 0.002, probeOld: 0.4, probeDistinguishable: true },
    ] }] });
    const page = renderReport(data);
    expect(page).toContain('Served policy per iteration');
    expect(page).toContain('<code>run-swirl-step-1&lt;b&gt;</code>');
    expect(page).toContain(`<code>${'f'.repeat(12)}</code>`);
    expect(page).toContain('0.0020');
    expect(html).not.toContain('Served policy per iteration');
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

describe('run overrides in the header', () => {
  const html = renderReport(buildReportData(fixtureSources()));
  it('lists the --set overrides the run was compiled with, escaped, and nothing when there were none', () => {
    const src = fixtureSources();
    src.plan = { ...src.plan!, overrides: ['stages.rollouts.samples=2', `stages.rollouts.description=${HOSTILE}`] };
    const data = buildReportData(src);
    expect(data.run.overrides).toEqual(['stages.rollouts.samples=2', `stages.rollouts.description=${HOSTILE}`]);
    const page = renderReport(data);
    const line = /<p class="overrides" id="run-overrides">([\s\S]*?)<\/p>/.exec(page)?.[1] ?? '';
    expect(line).toContain('Run with overrides: <code>stages.rollouts.samples=2</code>, <code>stages.rollouts.description=&lt;script&gt;');
    expect(page).not.toContain('<script>alert');
    // In the header, under the description it qualifies.
    expect(page.indexOf('id="run-overrides"')).toBeGreaterThan(page.indexOf('<p class="desc">'));
    expect(page.indexOf('id="run-overrides"')).toBeLessThan(page.indexOf('</header>'));
    expect(html).not.toContain('run-overrides');
  });
});

describe('wide tables', () => {
  const html = renderReport(buildReportData(fixtureSources()));
  it('every table sits in its own horizontal scroll container, so the page itself never scrolls sideways', () => {
    const tables = html.match(/<table\b/g) ?? [];
    expect(tables.length).toBeGreaterThanOrEqual(5); // stages, filter, agreement, accuracy, comparisons
    expect(html.match(/<div class="scroll"><table\b/g)).toHaveLength(tables.length);
    expect(html).toMatch(/\.scroll\{[^}]*overflow-x:auto/);
    // Long free text in a cell wraps instead of widening the table.
    expect(html).toMatch(/\.kv\{[^}]*overflow-wrap:anywhere/);
    expect(html).toMatch(/\.error\{[^}]*overflow-wrap:anywhere/);
  });
});

describe('counts in words', () => {
  it('"1 step per trajectory", "3 steps per trajectory"', () => {
    const facts = (funnel: ReportData['funnel']) => /<ul class="facts">([\s\S]*?)<\/ul>/.exec(renderReport(emptyData({ funnel })))![1]!;
    const one = facts({ questions: 7, trajectories: 7, steps: 7 });
    expect(one).toContain('<b>1</b> trajectory per question');
    expect(one).toContain('<b>1</b> step per trajectory');
    expect(one).not.toMatch(/<b>1<\/b> (steps|trajectories)/);
    const many = facts({ questions: 4, trajectories: 8, steps: 24 });
    expect(many).toContain('<b>2</b> trajectories per question');
    expect(many).toContain('<b>3</b> steps per trajectory');
    expect(facts({ questions: 4, trajectories: 2, steps: 3 })).toContain('<b>0.50</b> trajectories per question');
    const stage = { id: 's', type: 'dataset', inputs: [], status: 'completed', cacheHit: false };
    expect(renderReport(emptyData({ stages: [stage] }))).toContain('1 stage, 0 from cache');
    expect(plural(1, 'step', 'steps')).toBe('step');
    for (const n of [0, 2, 0.5, 1.5]) expect(plural(n, 'step', 'steps')).toBe('steps');
  });
});

/** Whether segment a→b passes through the inside of box r (touching its border does not count). */
function crosses(a: [number, number], b: [number, number], r: GraphBox): boolean {
  let [t0, t1] = [0, 1];
  const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
  // Liang–Barsky clipping against the open rectangle.
  const clip = (p: number, q: number): boolean => {
    if (p === 0) return q > 0;
    const t = q / p;
    if (p < 0) {
      if (t >= t1) return false;
      t0 = Math.max(t0, t);
    } else {
      if (t <= t0) return false;
      t1 = Math.min(t1, t);
    }
    return true;
  };
  return clip(-dx, a[0] - r.x) && clip(dx, r.x + r.w - a[0]) && clip(-dy, a[1] - r.y) && clip(dy, r.y + r.h - a[1]) && t1 > t0;
}

describe('pipeline graph layout', () => {
  for (const name of ['gsm8k-learn', 'gsm8k']) {
    it(`${name}.yaml: no edge passes through a stage box other than its own two ends`, () => {
      const r = compileFile(path.join(packageRoot, 'pipelines', `${name}.yaml`));
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      const stages = r.plan.stages.map((s) => ({ id: s.id, inputs: s.inputs }));
      const layout = pipelineLayout(stages);
      expect(layout.boxes.size).toBe(stages.length);
      expect(layout.edges).toHaveLength(stages.reduce((n, s) => n + s.inputs.length, 0));
      const boxes = [...layout.boxes.entries()];
      // Boxes do not overlap and lie inside the drawing.
      for (const [i, a] of boxes) {
        expect(a.x >= 0 && a.y >= 0 && a.x + a.w <= layout.width && a.y + a.h <= layout.height, i).toBe(true);
        for (const [j, b] of boxes) if (i !== j) expect(a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h, `${i} overlaps ${j}`).toBe(false);
      }
      let naiveCrossings = 0;
      for (const e of layout.edges) {
        const from = layout.boxes.get(e.from)!;
        const to = layout.boxes.get(e.to)!;
        const first = e.points[0]!;
        const last = e.points[e.points.length - 1]!;
        // From the input's right side to just before the consumer's left side, at their middles.
        expect(first).toEqual([from.x + from.w, from.y + from.h / 2]);
        expect(last[1]).toBe(to.y + to.h / 2);
        expect(last[0]).toBeLessThan(to.x);
        expect(to.x - last[0]).toBeLessThanOrEqual(8);
        for (let k = 1; k < e.points.length; k++) {
          const [a, b] = [e.points[k - 1]!, e.points[k]!];
          expect(a[0] === b[0] || a[1] === b[1], `${e.from}→${e.to} segment ${k} is axis-parallel`).toBe(true);
          for (const [id, box] of boxes) {
            if (id === e.from || id === e.to) continue;
            expect(crosses(a, b, box), `${e.from}→${e.to} segment ${k} passes through ${id}`).toBe(false);
          }
        }
        // The check has teeth: a straight line between the ends would cross some boxes.
        if (boxes.some(([id, box]) => id !== e.from && id !== e.to && crosses(first, last, box))) naiveCrossings++;
      }
      if (name === 'gsm8k-learn') expect(naiveCrossings).toBeGreaterThan(0);
      // The page draws exactly these edges.
      const page = renderReport(emptyData({ stages: r.plan.stages.map((s) => ({ id: s.id, type: s.type, inputs: s.inputs, status: 'pending', cacheHit: false })) }));
      expect(page.match(/<path class="edge"/g)).toHaveLength(layout.edges.length);
      for (const e of layout.edges) expect(page).toContain(`data-from="${e.from}" data-to="${e.to}" d="M${e.points[0]![0]},${e.points[0]![1]} `);
    });
  }
});

