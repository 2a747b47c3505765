// curvesSvg(training): the train stages' curves as one standalone SVG (no script, no fonts to
// fetch), for pages that cannot run the HTML report's charts: `swirl report --markdown FILE`
// writes it beside FILE and links it. One panel per metric (mean sampled reward, KL to the base,
// loss), one line per train stage, a shared legend; the iteration on x.
import type { TrainingCurve, TrainingPoint } from './types.js';

type Metric = 'meanReward' | 'kl' | 'loss';
const PANELS: Array<[Metric, string]> = [
  ['meanReward', 'mean sampled reward'],
  ['kl', 'KL to the base (per action token)'],
  ['loss', 'loss'],
];
const COLORS = ['#4f46e5', '#0d9488', '#e11d48', '#0284c7', '#ca8a04', '#7c3aed'];
const W = 300;
const H = 190;
const PAD = { l: 46, r: 10, t: 26, b: 30 };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Three significant digits, without trailing zeros. */
function tick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 0.001 ? v.toExponential(1) : String(Number(v.toPrecision(3)));
}

function niceRange(lo: number, hi: number): [number, number] {
  if (lo === hi) return lo === 0 ? [0, 1] : [Math.min(0, lo), Math.max(0, hi) || 1];
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** A stage's values of one metric, in iteration order. */
function series(c: TrainingCurve, m: Metric): Array<[number, number]> {
  // Supervised stages train on stored actions: no sampled reward to plot.
  if (m === 'meanReward' && c.objective === 'sft') return [];
  return [...c.points]
    .sort((a, b) => a.iteration - b.iteration)
    .filter((p): p is TrainingPoint & Record<Metric, number> => typeof p[m] === 'number' && Number.isFinite(p[m]))
    .map((p) => [p.iteration, p[m]]);
}

/** Undefined when no train stage has a point of any panel's metric. */
export function curvesSvg(training: readonly TrainingCurve[]): string | undefined {
  const curves = training.filter((c) => c.points.length > 0);
  const panels = PANELS.filter(([m]) => curves.some((c) => series(c, m).length > 0));
  if (!panels.length) return undefined;
  const color = new Map(curves.map((c, i) => [c.stageId, COLORS[i % COLORS.length]!]));
  const legendH = 22;
  const width = W * panels.length;
  const height = H + legendH;
  const parts: string[] = [];
  panels.forEach(([m, label], k) => {
    const ox = k * W;
    const all = curves.map((c) => ({ id: c.stageId, pts: series(c, m) })).filter((s) => s.pts.length > 0);
    const xs = all.flatMap((s) => s.pts.map((p) => p[0]));
    const ys = all.flatMap((s) => s.pts.map((p) => p[1]));
    const [x0, x1] = [Math.min(...xs), Math.max(...xs) === Math.min(...xs) ? Math.min(...xs) + 1 : Math.max(...xs)];
    const [y0, y1] = niceRange(Math.min(...ys), Math.max(...ys));
    const px = (x: number) => ox + PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
    const py = (y: number) => PAD.t + (1 - (y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
    parts.push(`<text x="${ox + PAD.l}" y="16" font-size="12" font-weight="600">${esc(label)}</text>`);
    // Axes with three y ticks and the first/last iteration.
    parts.push(`<line x1="${px(x0)}" y1="${py(y0)}" x2="${px(x1)}" y2="${py(y0)}" stroke="#94a3b8"/><line x1="${px(x0)}" y1="${py(y0)}" x2="${px(x0)}" y2="${py(y1)}" stroke="#94a3b8"/>`);
    for (const y of [y0, (y0 + y1) / 2, y1]) {
      parts.push(`<line x1="${px(x0)}" y1="${py(y).toFixed(1)}" x2="${px(x1)}" y2="${py(y).toFixed(1)}" stroke="#e2e8f0"/><text x="${px(x0) - 4}" y="${(py(y) + 4).toFixed(1)}" font-size="10" text-anchor="end">${tick(y)}</text>`);
    }
    parts.push(`<text x="${px(x0)}" y="${H - 14}" font-size="10" text-anchor="middle">${x0}</text><text x="${px(x1)}" y="${H - 14}" font-size="10" text-anchor="middle">${x1}</text><text x="${(px(x0) + px(x1)) / 2}" y="${H - 4}" font-size="10" text-anchor="middle">iteration</text>`);
    for (const s of all) {
      const c = color.get(s.id)!;
      const d = s.pts.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
      parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
      for (const [x, y] of s.pts.length <= 40 ? s.pts : []) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.2" fill="${c}"/>`);
    }
  });
  let lx = PAD.l;
  for (const c of curves) {
    parts.push(`<rect x="${lx}" y="${H + 6}" width="12" height="4" fill="${color.get(c.stageId)}"/><text x="${lx + 16}" y="${H + 12}" font-size="11">${esc(c.stageId)}</text>`);
    lx += 30 + 7 * c.stageId.length;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" role="img" aria-label="training curves"><rect width="100%" height="100%" fill="#fff"/>${parts.join('')}</svg>\n`;
}
