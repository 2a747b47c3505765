// `--set KEY=VALUE` overrides: applied before validation, by stage id.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSource } from '../../compiler/index.js';
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
});
