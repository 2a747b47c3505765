import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { compileFile, compileSource } from '../../compiler/index.js';
import { ERROR_CODES } from '../../compiler/errors.js';
import { planJson } from '../../compiler/plan.js';
import { packageRoot } from '../../runtime/paths.js';

const pipelines = ['quickstart', 'gsm8k', 'hotpotqa'].map((n) => path.join(packageRoot, 'pipelines', `${n}.yaml`));
const specFile = path.join(packageRoot, 'pipelines', 'fuzz.yaml'); // never written: only its folder matters
const compile = (src: string) => compileSource(src, specFile, { displayName: 'fuzz.yaml' });

function assertWellFormed(r: ReturnType<typeof compile>): void {
  if (r.ok) {
    expect(r.plan.planVersion).toBe(1);
    return;
  }
  expect(r.errors.length).toBeGreaterThan(0);
  for (const e of r.errors) {
    expect(Object.keys(ERROR_CODES)).toContain(e.code);
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.column).toBeGreaterThanOrEqual(1);
    expect(typeof e.message).toBe('string');
  }
}

describe('plans', () => {
  const planSchema = JSON.parse(readFileSync(path.join(packageRoot, 'schemas', 'plan.schema.json'), 'utf8'));
  const validatePlan = new Ajv2020({ strict: true, strictRequired: false, allErrors: true }).compile(planSchema);

  for (const file of pipelines) {
    it(`${path.basename(file)} compiles to a plan that satisfies schemas/plan.schema.json`, () => {
      const r = compileFile(file);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(validatePlan(JSON.parse(planJson(r.plan))), JSON.stringify(validatePlan.errors)).toBe(true);
      // Inputs come before their consumers.
      const seen = new Set<string>();
      for (const s of r.plan.stages) {
        for (const i of s.inputs) expect(seen.has(i)).toBe(true);
        seen.add(s.id);
      }
    });
  }

  it('changing one stage changes its hash and its descendants, nothing else', () => {
    const src = readFileSync(pipelines[1]!, 'utf8');
    const a = compileSource(src, pipelines[1]!);
    const b = compileSource(src.replace('samples: 5', 'samples: 4'), pipelines[1]!);
    if (!a.ok || !b.ok) throw new Error('must compile');
    const changed = a.plan.stages.filter((s) => b.plan.stages.find((t) => t.id === s.id)!.hash !== s.hash).map((s) => s.id);
    expect(changed.sort()).toEqual(['eval-swirl', 'filtered', 'report', 'rollouts', 'steps', 'trained']);
  });

  it('keeps secrets out: only the variable name reaches the plan', () => {
    process.env.SWIRL_TEST_SECRET = 'sk-should-never-appear-1234';
    const src = readFileSync(pipelines[0]!, 'utf8').replace('models:\n', 'models:\n  remote:\n    provider: openai\n    model: gpt-4o-mini\n    apiKey: ${env:SWIRL_TEST_SECRET}\n');
    const r = compileSource(src, pipelines[0]!);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const json = planJson(r.plan);
    expect(json).not.toContain('sk-should-never-appear');
    expect(r.plan.models.remote).toEqual({ provider: 'openai', model: 'gpt-4o-mini', apiKeyEnv: 'SWIRL_TEST_SECRET' });
  });

  it('refuses an oversized spec before parsing it', () => {
    const r = compile('apiVersion: swirl/v1\n# ' + 'x'.repeat(1024 * 1024) + '\n');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.code)).toEqual(['E_FILE_TOO_LARGE']);
  });

  it('refuses an answer matcher where steps are judged, and says what to use instead', () => {
    const src = readFileSync(pipelines[1]!, 'utf8');
    const reward = compileSource(src.replace('rewardModel:\n      matcher: gsm8k-reference', 'rewardModel:\n      matcher: numeric'), pipelines[1]!);
    const filter = compileSource(src.replace('processJudge:\n      matcher: gsm8k-reference', 'processJudge:\n      matcher: f1'), pipelines[1]!);
    if (reward.ok || filter.ok) throw new Error('must not compile');
    const [r] = reward.errors;
    expect(reward.errors.map((e) => `${e.code} ${e.path}`)).toEqual(['E_MATCHER_PROCESS_JUDGE /stages/4/rewardModel/matcher']);
    expect(r!.message).toMatch(/never to answer/);
    expect(r!.hint).toContain('{matcher: gsm8k-reference}');
    expect(filter.errors.map((e) => `${e.code} ${e.path}`)).toEqual(['E_MATCHER_PROCESS_JUDGE /stages/3/processJudge/matcher']);
    expect(filter.errors[0]!.hint).toContain('`mode: outcome` with `outcomeJudge: {matcher: f1}`');
    // Answer matchers stay allowed as outcome judges (the evaluate stages' `judge: {matcher: numeric}`).
    expect(compileSource(src, pipelines[1]!).ok).toBe(true);
  });

  it('reports every error at once, sorted by position', () => {
    const r = compile('apiVersion: swirl/v1\nkind: Pipline\nmetadata: {name: ok}\nstages:\n  - {id: a, type: dataset, format: csv, path: x}\n  - {id: a, type: nope}\n');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.errors.map((e) => e.line);
    expect(lines).toEqual([...lines].sort((x, y) => x - y));
    expect(r.errors.map((e) => e.code)).toEqual(expect.arrayContaining(['E_CONST', 'E_ENUM', 'E_UNKNOWN_STAGE_TYPE']));
  });
});

