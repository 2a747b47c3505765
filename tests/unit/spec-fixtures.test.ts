// The fixture corpus: every invalid spec states the errors it must produce
// (`# expect: CODE line:col` header lines), every valid spec must compile,
// and the example pipelines must match their golden plans byte for byte.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileFile } from '../../compiler/index.js';
import { planJson } from '../../compiler/plan.js';
import { ERROR_CODES } from '../../compiler/errors.js';
import { packageRoot } from '../../runtime/paths.js';

const fixtures = path.join(packageRoot, 'tests', 'fixtures', 'specs');
const invalidDir = path.join(fixtures, 'invalid');
const validDir = path.join(fixtures, 'valid');
const yamlIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

function expectations(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => /^# expect: (E_[A-Z_]+) (\d+):(\d+)\s*$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => `${m[1]} ${m[2]}:${m[3]}`);
}

describe('invalid specs', () => {
  const files = yamlIn(invalidDir);
  it('the corpus is not empty', () => expect(files.length).toBeGreaterThanOrEqual(20));
  for (const f of files) {
    it(f, () => {
      const file = path.join(invalidDir, f);
      const want = expectations(file);
      expect(want.length, `${f} has no "# expect:" line`).toBeGreaterThan(0);
      const r = compileFile(file, { displayName: f });
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.errors.map((e) => `${e.code} ${e.line}:${e.column}`)).toEqual(want);
      for (const e of r.errors) {
        expect(e.file).toBe(f);
        expect(e.message.length).toBeGreaterThan(0);
        expect(e.message).not.toMatch(/\n\s+at /); // no stack traces in messages
      }
    });
  }
});

describe('corpus coverage', () => {
  it('every compile-time error code is exercised by some invalid fixture', () => {
    const seen = new Set(yamlIn(invalidDir).flatMap((f) => expectations(path.join(invalidDir, f)).map((e) => e.split(' ')[0]!)));
    // Covered elsewhere: file-level codes (tests/unit/compiler.test.ts, cli.test.ts), the generic
    // fallback for schema keywords the schema does not use, and the run-time refusal.
    const elsewhere = new Set(['E_FILE_NOT_FOUND', 'E_FILE_TOO_LARGE', 'E_INVALID', 'E_STAGE_NOT_IMPLEMENTED', 'E_BAD_OVERRIDE']);
    const missing = Object.keys(ERROR_CODES).filter((c) => !seen.has(c) && !elsewhere.has(c));
    expect(missing).toEqual([]);
  });
});

describe('valid specs and example pipelines', () => {
  const examples = [...yamlIn(validDir).map((f) => path.join(validDir, f)), ...yamlIn(path.join(packageRoot, 'pipelines')).map((f) => path.join(packageRoot, 'pipelines', f))];
  for (const file of examples) {
    it(`${path.relative(packageRoot, file)} compiles, deterministically`, () => {
      const a = compileFile(file);
      const b = compileFile(file);
      if (!a.ok) throw new Error(a.errors.map((e) => `${e.code} ${e.line}:${e.column} ${e.message}`).join('\n'));
      expect(b.ok && planJson(b.plan)).toBe(planJson(a.plan));
    });
  }
});

describe('golden plans', () => {
  const goldenDir = path.join(packageRoot, 'tests', 'fixtures', 'plans');
  for (const f of yamlIn(path.join(packageRoot, 'pipelines'))) {
    it(`pipelines/${f} matches tests/fixtures/plans/${f.replace(/\.yaml$/, '.plan.json')}`, () => {
      const r = compileFile(path.join(packageRoot, 'pipelines', f));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const golden = readFileSync(path.join(goldenDir, f.replace(/\.yaml$/, '.plan.json')), 'utf8');
      // On an intended change: `npm run golden` rewrites the files; review the diff.
      expect(planJson(r.plan)).toBe(golden);
    });
  }
});
