#!/usr/bin/env node
// `npm test`: the type check, every vitest project (unit + integration, which
// starts its own Temporal server) and the Python tests, then one summary line
// over all of them: `N passed, N failed`. Exit 1 if anything failed or a
// suite could not run at all (a suite that tested nothing is a failure).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
} else {
  problems.push('vitest produced no report');
  failed++;
}

// 3. pytest (the Python trainer package).
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

rmSync(tmp, { recursive: true, force: true });
if (problems.length) process.stdout.write(`\nproblems:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 && problems.length === 0 ? 0 : 1);
