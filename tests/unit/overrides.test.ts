// `--set KEY=VALUE` overrides: applied before validation, by stage id.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { compileSource } from '../../compiler/index.js';
import { planJson } from '../../compiler/plan.js';
import { formatErrorLine, formatErrorWithExcerpt } from '../../compiler/errors.js';
import { packageRoot } from '../../runtime/paths.js';

const file = path.join(packageRoot, 'pipelines', 'gsm8k.yaml');
const source = readFileSync(file, 'utf8');

describe('--set overrides', () => {
  it('change stage fields by stage id, and the stage hash with them', () => {
    const a = compileSource(source, file);
    const b = compileSource(source, file, { overrides: ['stages.train-questions.limit=4', 'stages.rollouts.samples=2', 'models.policy.maxTokens=64'] });
    expect(a.ok && b.ok).toBe(true);
    if (!a.ok || !b.ok) return;
    const st = (p: typeof a.plan, id: string) => p.stages.find((s) => s.id === id)!;
    expect(st(b.plan, 'train-questions').config.limit).toBe(4);
    expect(st(b.plan, 'rollouts').config.samples).toBe(2);
    expect(b.plan.models.policy!.maxTokens).toBe(64);
    expect(st(b.plan, 'rollouts').hash).not.toBe(st(a.plan, 'rollouts').hash);
    expect(b.plan.specHash).not.toBe(a.plan.specHash);
    // Untouched stages keep their hash.
    expect(st(b.plan, 'test-questions').hash).toBe(st(a.plan, 'test-questions').hash);
  });
  it('are validated like the spec itself', () => {
    const r = compileSource(source, file, { overrides: ['stages.rollouts.samples=0'] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.code)).toContain('E_RANGE');
  });
  it('report unknown stages and malformed keys', () => {
    const r = compileSource(source, file, { overrides: ['stages.nope.limit=1', 'novalue', 'x=[unclosed'] });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors.map((e) => e.code)).toEqual(['E_BAD_OVERRIDE', 'E_BAD_OVERRIDE', 'E_BAD_OVERRIDE']);
      expect(r.errors.find((e) => e.message.includes('nope'))!.hint).toContain('rollouts');
    }
  });
  it('point errors in an overridden value at the --set, not at line 1 of the file', () => {
    const r = compileSource(source, file, { overrides: ['stages.rollouts.samples=0', 'models.policy.maxTokens=64'] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(1);
    const e = r.errors[0]!;
    expect(e).toMatchObject({ code: 'E_RANGE', file: '--set stages.rollouts.samples=0', line: 0, column: 0 });
    expect(e.path).toMatch(/^\/stages\/\d+\/samples$/);
    expect(formatErrorLine(e)).toMatch(/^--set stages\.rollouts\.samples=0  E_RANGE  `samples` must be >= 1 \(got 0\)/);
    // No excerpt of an unrelated file line.
    expect(formatErrorWithExcerpt(e, source)).toBe(formatErrorLine(e));
    // Errors elsewhere keep their file position.
    const bad = source.replace('maxSteps: 10', 'maxSteps: -1');
    const both = compileSource(bad, file, { overrides: ['stages.rollouts.samples=0'] });
    if (both.ok) throw new Error('expected errors');
    expect(both.errors.map((x) => (x.line > 0 ? 'file' : x.file))).toEqual(expect.arrayContaining(['file', '--set stages.rollouts.samples=0']));
  });
  it('say that YAML needs a space after the colon in `{rank:4}`', () => {
    const r = compileSource(source, file, { overrides: ['stages.trained.lora={rank:4}'] });
    if (r.ok) throw new Error('expected an error');
    expect(r.errors[0]).toMatchObject({ code: 'E_UNKNOWN_FIELD', file: '--set stages.trained.lora={rank:4}' });
    expect(r.errors[0]!.hint).toBe('YAML needs a space after the colon: write `rank: 4`');
    // A real unknown field with a colon-free name still gets the did-you-mean hint.
    const q = compileSource(source, file, { overrides: ['stages.trained.lora={rnak: 4}'] });
    if (q.ok) throw new Error('expected an error');
    expect(q.errors[0]!.hint).toBe('did you mean `rank`?');
  });

  it('are recorded in the Plan as given, in order; a Plan without them has no `overrides` key', () => {
    const given = ['stages.rollouts.samples=2', 'models.policy.maxTokens=64', 'stages.rollouts.samples=3'];
    const r = compileSource(source, file, { overrides: given });
    const none = compileSource(source, file);
    if (!r.ok || !none.ok) throw new Error('expected plans');
    expect(r.plan.overrides).toEqual(given);
    expect('overrides' in none.plan).toBe(false);
    expect(planJson(none.plan)).not.toContain('"overrides"');
    // The last override of a key wins, as the list shows.
    expect(r.plan.stages.find((s) => s.id === 'rollouts')!.config.samples).toBe(3);
    const schema = JSON.parse(readFileSync(path.join(packageRoot, 'schemas', 'plan.schema.json'), 'utf8'));
    const validate = new Ajv2020({ strict: true, strictRequired: false, allErrors: true }).compile(schema);
    expect(validate(JSON.parse(planJson(r.plan))), JSON.stringify(validate.errors)).toBe(true);
  });
  it('never carry a secret into the Plan: a secret field is recorded by its variable name or redacted', () => {
    const env = compileSource(source, file, { overrides: ['stages.rollouts.samples=2', 'models.policy.apiKey=${env:SWIRL_TEST_KEY}'] });
    expect(env.ok).toBe(true);
    if (env.ok) expect(env.plan.overrides).toEqual(['stages.rollouts.samples=2', 'models.policy.apiKey=${env:SWIRL_TEST_KEY}']);
    // A literal in a secret field, and a key-like value in any field (what the key scrubber recognises).
    const cases: Array<[string, string]> = [
      ['models.policy.apiKey', 'hunter2-not-a-real-password'],
      ['models.policy.apiKey', 'sk-abcdefghijklmnopqrstuvwxyz0123456789'],
      ['stages.rollouts.description', 'sk-abcdefghijklmnopqrstuvwxyz0123456789'],
    ];
    for (const [key, secret] of cases) {
      const r = compileSource(source, file, { overrides: [`${key}=${secret}`] });
      // Either the compiler refuses it (E_SECRET_LITERAL and friends) or the Plan holds no trace of the value.
      if (r.ok) expect(planJson(r.plan)).not.toContain(secret);
      else expect(JSON.stringify(r.errors)).not.toContain(secret);
    }
  });
});
