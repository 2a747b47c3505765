// Hostile input to the compiler and the CLI: prototype-polluting `--set`
// keys, absurdly long keys, nesting thousands deep, thousands of errors,
// terminal control characters. Each is a coded error with a short report,
// never an internal error, a stack overflow or megabytes of output.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { compileSource } from '../../compiler/index.js';
import { formatErrorLine, formatErrorReport, formatErrorWithExcerpt, MAX_PRINTED_ERRORS, type SpecError } from '../../compiler/errors.js';
import { applyOverrides, parseOverride, type Override } from '../../compiler/overrides.js';
import { startDevServer } from '../../runtime/devserver.js';
import { packageRoot } from '../../runtime/paths.js';

const bin = path.join(packageRoot, 'bin', 'swirl.js');
const quickstart = path.join(packageRoot, 'pipelines', 'quickstart.yaml');
const source = readFileSync(quickstart, 'utf8');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'swirl-hostile-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function swirl(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '' }, cwd: packageRoot, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('--set keys that reach a prototype', () => {
  const keys = ['__proto__.polluted=yes', 'models.__proto__.polluted=yes', 'constructor.prototype.polluted=yes', 'stages.rollouts.__proto__.polluted=yes'];
  it.each(keys)('%s is E_BAD_OVERRIDE and pollutes nothing', (key) => {
    const r = compileSource(source, quickstart, { overrides: [key] });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatchObject({ code: 'E_BAD_OVERRIDE', file: '--set' });
    expect(r.errors[0]!.hint).toMatch(/__proto__/);
  });
  it('the CLI exits 2 with the code, not an internal error', () => {
    const r = swirl(['validate', 'pipelines/quickstart.yaml', '--set', '__proto__.polluted=yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_BAD_OVERRIDE/);
    expect(r.stderr).not.toMatch(/internal error/);
  });
  it('a 5,000-segment key is refused, not a stack overflow', () => {
    const key = Array.from({ length: 5000 }, () => 'a').join('.');
    expect(parseOverride(`${key}=1`)).toMatchObject({ code: 'E_BAD_OVERRIDE', message: expect.stringMatching(/5000 segments; at most 64/) });
    const r = swirl(['validate', 'pipelines/quickstart.yaml', '--set', `${key}=1`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_BAD_OVERRIDE/);
    expect(r.stderr.length).toBeLessThan(2000);
  });
  it('maps an override creates have no prototype', () => {
    const data: Record<string, unknown> = { metadata: { name: 'x' } };
    const doc = parseDocument('metadata: {name: x}\n');
    const o = parseOverride('models.fresh.provider=llama-cpp') as Override;
    expect(applyOverrides(doc, data, [o], 'f.yaml')).toEqual([]);
    expect(Object.getPrototypeOf(data.models)).toBeNull();
    expect(Object.getPrototypeOf((data.models as Record<string, unknown>).fresh)).toBeNull();
  });
  it('a key through a scalar replaces it with a map instead of crashing', () => {
    const r = compileSource(source, quickstart, { overrides: ['metadata.name.a.b=1'] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]!.code).toBe('E_TYPE');
  });
});

describe('nesting thousands deep', () => {
  for (const [name, text] of [
    ['flow lists', `apiVersion: swirl/v1\nkind: Pipeline\nmetadata: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`],
    ['flow maps', `apiVersion: swirl/v1\nkind: Pipeline\nmetadata: ${'{a: '.repeat(10_000)}1${'}'.repeat(10_000)}\n`],
    ['a parseable 200 levels', `apiVersion: swirl/v1\nkind: Pipeline\nmetadata: ${'['.repeat(200)}${']'.repeat(200)}\n`],
  ] as const) {
    it(`${name}: one E_NESTING_DEPTH with a short excerpt`, () => {
      const r = compileSource(text, 'deep.yaml');
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.errors.map((e) => e.code)).toEqual(['E_NESTING_DEPTH']);
      const report = formatErrorReport(r.errors, text).join('\n');
      expect(report).not.toMatch(/call stack/);
      expect(report.length).toBeLessThan(600);
    });
  }
});

