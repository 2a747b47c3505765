// renderReport(data): one self-contained HTML page for a run. No network: the
// charting library (Chart.js, MIT, exact-pinned in package.json) is inlined
// from node_modules, the pipeline graph and CI bars are SVG generated here,
// and a Content-Security-Policy allows only this page's own two scripts (by
// hash) and no fetches, so the file works offline from file:// and text from
// run data can never execute even if it slipped past escaping.
//
// Exports (stable):
//   renderReport(data: ReportData): string   the whole HTML document
//   escapeHtml(value): string                 text/attribute escaping used everywhere
//   histogram(values, opts?)                  the binning used by the GOOD-rate and reward charts
//   pipelineLayout(stages)                    where the pipeline graph puts each box and edge
//   plural(n, one, many)                      the word for a count ("1 step", "2 steps")
//   chartLibraryVersion(): string             the inlined Chart.js version
// Every chart is a <canvas id="chart-…" data-points="N"> (N = values drawn);
// a section without data shows <p class="empty"> instead of a chart.
import { describeRows } from '../cli/rows.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { PairedComparison, ReportData, ReportEvaluation, ReportStage, TrainingPoint } from './types.js';
import { pValue } from './intervals.js';

const require = createRequire(import.meta.url);
let library: { source: string; version: string } | undefined;

