// How long does `swirl validate` take on a large spec, and how much of that is
// the compiler's own work beyond parsing the YAML? Prints per-run times and
// ratios measured side by side in one process (no absolute thresholds).
//   node --import tsx bench/validate.ts [lines=2000] [runs=30]

import path from 'node:path';
import { parseDocument } from 'yaml';
import { compileSource } from '../compiler/index.js';
import { formatErrorReport, formatErrorWithExcerpt } from '../compiler/errors.js';
import { packageRoot } from '../runtime/paths.js';

const targetLines = Number(process.argv[2] ?? 2000);
const runs = Number(process.argv[3] ?? 30);

function bigSpec(lines: number): string {
  const head = ['apiVersion: swirl/v1', 'kind: Pipeline', 'metadata:', '  name: bench', 'models:', '  policy: {provider: llama-cpp, model: gemma3-270m}', 'tools:', '  calc: {kind: calculator}', 'stages:'];
  const out = [...head];
  let i = 0;
  while (out.length < lines) {
    out.push(
      `  - id: q${i}`,
      '    type: dataset',
      '    description: questions for one branch of the benchmark pipeline',
      '    path: ../data/gsm8k/test.jsonl',
      '    format: gsm8k',
      `    seed: ${i}`,
      '    limit: 10',
      `  - id: r${i}`,
      '    type: rollout',
      `    input: q${i}`,
      '    model: policy',
      '    tools: [calc]',
      '    samples: 2',
    );
    i++;
    if (i >= 100) break; // the schema allows at most 200 stages
  }
  while (out.length < lines) out.push(`# padding comment line ${out.length}`);
  return out.join('\n') + '\n';
}

const src = bigSpec(targetLines);
const file = path.join(packageRoot, 'pipelines', 'bench-large.yaml'); // resolved for relative paths only; not written

function time(fn: () => void): number[] {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    fn();
    ts.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return ts.sort((a, b) => a - b);
}

const median = (xs: number[]) => xs[Math.floor(xs.length / 2)]!;
const parseOnly = time(() => void parseDocument(src).toJS());
const full = time(() => {
  const r = compileSource(src, file);
  if (!r.ok) throw new Error(JSON.stringify(r.errors.slice(0, 3)));
});
const invalid = src.replace('samples: 2', 'sampels: 2').replace('format: gsm8k', 'format: gsm9k');
const withErrors = time(() => {
  const r = compileSource(invalid, file);
  if (r.ok) throw new Error('expected errors');
});

console.log(`spec: ${src.split('\n').length - 1} lines, ${(src.length / 1024).toFixed(0)} KiB, ${runs} runs each (median ms)`);
console.log(`  YAML parse only          ${median(parseOnly).toFixed(1)} ms`);
console.log(`  full compile (valid)     ${median(full).toFixed(1)} ms   ratio to parse ${(median(full) / median(parseOnly)).toFixed(2)}x`);
console.log(`  full compile (2 errors)  ${median(withErrors).toFixed(1)} ms   ratio to parse ${(median(withErrors) / median(parseOnly)).toFixed(2)}x`);

// A hostile spec: ~1 MB of stages, each with an unknown field (17,500 errors
// and more). Formatting every error used to split the whole source once per
// error (quadratic: 82 s); now the source is split once and the human report
// prints the first errors and a count. Timed once each (they are slow).
function manyErrors(bytes: number): string {
  const lines = ['apiVersion: swirl/v1', 'kind: Pipeline', 'metadata: {name: big}', 'stages:'];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const l = `  - {id: s${i}, type: dataset, path: x.jsonl, bogus${i}: 1}`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join('\n') + '\n';
}
const hostile = manyErrors(1_000_000);
const once = (fn: () => void) => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
};
let errs: Parameters<typeof formatErrorReport>[0] = [];
const hostileParse = once(() => void parseDocument(hostile).toJS());
const hostileCompile = once(() => {
  const r = compileSource(hostile, file);
  if (r.ok) throw new Error('expected errors');
  errs = r.errors;
});
let printed = 0;
const report = once(() => void (printed = formatErrorReport(errs, hostile).join('\n').length));
const everyExcerpt = once(() => void errs.forEach((e) => formatErrorWithExcerpt(e, hostile)));
console.log(`hostile spec: ${(hostile.length / 1024).toFixed(0)} KiB, ${errs.length} errors (one run each)`);
console.log(`  YAML parse only          ${hostileParse.toFixed(1)} ms`);
console.log(`  full compile             ${hostileCompile.toFixed(1)} ms   ratio to parse ${(hostileCompile / hostileParse).toFixed(2)}x`);
console.log(`  human report             ${report.toFixed(1)} ms   ${(printed / 1024).toFixed(1)} KiB printed`);
console.log(`  every error's excerpt    ${everyExcerpt.toFixed(1)} ms   ratio to compile ${(everyExcerpt / hostileCompile).toFixed(2)}x`);