describe('error reports', () => {
  it('print the first errors and a count; every excerpt stays short', () => {
    const lines = ['apiVersion: swirl/v1', 'kind: Pipeline', 'metadata: {name: big}', 'stages:'];
    for (let i = 0; i < 600; i++) lines.push(`  - {id: s${i}, type: dataset, path: x.jsonl, bogus${i}: 1}`);
    const file = path.join(tmp, 'many-errors.yaml');
    writeFileSync(file, lines.join('\n') + '\n');
    const human = swirl(['validate', file]);
    expect(human.code).toBe(2);
    expect(human.stderr).toMatch(new RegExp(`… and ${1201 - MAX_PRINTED_ERRORS} more errors \\(\`--json\` lists them all\\)`));
    expect(human.stderr).toMatch(/invalid {2}.*many-errors\.yaml: 1201 errors/);
    expect(human.stderr.length).toBeLessThan(40_000);
    const json = swirl(['validate', '--json', file]);
    expect((JSON.parse(json.stdout) as { errors: unknown[] }).errors).toHaveLength(1201);
  });
  it('are linear: 17,500 errors over a 1 MB source format in well under a second', () => {
    const src = Array.from({ length: 17_500 }, (_, i) => `k${i}: ${'x'.repeat(50)}`).join('\n');
    const errors: SpecError[] = Array.from({ length: 17_500 }, (_, i) => ({ code: 'E_X', message: 'bad', path: '', file: 'f.yaml', line: i + 1, column: 1 }));
    const t = performance.now();
    for (const e of errors) formatErrorWithExcerpt(e, src);
    // The old code split the whole source once per error: ~17,500 × 1 MB.
    expect(performance.now() - t).toBeLessThan(3000);
    expect(formatErrorReport(errors, src)).toHaveLength(MAX_PRINTED_ERRORS + 1);
  });
  it('clip a long line to a window around the column, caret still under it', () => {
    const line = `${'a'.repeat(5000)}X${'b'.repeat(5000)}`;
    const s = formatErrorWithExcerpt({ code: 'E_X', message: 'bad', path: '', file: 'f.yaml', line: 1, column: 5001 }, line);
    const [, ex, caret] = s.split('\n');
    expect(ex!.length).toBeLessThan(200);
    expect(ex![caret!.indexOf('^')]).toBe('X');
  });
  it('escape control characters from the spec (no terminal escape reaches stdout)', () => {
    const spec = source.replace('kind: Pipeline', 'kind: Pipeline\n"evil\\e]0;pwned\\a\\e[2J": 1');
    const file = path.join(tmp, 'control.yaml');
    writeFileSync(file, spec);
    const r = swirl(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_UNKNOWN_FIELD/);
    // eslint-disable-next-line no-control-regex
    expect(r.stderr).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
    expect(r.stderr).toContain('evil\\x1b]0;pwned\\x07\\x1b[2J');
    // A raw control character in the source line itself is escaped in the excerpt too.
    const raw = formatErrorWithExcerpt({ code: 'E_X', message: 'm\u001b[2J', path: '', file: 'f', line: 1, column: 3 }, 'a\u001b[31mb: 1');
    expect(raw).toBe('f:1:3  E_X  m\\x1b[2J\n    1 | a\\x1b[31mb: 1\n' + ' '.repeat(8 + 5) + '^');
    expect(formatErrorLine({ code: 'E_X', message: 'x'.repeat(10_000), path: '', file: 'f', line: 0, column: 0 }).length).toBeLessThan(400);
  });
});

describe('E_PORT_IN_USE', () => {
  it('names only flags that exist (swirl run has no --port)', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const e = await startDevServer({ binary: process.execPath, port }).then(
        () => undefined,
        (x: unknown) => x as { code: string; hint: string },
      );
      expect(e?.code).toBe('E_PORT_IN_USE');
      expect(e!.hint).toMatch(/swirl server start --port/);
      expect(e!.hint).not.toMatch(/^stop whatever listens there or choose another port with --port$/);
      // Every flag the hint names belongs to `swirl server start`.
      const help = swirl(['server', 'start', '--help']).stdout;
      for (const flag of e!.hint.match(/--[a-z-]+/g) ?? []) expect(help).toContain(flag);
    } finally {
      server.close();
    }
  });
});