/** The Chart.js UMD build, read once, made safe to sit inside a <script> element. */
function chartLibrary(): { source: string; version: string } {
  if (!library) {
    const dir = path.dirname(require.resolve('chart.js')); // …/chart.js/dist/chart.cjs
    const pkg = JSON.parse(readFileSync(path.join(dir, '..', 'package.json'), 'utf8')) as { version: string };
    const source = readFileSync(path.join(dir, 'chart.umd.min.js'), 'utf8')
      .replace(/\n\/\/# sourceMappingURL=.*\s*$/, '\n') // no source map lookup from file://
      .replace(/<\/(script)/gi, '<\\/$1');
    library = { source, version: pkg.version };
  }
  return library;
}

export function chartLibraryVersion(): string {
  return chartLibrary().version;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
const esc = escapeHtml;

/** JSON that is inert inside <script type="application/json">. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const pct = (x: number | undefined, digits = 1): string => (isNum(x) ? `${(x * 100).toFixed(digits)}%` : '–');
const num = (x: number | undefined, digits = 2): string => (isNum(x) ? (Number.isInteger(x) ? x.toLocaleString('en-US') : x.toFixed(digits)) : '–');

/** The word for a count: `one` for exactly 1, `many` otherwise (0, 2, 0.85, 1.5). */
export function plural(n: number, one: string, many: string): string {
  return n === 1 ? one : many;
}

function duration(ms: number | undefined): string {
  if (!isNum(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} m ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} m`;
}

function when(iso: string | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export interface Histogram {
  labels: string[];
  counts: number[];
}

/**
 * Equal-width bins. Values in [0, 1] (rates, 0/1 rewards) get ten bins of 0.1
 * with the last one closed; other values get ⌈√n⌉ bins (at most 20) over their range.
 */
export function histogram(values: number[], opts: { unit?: boolean } = {}): Histogram {
  const xs = values.filter(isNum);
  if (xs.length === 0) return { labels: [], counts: [] };
  // A loop, not Math.min(...xs): tens of thousands of step rewards would overflow the argument list.
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of xs) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
  const unit = opts.unit ?? (lo >= 0 && hi <= 1);
  let bins: number;
  if (unit) {
    [lo, hi, bins] = [0, 1, 10];
  } else if (lo === hi) {
    [lo, hi, bins] = [lo - 0.5, hi + 0.5, 1];
  } else bins = Math.min(20, Math.max(2, Math.ceil(Math.sqrt(xs.length))));
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const x of xs) counts[Math.min(bins - 1, Math.max(0, Math.floor((x - lo) / width)))]!++;
  const f = (x: number) => (unit ? `${Math.round(x * 100)}` : Math.abs(width) >= 1 ? x.toFixed(0) : x.toPrecision(3));
  const labels = counts.map((_, i) => `${f(lo + i * width)}–${f(lo + (i + 1) * width)}${unit ? '%' : ''}`);
  return { labels, counts };
}

// ---------------------------------------------------------------- charts

const PALETTE = { indigo: '#4f46e5', teal: '#0d9488', amber: '#d97706', rose: '#e11d48', sky: '#0284c7', slate: '#64748b' };

interface ChartSpec {
  id: string;
  config: Record<string, unknown>;
}

function canvas(id: string, points: number, label: string, height = 260): string {
  return `<div class="chart" style="height:${height}px"><canvas id="${esc(id)}" data-points="${points}" role="img" aria-label="${esc(label)}"></canvas></div>`;
}

const empty = (what: string): string => `<p class="empty">${esc(what)}</p>`;

/** The note for a section without data: the pipeline has no such stage, or it has not reported (yet). */
function absent(data: ReportData, types: string[], noStage: string, noData: string): string {
  return empty(data.stages.some((s) => types.includes(s.type)) ? noData : noStage);
}

const baseOptions = (extra: Record<string, unknown> = {}) => ({
  responsive: true,
  maintainAspectRatio: false,
  animation: false,
  plugins: { legend: { display: false } },
  ...extra,
});

function funnelSection(data: ReportData, charts: ChartSpec[]): string {
  const f = data.funnel;
  const rows: Array<[string, number | undefined, string]> = [
    ['questions', f.questions, PALETTE.indigo],
    ['trajectories', f.trajectories, PALETTE.sky],
    ['steps', f.steps, PALETTE.teal],
    ['kept steps', f.kept, PALETTE.amber],
  ];
  const present = rows.filter((r) => isNum(r[1]));
  if (present.length === 0) return absent(data, ['dataset', 'rollout', 'decompose', 'filter'], 'This pipeline has no dataset, rollout, decompose or filter stage.', 'No yield data yet: no dataset, rollout, decompose or filter stage has produced output.');
  charts.push({
    id: 'chart-funnel',
    config: {
      type: 'bar',
      data: {
        labels: present.map(([l, v]) => `${l}: ${num(v)}`),
        datasets: [{ label: 'count', data: present.map((r) => r[1]), backgroundColor: present.map((r) => r[2]), borderRadius: 4 }],
      },
      options: baseOptions({ indexAxis: 'y', scales: { x: { beginAtZero: true, grid: { color: '#eef2f7' } }, y: { grid: { display: false } } } }),
    },
  });
  // A ratio of exactly one reads "1 step per trajectory"; any other value, "0.85 trajectories" or "3.29 steps".
  const ratio = (a: number | undefined, b: number | undefined, unit: string | [string, string], asPct = false) =>
    isNum(a) && isNum(b) && b > 0 ? `<li><b>${asPct ? pct(a / b) : num(a / b)}</b> ${esc(typeof unit === 'string' ? unit : plural(a / b, ...unit))}</li>` : '';
  const facts = [
    ratio(f.trajectories, f.questions, ['trajectory per question', 'trajectories per question']),
    ratio(f.steps, f.trajectories, ['step per trajectory', 'steps per trajectory']),
    ratio(f.kept, f.steps, 'of steps kept by the filter', true),
    isNum(f.keptTrajectories) && isNum(f.trajectories) && f.trajectories > 0 ? `<li><b>${esc(num(f.keptTrajectories))}</b> of ${esc(num(f.trajectories))} trajectories kept (${esc(pct(f.keptTrajectories / f.trajectories))})</li>` : '',
    rows.filter((r) => !isNum(r[1])).length ? `<li class="muted">not measured: ${esc(rows.filter((r) => !isNum(r[1])).map((r) => r[0]).join(', '))}</li>` : '',
  ].join('');
  return `${canvas('chart-funnel', present.length, 'yield funnel', 70 + present.length * 42)}<ul class="facts">${facts}</ul>`;
}

function histogramSection(id: string, values: number[] | undefined, what: string, color: string, charts: ChartSpec[], none: () => string): string {
  const xs = (values ?? []).filter(isNum);
  if (xs.length === 0) return none();
  const h = histogram(xs);
  charts.push({
    id,
    config: {
      type: 'bar',
      data: { labels: h.labels, datasets: [{ label: what, data: h.counts, backgroundColor: color, borderColor: '#ffffff', borderWidth: 1, barPercentage: 1, categoryPercentage: 1 }] },
      options: baseOptions({ scales: { x: { grid: { display: false }, title: { display: true, text: what } }, y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'count' } } } }),
    },
  });
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sorted = [...xs].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return `${canvas(id, xs.length, `${what} histogram`)}<p class="caption">${num(xs.length)} ${plural(xs.length, 'value', 'values')} · mean ${num(mean, 3)} · median ${num(median, 3)} · min ${num(sorted[0], 3)} · max ${num(sorted[sorted.length - 1], 3)}</p>`;
}

/** Runtime LoRA: which adapter the server sampled each iteration with, and the probe that proves it served that one. */
function servedTable(pts: TrainingPoint[]): string {
  const rows = pts.filter((p) => p.served !== undefined);
  if (!rows.length) return '';
  const body = rows
    .map((p) => `<tr><td class="r">${p.iteration}</td><td><code>${esc(p.served!)}</code></td><td>${p.servedAdapterHash ? `<code>${esc(p.servedAdapterHash.slice(0, 12))}</code>` : 'base'}</td><td class="r">${esc(num(p.probeNew, 4))}</td><td class="r">${esc(num(p.probeOld, 4))}${p.probeDistinguishable === false ? ' <span class="muted">(update below tolerance)</span>' : ''}</td></tr>`)
    .join('');
  return `<h4>Served policy per iteration</h4><p class="caption">The sampler is an inference server that loads each trained adapter; after every load the server's log-probs of a fixed probe are compared with the trainer's (mean |difference| per token, nats): near the new adapter and farther from the previous one, or the iteration fails with E_STALE_POLICY.</p><div class="scroll"><table><thead><tr><th class="r">iteration</th><th>served model</th><th>adapter</th><th class="r">probe vs new</th><th class="r">probe vs previous</th></tr></thead><tbody>${body}</tbody></table></div>`;
}

function trainingSection(data: ReportData, charts: ChartSpec[]): string {
  const usable = (data.training ?? []).filter((c) => c.points.length > 0);
  if (usable.length === 0) return absent(data, ['train'], 'This pipeline has no train stage.', 'No training curves yet: the train stage has not reported any iteration.');
  const metrics: Array<['loss' | 'meanReward' | 'kl' | 'validActions', string, string]> = [
    ['loss', 'loss', PALETTE.indigo],
    ['meanReward', 'mean reward', PALETTE.teal],
    ['kl', 'KL divergence', PALETTE.rose],
    ['validActions', 'valid-action share', PALETTE.sky],
  ];
  return usable
    .map((c, i) => {
      const pts = [...c.points].sort((a, b) => a.iteration - b.iteration);
      // One small chart per metric: loss, reward and KL live on different scales.
      const panels = metrics
        // An sft stage samples nothing: no reward panel (its curve holds the demonstrations' filter reward).
        .filter(([key]) => pts.some((p) => isNum(p[key])) && !(key === 'meanReward' && c.objective === 'sft'))
        .map(([key, label, color]) => {
          const id = `chart-training-${i}-${key}`;
          const values = pts.map((p) => (isNum(p[key]) ? p[key] : null));
          charts.push({
            id,
            config: {
              type: 'line',
              data: { labels: pts.map((p) => p.iteration), datasets: [{ label, data: values, borderColor: color, backgroundColor: color, pointRadius: pts.length > 40 ? 0 : 2, borderWidth: 2, tension: 0.25, spanGaps: true }] },
              options: baseOptions({
                interaction: { mode: 'index', intersect: false },
                scales: { x: { title: { display: true, text: 'iteration' }, grid: { color: '#eef2f7' }, ticks: { maxRotation: 0, autoSkipPadding: 14 } }, y: { title: { display: true, text: label }, grid: { color: '#eef2f7' } } },
              }),
            },
          });
          const last = values.filter(isNum).at(-1);
          return `<div><h4>${esc(label)} <span class="muted">· last ${esc(num(last, 3))}</span></h4>${canvas(id, values.filter(isNum).length, `${label} per iteration of ${c.stageId}`, 220)}</div>`;
        });
      return `<h3>train stage <code>${esc(c.stageId)}</code> <span class="muted">· ${pts.length} ${plural(pts.length, 'iteration', 'iterations')}</span></h3><div class="grid3" style="grid-template-columns:repeat(${panels.length === 4 ? 2 : Math.min(3, panels.length)},minmax(0,1fr))">${panels.join('')}</div>${servedTable(pts)}`;
    })
    .join('');
}

// ---------------------------------------------------------------- pipeline graph

const STATUS_COLOR: Record<string, string> = { completed: '#16a34a', failed: '#dc2626', running: '#2563eb', skipped: '#94a3b8', cancelled: '#94a3b8', pending: '#94a3b8' };

/** A stage box in the pipeline graph (SVG user units). */
export interface GraphBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** An edge as a polyline of axis-parallel segments, from the input's right side to the consumer's left side. */
export interface GraphEdge {
  from: string;
  to: string;
  points: Array<[number, number]>;
}

export interface GraphLayout {
  width: number;
  height: number;
  boxes: Map<string, GraphBox>;
  edges: GraphEdge[];
}

const BOX_W = 166, BOX_H = 84;
/** Gaps between columns (the channels edges turn in) and between boxes of a column (lanes long edges pass through). */
const GAP_X = 52, GAP_Y = 26, PAD_X = 12;
/** Room above and below the tallest column, so a long edge can always pass a column outside its boxes. */
const PAD_Y = 26;
/** Clearance an edge keeps from boxes; the room the arrowhead needs before a box. */
const CLEAR = 6, ARROW = 18;

/**
 * Where the pipeline graph draws each stage and edge. Stages sit in columns
 * by depth (longest path from a source), each column ordered by where its
 * inputs sit (fewer crossings) and centred. Edges are orthogonal: they turn
 * only in the channels between columns, and an edge that skips columns
 * crosses each skipped column through a free lane (a gap between two boxes,
 * or the room above or below the column), so no edge passes through a box
 * other than its own two ends.
 */
export function pipelineLayout(stages: ReadonlyArray<Pick<ReportStage, 'id' | 'inputs'>>): GraphLayout {
  const byId = new Map(stages.map((s) => [s.id, s]));
  const depth = new Map<string, number>();
  const depthOf = (id: string, seen = new Set<string>()): number => {
    if (depth.has(id)) return depth.get(id)!;
    const s = byId.get(id);
    if (!s || seen.has(id)) return 0;
    seen.add(id);
    const d = s.inputs.filter((i) => byId.has(i)).reduce((m, i) => Math.max(m, depthOf(i, seen) + 1), 0);
    depth.set(id, d);
    return d;
  };
  const columns: Array<Array<Pick<ReportStage, 'id' | 'inputs'>>> = [];
  for (const s of stages) (columns[depthOf(s.id)] ??= []).push(s);
  for (let c = 0; c < columns.length; c++) columns[c] ??= []; // (depths are contiguous; kept safe anyway)
  const tallest = Math.max(0, ...columns.map((c) => c.length));
  const height = PAD_Y * 2 + tallest * BOX_H + Math.max(0, tallest - 1) * GAP_Y;
  const width = PAD_X * 2 + columns.length * BOX_W + Math.max(0, columns.length - 1) * GAP_X;
  const boxes = new Map<string, GraphBox>();
  const colX = (c: number) => PAD_X + c * (BOX_W + GAP_X);
  const centre = (id: string) => boxes.get(id)!.y + BOX_H / 2;
  columns.forEach((col, ci) => {
    // Barycentre order: a stage goes where its inputs are (a stable sort keeps plan order on ties).
    const key = (s: Pick<ReportStage, 'id' | 'inputs'>) => {
      const ys = s.inputs.filter((i) => boxes.has(i)).map(centre);
      return ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : 0;
    };
    const ordered = ci === 0 ? col : [...col].sort((a, b) => key(a) - key(b));
    const colHeight = col.length * BOX_H + (col.length - 1) * GAP_Y;
    ordered.forEach((s, ri) => boxes.set(s.id, { x: colX(ci), y: (height - colHeight) / 2 + ri * (BOX_H + GAP_Y), w: BOX_W, h: BOX_H }));
  });

  // Free lanes per column: y intervals an edge may cross the column in.
  const lanes = columns.map((col) => {
    const ys = col.map((s) => boxes.get(s.id)!).sort((a, b) => a.y - b.y);
    const free: Array<[number, number]> = [];
    let top = CLEAR;
    for (const b of ys) {
      if (b.y - CLEAR >= top) free.push([top, b.y - CLEAR]);
      top = b.y + b.h + CLEAR;
    }
    if (height - CLEAR >= top) free.push([top, height - CLEAR]);
    return free;
  });

  // Routes: per edge, its vertical runs, one per channel it turns in (channel c lies between columns c and c+1).
  interface Run { channel: number; y1: number; y2: number; group: string; x?: number }
  const routes: Array<{ from: string; to: string; runs: Run[]; start: [number, number]; end: [number, number] }> = [];
  for (const s of stages) {
    for (const i of s.inputs) {
      if (!boxes.has(i)) continue;
      const a = boxes.get(i)!;
      const b = boxes.get(s.id)!;
      const [ca, cb] = [depth.get(i) ?? 0, depth.get(s.id) ?? 0];
      const target = b.y + BOX_H / 2;
      let y = a.y + BOX_H / 2;
      const runs: Run[] = [];
      for (let k = ca + 1; k < cb; k++) {
        // The lane nearest the way from here to the target (ties: the one nearest here).
        const [mn, mx] = [Math.min(y, target), Math.max(y, target)];
        let best = y;
        let cost = Infinity;
        for (const [lo, hi] of lanes[k]!) {
          const lane = hi < mn ? hi : lo > mx ? lo : Math.min(hi, mx, Math.max(lo, mn, y));
          const c = Math.abs(lane - y) + Math.abs(lane - target) + Math.abs(lane - y) * 1e-3;
          if (c < cost) [best, cost] = [lane, c];
        }
        runs.push({ channel: k - 1, y1: y, y2: best, group: k - 1 === ca ? `from:${i}` : `edge:${i}>${s.id}:${k}` });
        y = best;
      }
      // The last run ends at the consumer: edges into one stage share it (they fan in); an edge between neighbouring columns fans out from its input.
      runs.push({ channel: cb - 1, y1: y, y2: target, group: cb - 1 === ca ? `from:${i}` : `to:${s.id}` });
      routes.push({ from: i, to: s.id, runs, start: [a.x + BOX_W, a.y + BOX_H / 2], end: [b.x - CLEAR, target] });
    }
  }

  // Each channel's runs get their own x (runs of one group share one), spread across the channel.
  const byChannel = new Map<number, Run[]>();
  for (const r of routes) for (const run of r.runs) byChannel.set(run.channel, [...(byChannel.get(run.channel) ?? []), run]);
  for (const [c, runs] of byChannel) {
    const groups = new Map<string, Run[]>();
    for (const run of runs) groups.set(run.group, [...(groups.get(run.group) ?? []), run]);
    // Groups that go up leave the channel's left first, so runs bound for the same box cross less.
    const order = [...groups.values()].sort((g, h) => Math.min(...g.map((r) => Math.min(r.y1, r.y2))) - Math.min(...h.map((r) => Math.min(r.y1, r.y2))));
    const lo = colX(c) + BOX_W + CLEAR + 2;
    const hi = colX(c + 1) - ARROW;
    order.forEach((g, gi) => {
      const x = Math.round((lo + ((hi - lo) * (gi + 1)) / (order.length + 1)) * 10) / 10;
      for (const run of g) run.x = x;
    });
  }

  const edges = routes.map((r) => {
    const points: Array<[number, number]> = [r.start];
    for (const run of r.runs) points.push([run.x!, run.y1], [run.x!, run.y2]);
    points.push(r.end);
    // Drop repeated points and points in the middle of a straight line.
    const clean = points.filter((p, k) => k === 0 || p[0] !== points[k - 1]![0] || p[1] !== points[k - 1]![1]);
    const simple = clean.filter((p, k) => {
      if (k === 0 || k === clean.length - 1) return true;
      const [a, b] = [clean[k - 1]!, clean[k + 1]!];
      return !((a[0] === p[0] && p[0] === b[0]) || (a[1] === p[1] && p[1] === b[1]));
    });
    return { from: r.from, to: r.to, points: simple };
  });
  return { width, height, boxes, edges };
}

/** SVG path data for a polyline with its corners rounded (radius at most half of either neighbouring segment). */
function roundedPath(points: Array<[number, number]>, radius = 6): string {
  const f = (v: number) => String(Math.round(v * 10) / 10);
  let d = `M${f(points[0]![0])},${f(points[0]![1])}`;
  for (let k = 1; k < points.length - 1; k++) {
    const [a, p, b] = [points[k - 1]!, points[k]!, points[k + 1]!];
    const la = Math.hypot(p[0] - a[0], p[1] - a[1]);
    const lb = Math.hypot(b[0] - p[0], b[1] - p[1]);
    const r = Math.min(radius, la / 2, lb / 2);
    const p1: [number, number] = [p[0] - ((p[0] - a[0]) / la) * r, p[1] - ((p[1] - a[1]) / la) * r];
    const p2: [number, number] = [p[0] + ((b[0] - p[0]) / lb) * r, p[1] + ((b[1] - p[1]) / lb) * r];
    d += ` L${f(p1[0])},${f(p1[1])} Q${f(p[0])},${f(p[1])} ${f(p2[0])},${f(p2[1])}`;
  }
  const last = points[points.length - 1]!;
  return `${d} L${f(last[0])},${f(last[1])}`;
}

function pipelineGraph(stages: ReportStage[]): string {
  if (stages.length === 0) return empty('The run has no stages.');
  const layout = pipelineLayout(stages);
  const { width, height } = layout;
  const [W, H] = [BOX_W, BOX_H];
  const pos = layout.boxes;
  const edges = layout.edges.map((e) => `<path class="edge" data-from="${esc(e.from)}" data-to="${esc(e.to)}" d="${roundedPath(e.points)}" marker-end="url(#arrow)"/>`);
  const boxes = stages.map((s) => {
    const { x, y } = pos.get(s.id)!;
    const color = STATUS_COLOR[s.status] ?? '#94a3b8';
    const badge = s.cacheHit
      ? `<g class="badge-cache"><rect x="${x + W - 72}" y="${y + 46}" width="62" height="18" rx="9" fill="#dcfce7" stroke="#86efac"/><text x="${x + W - 41}" y="${y + 59}" text-anchor="middle" class="badge-text" fill="#15803d">cache hit</text></g>`
      : '';
    const retry = isNum(s.attempts) && s.attempts > 1 ? ` · ${s.attempts} attempts` : '';
    // The box is narrow: rows without the step count in brackets (the stage table has it).
    const rows = s.output ? clip(describeRows({ type: s.type, output: s.output }), 26) : s.error ? clip(s.error.type, 26) : '';
    return `<g class="stage" data-stage="${esc(s.id)}" data-status="${esc(s.status)}"><title>${esc(`${s.id} (${s.type}): ${s.status}${s.error ? ` — ${s.error.type}: ${s.error.message}` : ''}`)}</title>
<rect x="${x}" y="${y}" width="${W}" height="${H}" rx="10" class="box"/><rect x="${x}" y="${y}" width="6" height="${H}" rx="3" fill="${color}"/>
<text x="${x + 16}" y="${y + 22}" class="stage-id">${esc(clip(s.id, 19))}</text>
<text x="${x + 16}" y="${y + 41}" class="stage-type">${esc(s.type)} · <tspan fill="${color}">${esc(s.status)}</tspan></text>
<text x="${x + 16}" y="${y + 59}" class="stage-time">${esc(s.cacheHit && !isNum(s.durationMs) ? 'cached' : duration(s.durationMs))}${esc(retry)}</text>
<text x="${x + 16}" y="${y + 75}" class="stage-rows">${esc(rows)}</text>${badge}</g>`;
  });
  return `<div class="graph"><svg id="pipeline-graph" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" style="max-width:100%;min-width:${Math.round(width * 0.7)}px;height:auto" viewBox="0 0 ${width} ${height}" role="img" aria-label="pipeline graph">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#94a3b8"/></marker></defs>
${edges.join('\n')}
${boxes.join('\n')}
</svg></div>`;
}

function statsCell(stats: Record<string, unknown> | undefined): string {
  if (!stats) return '';
  const parts = Object.entries(stats)
    .filter(([, v]) => isNum(v) || typeof v === 'string' || typeof v === 'boolean')
    .slice(0, 10)
    .map(([k, v]) => `<span class="kv">${esc(k)}=<b>${esc(isNum(v) ? num(v, 3) : clip(String(v), 40))}</b></span>`);
  return parts.join(' ');
}

/** A start time that may break between date and time (a narrow table), never inside either. */
function startedCell(iso: string | undefined): string {
  const t = when(iso);
  const cut = t.indexOf(' ');
  return cut < 0 ? esc(t) : `<span class="nowrap">${esc(t.slice(0, cut))}</span> <span class="nowrap">${esc(t.slice(cut + 1))}</span>`;
}

function stageTable(stages: ReportStage[]): string {
  if (stages.length === 0) return '';
  const rows = stages.map((s) => {
    const counts = s.counts ? `${num(s.counts.succeeded)} ok / ${num(s.counts.failed)} failed${s.counts.filtered ? ` / ${num(s.counts.filtered)} filtered` : ''}` : '';
    const err = s.error ? `<div class="error">${esc(s.error.type)}: ${esc(clip(s.error.message, 300))}</div>` : '';
    return `<tr><td><code>${esc(s.id)}</code></td><td>${esc(s.type)}</td><td><span class="status s-${esc(s.status)}">${esc(s.status)}</span>${s.cacheHit ? ' <span class="pill ok">cache hit</span>' : ''}</td><td>${startedCell(s.startedAt)}</td><td class="r nowrap">${esc(duration(s.durationMs))}</td><td class="r">${esc(s.attempts ?? '–')}</td><td class="r nowrap">${s.output ? esc(describeRows({ type: s.type, stats: s.stats, output: s.output })) : '–'}</td><td class="nowrap">${esc(counts)}</td><td class="stats">${statsCell(s.stats)}${err}</td></tr>`;
  });
  return `<details class="stage-table" open><summary>Stage details</summary><div class="scroll"><table><thead><tr><th>stage</th><th>type</th><th>status</th><th>started</th><th class="r">duration</th><th class="r">attempts</th><th class="r">output</th><th>items</th><th>stats</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></details>`;
}

// ---------------------------------------------------------------- tables

function filterTable(data: ReportData): string {
  if (data.filter.length === 0) return absent(data, ['filter'], 'This pipeline has no filter stage.', 'No filter results yet: the filter stage has not reported its yield.');
  const rows = data.filter.map((f) => {
    const dropped = Object.entries(f.dropped);
    // A trajectory can be dropped for several reasons: the count is in − kept when both are known.
    const total = isNum(f.trajectoriesIn) && isNum(f.kept) ? f.trajectoriesIn - f.kept : dropped.reduce((a, [, v]) => a + (isNum(v) ? v : 0), 0);
    const reasons = dropped.length ? dropped.map(([k, v]) => `<span class="kv">${esc(k)} <b>${esc(num(v))}</b></span>`).join(' ') : '<span class="muted">none</span>';
    return `<tr><td><code>${esc(f.stageId)}</code></td><td>${esc(f.mode)}</td><td class="r">${esc(num(f.trajectoriesIn))}</td><td class="r">${esc(num(f.kept))}</td><td class="r">${esc(num(total))}</td><td class="r">${esc(num(f.stepsIn))}</td><td class="r">${esc(num(f.stepsJudged))}</td><td class="r">${esc(pct(f.goodRate))}</td><td class="r">${esc(num(f.keptSteps))}</td><td>${reasons}</td></tr>`;
  });
  return `<div class="scroll"><table id="filter-table"><thead><tr><th>filter stage</th><th>mode</th><th class="r">trajectories in</th><th class="r">kept</th><th class="r">dropped</th><th class="r">steps in</th><th class="r">steps judged</th><th class="r">GOOD rate</th><th class="r">kept steps</th><th>drop reasons</th></tr></thead><tbody>${rows.join('')}</tbody></table></div><p class="caption">GOOD rate: share of judged steps the process judge called GOOD. A dropped trajectory counts once under each of its reasons.</p>`;
}

/** Judge agreement (filter `agreement`): one row per filter that measured it; nothing when none did. */
function agreementTable(data: ReportData): string {
  const rows = data.filter.flatMap((f) => {
    const a = f.agreement;
    if (!a) return [];
    const c = a.confusion;
    return [`<tr><td><code>${esc(f.stageId)}</code></td><td class="nowrap"><code>${esc(a.judgeA)}</code></td><td class="nowrap"><code>${esc(a.judgeB)}</code></td><td class="r">${esc(num(a.steps))}</td><td class="r">${esc(num(a.kappa, 3))}</td><td class="r">${esc(pct(a.agreement))}</td><td class="r">${esc(pct(a.goodRateA))}</td><td class="r">${esc(pct(a.goodRateB))}</td><td class="r">${esc(num(c.goodGood))}</td><td class="r">${esc(num(c.goodBad))}</td><td class="r">${esc(num(c.badGood))}</td><td class="r">${esc(num(c.badBad))}</td></tr>`];
  });
  if (rows.length === 0) return '';
  return `<h3>Judge agreement</h3><div class="scroll"><table id="agreement-table"><thead><tr><th>filter stage</th><th>judge A</th><th>judge B</th><th class="r">steps</th><th class="r">Cohen's κ</th><th class="r">agreement</th><th class="r wrap">GOOD rate A</th><th class="r wrap">GOOD rate B</th><th class="r wrap">A GOOD, B GOOD</th><th class="r wrap">A GOOD, B BAD</th><th class="r wrap">A BAD, B GOOD</th><th class="r wrap">A BAD, B BAD</th></tr></thead><tbody>${rows.join('')}</tbody></table></div><p class="caption">Both judges saw the same steps. κ: agreement beyond chance (1 = always agree, 0 = as often as chance, – = no step judged by both). A is the filter's process judge; B only measures, it drops nothing.</p>`;
}

/** The interval as a bar and the estimate as a dot, on a scale shared by every row of a table. */
function ciBar(lo: number, hi: number, mid: number, domain: [number, number]): string {
  const W = 150, H = 18;
  const [min, max] = domain;
  const x = (v: number) => (((Math.max(min, Math.min(max, v)) - min) / (max - min)) * (W - 10) + 5).toFixed(1);
  const zero = min < 0 && max > 0 ? `<line x1="${x(0)}" y1="1" x2="${x(0)}" y2="${H - 1}" stroke="#64748b" stroke-width="1.2"/>` : '';
  return `<svg class="ci" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" aria-hidden="true"><line x1="5" y1="${H / 2}" x2="${W - 5}" y2="${H / 2}" stroke="#e2e8f0" stroke-width="2"/>${zero}<line class="ci-range" x1="${x(lo)}" y1="${H / 2}" x2="${x(hi)}" y2="${H / 2}" stroke="${PALETTE.indigo}" stroke-opacity=".55" stroke-width="6" stroke-linecap="round"/><circle cx="${x(mid)}" cy="${H / 2}" r="4" fill="#1e1b4b"/></svg>`;
}

/** A scale covering all intervals, widened to whole steps of `step` (accuracies: 10 points; differences: symmetric around 0). */
function domainOf(intervals: Array<[number, number]>, step: number, signed: boolean): [number, number] {
  const lo = Math.min(...intervals.map((c) => c[0]));
  const hi = Math.max(...intervals.map((c) => c[1]));
  if (signed) {
    const m = Math.max(step, Math.ceil((Math.max(Math.abs(lo), Math.abs(hi)) + 1e-9) / step) * step);
    return [-Math.min(1, m), Math.min(1, m)];
  }
  const a = Math.max(0, Math.floor(lo / step) * step);
  const b = Math.min(1, Math.ceil(hi / step) * step);
  return b > a ? [a, b] : [0, 1];
}

const scaleHeader = (d: [number, number], signed: boolean) =>
  `<span class="scale"><span>${esc(signed ? `${Math.round(d[0] * 100)}` : pct(d[0], 0))}</span><span>${esc(signed ? `+${Math.round(d[1] * 100)} pp` : pct(d[1], 0))}</span></span>`;

function policyLabel(policy: string): string {
  return policy === 'base' ? '<span class="pill">base</span>' : `<span class="pill trained">trained</span> <code>${esc(policy)}</code>`;
}

function evaluationTable(data: ReportData): string {
  const evals = data.evaluations;
  if (evals.length === 0) return absent(data, ['evaluate'], 'This pipeline has no evaluate stage.', 'No evaluation results yet: no evaluate stage has reported accuracy.');
  const has = (k: keyof ReportEvaluation) => evals.some((e) => isNum(e[k]));
  const optional: Array<[keyof ReportEvaluation, string, (e: ReportEvaluation) => string]> = [
    ['answered', 'answered', (e) => pct(e.answered)],
    ['f1', 'F1', (e) => pct(e.f1)],
    ['avgSteps', 'avg steps', (e) => num(e.avgSteps)],
    ['toolCallsPerQuestion', 'tool calls / q', (e) => num(e.toolCallsPerQuestion)],
    ['processScore', 'process score', (e) => pct(e.processScore)],
  ];
  const cols = optional.filter(([k]) => has(k));
  const sorted = [...evals].sort((a, b) => a.dataset.localeCompare(b.dataset) || (a.policy === 'base' ? -1 : b.policy === 'base' ? 1 : a.stageId.localeCompare(b.stageId)));
  const domain = domainOf(evals.map((e) => e.ci95), 0.1, false);
  const rows = sorted.map(
    (e) =>
      `<tr data-stage="${esc(e.stageId)}"><td class="nowrap">${esc(e.dataset)}</td><td class="nowrap">${policyLabel(e.policy)}<div class="muted small">stage ${esc(e.stageId)}</div></td><td class="r">${esc(num(e.n))}</td><td class="r">${esc(num(e.correct))}</td><td class="r acc"><b>${esc(pct(e.accuracy))}</b></td><td class="ci-text">[${esc(pct(e.ci95[0]))}, ${esc(pct(e.ci95[1]))}]</td><td>${ciBar(e.ci95[0], e.ci95[1], e.accuracy, domain)}</td>${cols.map(([, , f]) => `<td class="r">${esc(f(e))}</td>`).join('')}</tr>`,
  );
  return `<div class="scroll"><table id="accuracy-table"><thead><tr><th>data set</th><th>policy</th><th class="r">n</th><th class="r">correct</th><th class="r">accuracy</th><th>95% CI</th><th>${scaleHeader(domain, false)}</th>${cols.map(([, h]) => `<th class="r">${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

function comparisonTable(comparisons: PairedComparison[] | undefined): string {
  if (!comparisons?.length) return empty('No comparisons: they need two evaluate stages on the same data set and number of questions.');
  const domain = domainOf(comparisons.map((c) => c.ci95), 0.05, true);
  const rows = comparisons.map((c) => {
    const verdict = c.ci95[0] > 0 ? '<span class="pill ok">better</span>' : c.ci95[1] < 0 ? '<span class="pill bad">worse</span>' : '<span class="pill">no clear difference</span>';
    const pp = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}`;
    return `<tr><td class="nowrap">${policyLabel(c.policyB)} <span class="muted">vs</span> ${policyLabel(c.policyA)}<div class="muted small">stages ${esc(c.b)} − ${esc(c.a)}</div></td><td class="nowrap">${esc(c.dataset)}</td><td class="r">${esc(num(c.n))}</td><td class="r"><b>${esc(pp(c.diff))} pp</b></td><td class="ci-text">[${esc(pp(c.ci95[0]))}, ${esc(pp(c.ci95[1]))}] pp</td><td>${ciBar(c.ci95[0], c.ci95[1], c.diff, domain)}</td><td>${esc(c.method)}${c.mcnemarP !== undefined && c.discordant ? `<div class="muted small">${esc(`${c.discordant.bOnly} vs ${c.discordant.aOnly} discordant, McNemar p ${pValue(c.mcnemarP)}`)}</div>` : ''}${c.bothAnswered ? `<div class="muted small">${esc(`both answered ${c.bothAnswered.n}: ${c.bothAnswered.bCorrect} vs ${c.bothAnswered.aCorrect} right, ${c.bothAnswered.bOnly} vs ${c.bothAnswered.aOnly} discordant, p ${pValue(c.bothAnswered.mcnemarP)}`)}</div>` : ''}</td><td>${verdict}</td></tr>`;
  });
  return `<div class="scroll"><table id="comparison-table"><thead><tr><th>comparison</th><th>data set</th><th class="r">n</th><th class="r">Δ accuracy</th><th>95% CI</th><th>${scaleHeader(domain, true)}</th><th>method</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table></div><p class="caption">Δ = accuracy of the first policy minus the second, in percentage points. <i>paired</i>: interval from per-question differences on the same questions; <i>unpaired</i>: from the two accuracies alone (per-question outcomes were not recorded), wider than a paired interval. Under a paired comparison: how many questions only one of the two got right, and the exact McNemar test's two-sided p-value over them; where both evaluations' rows were readable, the same on the questions both policies answered (there only the answers differ, not protocol following).</p>`;
}

// ---------------------------------------------------------------- page

const CSS = `
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;--accent:#4f46e5}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:linear-gradient(135deg,#1e1b4b,#4338ca);color:#fff;padding:28px 32px 22px}
header .eyebrow{text-transform:uppercase;letter-spacing:.08em;font-size:12px;opacity:.75}
header h1{margin:4px 0 10px;font-size:28px;font-weight:650}
header .meta{display:flex;flex-wrap:wrap;gap:6px 22px;font-size:13px;opacity:.95}
header .meta b{font-weight:600}
header code{background:rgba(255,255,255,.12);color:#fff}
header .desc{margin:0 0 10px;opacity:.9;max-width:70em}
header .overrides{margin:0 0 10px;font-size:13px}header .overrides code{background:rgba(255,255,255,.2);font-weight:600}header .muted-h{opacity:.7}
nav{position:sticky;top:0;z-index:2;background:rgba(248,250,252,.95);backdrop-filter:blur(4px);border-bottom:1px solid var(--line);padding:8px 32px;display:flex;gap:18px;flex-wrap:wrap;font-size:13px}
nav a{color:var(--muted);text-decoration:none}nav a:hover{color:var(--accent)}
main{max-width:1180px;margin:0 auto;padding:20px 24px 40px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:18px 22px;margin:18px 0;box-shadow:0 1px 2px rgba(15,23,42,.04)}
section h2{margin:0 0 4px;font-size:18px}
section .lead{margin:0 0 14px;color:var(--muted);font-size:13px}
h3{font-size:14px;margin:14px 0 6px}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:18px}
.grid2>div,.grid3>div{min-width:0}
.grid3{display:grid;gap:16px}
@media (max-width:800px){.grid3{grid-template-columns:1fr!important}}
h4{font-size:13px;margin:6px 0 4px;font-weight:600}
.chart{position:relative;width:100%}
.empty{margin:8px 0;padding:18px;border:1px dashed #cbd5e1;border-radius:8px;color:var(--muted);background:#f8fafc;text-align:center}
.caption{color:var(--muted);font-size:12px;margin:6px 0 0}
.facts{display:flex;flex-wrap:wrap;gap:6px 22px;padding:0;margin:10px 0 0;list-style:none;font-size:13px}
.muted{color:var(--muted)}.small{font-size:11px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f1f5f9;padding:1px 5px;border-radius:4px;overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;width:100%;font-size:13px}
th{text-align:left;font-weight:600;color:#475569;font-size:12px;border-bottom:2px solid var(--line);padding:6px 10px;white-space:nowrap}
td{border-bottom:1px solid var(--line);padding:7px 9px;vertical-align:middle}
td:first-child code,td.nowrap,span.nowrap{white-space:nowrap;overflow-wrap:normal}
tbody tr:hover{background:#f8fafc}
.r{text-align:right;font-variant-numeric:tabular-nums}
.scale{display:flex;justify-content:space-between;width:150px;font-weight:500;color:var(--muted);font-size:11px}
.ci-text{font-variant-numeric:tabular-nums;white-space:nowrap}
td.stats{font-size:12px;min-width:220px;max-width:360px}
.kv{display:inline-block;max-width:100%;margin:1px 8px 1px 0;color:#475569;overflow-wrap:anywhere}
th.wrap{white-space:normal;min-width:5.5em}
.pill{display:inline-block;padding:1px 8px;border-radius:999px;font-size:11px;font-weight:600;background:#e2e8f0;color:#334155;white-space:nowrap}
.pill.ok{background:#dcfce7;color:#15803d}.pill.bad{background:#fee2e2;color:#b91c1c}.pill.trained{background:#e0e7ff;color:#3730a3}
.status{font-weight:600}.s-completed{color:#16a34a}.s-failed{color:#dc2626}.s-running{color:#2563eb}.s-skipped,.s-cancelled,.s-pending{color:#64748b}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-weight:700;font-size:12px;letter-spacing:.03em}
.b-COMPLETED{background:#22c55e;color:#052e16}.b-FAILED,.b-TERMINATED,.b-TIMED_OUT{background:#ef4444;color:#fff}.b-RUNNING,.b-PAUSED{background:#93c5fd;color:#172554}.b-CANCELLED{background:#cbd5e1;color:#0f172a}
.error{color:#b91c1c;font-size:12px;margin-top:2px;overflow-wrap:anywhere}
.notes{background:#fffbeb;border:1px solid #fde68a;color:#78350f;border-radius:10px;padding:10px 16px;margin:18px 0 0;font-size:13px}
.notes ul{margin:4px 0 0;padding-left:18px}
.failure{background:#fef2f2;border:1px solid #fecaca;color:#7f1d1d;border-radius:10px;padding:10px 16px;margin:18px 0 0;font-size:13px;overflow-wrap:anywhere}
.graph{overflow-x:auto;padding:4px 0}
#pipeline-graph .box{fill:#fff;stroke:#cbd5e1;stroke-width:1.2}
#pipeline-graph .stage:hover .box{stroke:var(--accent)}
#pipeline-graph .edge{fill:none;stroke:#94a3b8;stroke-width:1.6}
#pipeline-graph text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
#pipeline-graph .stage-id{font-size:13px;font-weight:650;fill:#0f172a}
#pipeline-graph .stage-type{font-size:11.5px;fill:#475569}
#pipeline-graph .stage-time,#pipeline-graph .stage-rows{font-size:11.5px;fill:#334155}
#pipeline-graph .badge-text{font-size:10.5px;font-weight:700}
details.stage-table{margin-top:12px}details.stage-table summary{cursor:pointer;color:#475569;font-weight:600;font-size:13px;margin-bottom:6px}
footer{color:var(--muted);font-size:12px;text-align:center;padding:0 0 30px}
@media print{nav{display:none}section{break-inside:avoid;box-shadow:none}header{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
`;

const BOOT = `(function(){
var el=document.getElementById('swirl-charts');
var specs=el?JSON.parse(el.textContent):[];
if(typeof Chart==='undefined'){console.error('swirl report: the chart library did not load');return;}
Chart.defaults.font.family='system-ui,-apple-system,"Segoe UI",Roboto,sans-serif';
Chart.defaults.color='#334155';
specs.forEach(function(s){var c=document.getElementById(s.id);if(c){new Chart(c,s.config);c.setAttribute('data-rendered','true');}});
})();`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export function renderReport(data: ReportData): string {
  const charts: ChartSpec[] = [];
  const r = data.run;
  const runMs = r.startedAt && r.closedAt ? new Date(r.closedAt).getTime() - new Date(r.startedAt).getTime() : undefined;
  const cacheHits = data.stages.filter((s) => s.cacheHit).length;

  const funnel = funnelSection(data, charts);
  const good = histogramSection('chart-goodrates', data.goodRates, 'per-trajectory GOOD rate', PALETTE.teal, charts, () => absent(data, ['filter'], 'This pipeline has no filter stage.', 'No GOOD-rate values: the filter stage has not reported per-trajectory GOOD rates.'));
  const rewards = histogramSection('chart-rewards', data.rewards, 'reward', PALETTE.amber, charts, () => absent(data, ['train'], 'This pipeline has no train stage.', 'No reward values: the train stage has not reported rewards.'));
  const training = trainingSection(data, charts);

  const notes = data.notes?.length ? `<div class="notes"><b>Notes on this report</b><ul>${data.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul></div>` : '';
  const failure = r.failure ? `<div class="failure"><b>Run failed:</b> ${esc(r.failure)}</div>` : '';
  const lib = chartLibrary();
  const chartJson = scriptJson(charts);
  const csp = `default-src 'none'; script-src ${sha256(lib.source)} ${sha256(BOOT)}; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
<meta name="generator" content="swirl report v${data.version}">
<title>${esc(`${r.pipeline} · ${r.id} · swirl report`)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<div class="eyebrow">swirl run report</div>
<h1>${esc(r.pipeline)} <span class="badge b-${esc(r.status.toUpperCase())}">${esc(r.status)}</span></h1>
${r.description ? `<p class="desc">${esc(r.description)}</p>` : ''}
${r.overrides?.length ? `<p class="overrides" id="run-overrides">Run with overrides: ${r.overrides.map((o) => `<code>${esc(o)}</code>`).join(', ')}${r.description ? '<span class="muted-h"> · the description above is the spec’s own text</span>' : ''}</p>` : ''}
<div class="meta"><span>run <code>${esc(r.id)}</code></span><span>started <b>${esc(when(r.startedAt))}</b></span><span>${r.closedAt ? `closed <b>${esc(when(r.closedAt))}</b>` : '<b>still running</b>'}</span>${isNum(runMs) ? `<span>wall time <b>${esc(duration(runMs))}</b></span>` : ''}<span>${data.stages.length} ${plural(data.stages.length, 'stage', 'stages')}, ${cacheHits} from cache</span>${r.specHash ? `<span title="${esc(r.specHash)}">spec <code>${esc(r.specHash.slice(0, 12))}</code></span>` : ''}</div>
</header>
<nav><a href="#pipeline">Pipeline</a><a href="#yield">Yield</a><a href="#distributions">Distributions</a><a href="#training">Training</a><a href="#evaluation">Evaluation</a></nav>
<main>
${failure}${notes}
<section id="pipeline"><h2>Pipeline</h2><p class="lead">Stages in topological columns; arrows point from an input to its consumer. Time is the stage's wall time; <span class="pill ok">cache hit</span> marks outputs reused from the stage cache.</p>
${pipelineGraph(data.stages)}
${stageTable(data.stages)}
</section>
<section id="yield"><h2>Yield</h2><p class="lead">How many questions, trajectories and per-step examples each stage produced, and how many steps the filter kept.</p>
${funnel}
<h3>Filter</h3>
${filterTable(data)}
${agreementTable(data)}
</section>
<section id="distributions"><h2>Distributions</h2><p class="lead">Per-trajectory share of steps judged GOOD by the process judge, and the rewards the trainer saw.</p>
<div class="grid2"><div><h3>GOOD rate per trajectory</h3>${good}</div><div><h3>Rewards</h3>${rewards}</div></div>
</section>
<section id="training"><h2>Training</h2><p class="lead">Loss, mean reward, KL and the share of valid actions per trainer iteration (what the trainer reported).</p>
${training}
</section>
<section id="evaluation"><h2>Evaluation</h2><p class="lead">Accuracy on held-out questions with 95% confidence intervals.</p>
${evaluationTable(data)}
<h3>Comparisons</h3>
${comparisonTable(data.comparisons)}
</section>
</main>
<footer>Generated ${esc(when(data.generatedAt))} by swirl · charts by Chart.js ${esc(lib.version)} (MIT), inlined · works offline</footer>
<script type="application/json" id="swirl-charts">${chartJson}</script>
<script>${lib.source}</script>
<script>${BOOT}</script>
</body>
</html>
`;
}
