#!/usr/bin/env node
// `npm test`: the type check, every vitest project (unit + integration, which
// starts its own Temporal server) and the Python tests, then one summary line
// over all of them: `N passed, N failed`. Exit 1 if anything failed or a
// suite could not run at all (a suite that tested nothing is a failure).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tmp = mkdtempSync(path.join(tmpdir(), 'swirl-test-'));
// Every test process gets this folder as its TMPDIR, and it is removed at the end:
// a run's state dirs, merged exports (~1 GB each) and pytest's tmp_path folders do
// not pile up in /tmp across runs (they once filled a CI machine's disk).
const testEnv = { ...process.env, TMPDIR: tmp };
const extra = process.argv.slice(2);
let passed = 0;
let failed = 0;
const problems = [];
/** The most wall time one test file may take (docs/testing.md); SWIRL_TEST_FILE_BUDGET_S overrides it. */
const FILE_BUDGET_S = Number(process.env.SWIRL_TEST_FILE_BUDGET_S ?? 240);
const phase = {};
let files = [];

function step(name, cmd, args, opts = {}) {
  process.stdout.write(`\n== ${name}: ${[cmd, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (r.error) problems.push(`${name}: ${r.error.message}`);
  return r.status ?? 1;
}

const need = [
  [path.join(root, 'node_modules', '.package-lock.json'), 'node dependencies'],
  [path.join(root, '.venv', 'bin', 'python'), 'the Python venv'],
  [path.join(root, '.venv', 'bin', 'temporal'), 'the Temporal CLI'],
];
for (const [file, what] of need) {
  if (!existsSync(file)) {
    process.stderr.write(`npm test: ${what} missing (${file}).\n  what to do: run \`npm run setup\` first.\n0 passed, 1 failed\n`);
    process.exit(1);
  }
}

// 1. Types (not counted as tests, but a failure fails the run).
if (step('typecheck', path.join(root, 'node_modules', '.bin', 'tsc'), ['-p', '.']) !== 0) {
  problems.push('typecheck failed');
  failed++;
}

// 2. vitest: unit + integration.
let t0 = Date.now();
const vitestJson = path.join(tmp, 'vitest.json');
step('vitest', path.join(root, 'node_modules', '.bin', 'vitest'), ['run', '--reporter=default', '--reporter=json', `--outputFile.json=${vitestJson}`, ...extra], { env: testEnv });
if (existsSync(vitestJson)) {
  const report = JSON.parse(readFileSync(vitestJson, 'utf8'));
  passed += report.numPassedTests ?? 0;
  failed += (report.numFailedTests ?? 0) + (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  const brokenFiles = (report.testResults ?? []).filter((f) => f.status === 'failed' && (f.assertionResults ?? []).length === 0);
  for (const f of brokenFiles) {
    problems.push(`vitest: ${path.relative(root, f.name)} failed to run: ${(f.message ?? '').split('\n')[0]}`);
    failed++;
  }
  if ((report.numTotalTests ?? 0) === 0) {
    problems.push('vitest ran no tests');
    failed++;
  }
  files = (report.testResults ?? []).map((f) => ({
    file: path.relative(root, f.name),
    project: path.relative(root, f.name).split(path.sep)[1] ?? '?',
    secs: Math.max(0, ((f.endTime ?? 0) - (f.startTime ?? 0)) / 1000),
    status: f.status,
  }));
  // The budget guard: a single file over the limit fails the run, so the suite cannot silently grow back.
  for (const f of files) {
    if (f.secs > FILE_BUDGET_S) {
      problems.push(`vitest: ${f.file} took ${f.secs.toFixed(0)} s, over the ${FILE_BUDGET_S} s budget per file (split it or make it cheaper; docs/testing.md)`);
      failed++;
    }
  }
} else {
  problems.push('vitest produced no report');
  failed++;
}

phase.vitest = (Date.now() - t0) / 1000;

// 3. pytest (the Python trainer package).
t0 = Date.now();
const junit = path.join(tmp, 'pytest.xml');
step('pytest', path.join(root, '.venv', 'bin', 'python'), ['-m', 'pytest', '-q', `--junitxml=${junit}`], { cwd: path.join(root, 'trainer'), env: testEnv });
if (existsSync(junit)) {
  const xml = readFileSync(junit, 'utf8');
  const m = /<testsuite [^>]*?errors="(\d+)" failures="(\d+)" skipped="(\d+)" tests="(\d+)"/.exec(xml);
  if (m) {
    const [errors, failures, skipped, tests] = m.slice(1).map(Number);
    passed += tests - errors - failures - skipped;
    failed += errors + failures + skipped;
    if (tests === 0) {
      problems.push('pytest ran no tests');
      failed++;
    }
  } else {
    problems.push('pytest report unreadable');
    failed++;
  }
} else {
  problems.push('pytest produced no report');
  failed++;
}

phase.pytest = (Date.now() - t0) / 1000;

rmSync(tmp, { recursive: true, force: true });
// Where the time went: per project, and the slowest files.
if (files.length) {
  const byProject = {};
  for (const f of files) byProject[f.project] = (byProject[f.project] ?? 0) + f.secs;
  const lines = [`vitest ${phase.vitest.toFixed(0)} s wall (${Object.entries(byProject).map(([p, s]) => `${p} ${s.toFixed(0)} s`).join(', ')}), pytest ${phase.pytest.toFixed(0)} s`];
  lines.push('slowest files:');
  for (const f of [...files].sort((a, b) => b.secs - a.secs).slice(0, 10)) lines.push(`  ${f.secs.toFixed(1).padStart(7)} s  ${f.file}${f.status === 'passed' ? '' : `  (${f.status})`}`);
  process.stdout.write(`\ntimings:\n${lines.map((l) => `  ${l}`).join('\n')}\n`);
  if (process.env.SWIRL_TEST_TIMINGS) {
    try {
      writeFileSync(process.env.SWIRL_TEST_TIMINGS, JSON.stringify({ phases: phase, files }, null, 2));
    } catch {
      /* a timing file is a convenience */
    }
  }
}
if (problems.length) process.stdout.write(`\nproblems:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 && problems.length === 0 ? 0 : 1);