describe('compiler robustness (property tests)', () => {
  it('random text never throws: a plan or coded errors', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: fc.constantFrom('a', ':', ' ', '\n', '-', '[', ']', '{', '}', '&', '*', '!', '"', "'", '#', '|', '>', '1', 'stages', 'id', 'type') , maxLength: 300 })), (text) => {
        assertWellFormed(compile(text));
      }),
      { numRuns: Number(process.env.SWIRL_FUZZ_RUNS ?? 400) },
    );
  });

  const valids = pipelines.map((f) => parseYaml(readFileSync(f, 'utf8')) as Record<string, unknown>);
  const jsonValue = fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -5, max: 1e6 }), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 2 }));
  const keyLike = fc.constantFrom('id', 'type', 'input', 'path', 'format', 'limit', 'seed', 'model', 'tools', 'samples', 'maxSteps', 'mode', 'timeout', 'retry', 'metadata', 'name', 'stages', 'models', 'tools', 'nonsense', 'maxStep');

  type Mutation = { at: number; op: 'delete' | 'set' | 'rename'; key: string; value: unknown };
  const mutation: fc.Arbitrary<Mutation> = fc.record({ at: fc.nat(), op: fc.constantFrom('delete', 'set', 'rename'), key: keyLike, value: jsonValue });

  function containers(v: unknown, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
    if (Array.isArray(v)) v.forEach((x) => containers(x, out));
    else if (v && typeof v === 'object') {
      out.push(v as Record<string, unknown>);
      Object.values(v).forEach((x) => containers(x, out));
    }
    return out;
  }

  it('mutated valid specs never throw: a plan or coded errors', () => {
    fc.assert(
      fc.property(fc.nat({ max: valids.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, muts) => {
        const spec = structuredClone(valids[which]!);
        for (const m of muts) {
          const all = containers(spec);
          const target = all[m.at % all.length]!;
          const keys = Object.keys(target);
          const k = keys.length ? keys[m.at % keys.length]! : m.key;
          if (m.op === 'delete') delete target[k];
          else if (m.op === 'set') target[m.key] = m.value;
          else if (k in target) {
            target[m.key] = target[k];
            delete target[k];
          }
        }
        assertWellFormed(compile(toYaml(spec)));
      }),
      { numRuns: Number(process.env.SWIRL_FUZZ_RUNS ?? 300) },
    );
  });
});
