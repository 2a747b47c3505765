// A llama-cpp model with `adapter:` (a LoRA GGUF the user has, e.g. the
// adapter of a finished run): resolved like a model path (inside the project,
// existing, GGUF), pinned in the Plan by content (`adapterSha256`) so a changed
// adapter reruns the stages that use the model, applied on the worker as the
// model's LoRA and refused there once it changed. Where a stage would apply a
// second adapter (train, evaluate with a `policy` input) the compiler refuses.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSource } from '../../compiler/index.js';
import { planJson } from '../../compiler/plan.js';
import { hashOf } from '../../compiler/canonical.js';
import type { Plan } from '../../compiler/plan-types.js';
import type { SpecError } from '../../compiler/errors.js';
import { chatModelFor } from '../../agents/models.js';
import { LlamaCppChat } from '../../agents/llama-cpp-chat.js';
import { trainStep, type TrainStepInput } from '../../activities/train.js';
import { packageRoot } from '../../runtime/paths.js';

/** A GGUF v3 header with no tensors and `general.type = adapter`: enough for the compiler's checks. */
function tinyAdapterGguf(fill: string): Buffer {
  const str = (s: string) => {
    const b = Buffer.from(s);
    const n = Buffer.alloc(8);
    n.writeBigUInt64LE(BigInt(b.length));
    return Buffer.concat([n, b]);
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    return b;
  };
  return Buffer.concat([Buffer.from('GGUF'), u32(3), u64(0), u64(2), str('general.type'), u32(8), str('adapter'), str('general.name'), u32(8), str(fill)]);
}

const SPEC = `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: adapters}
models:
  policy: {provider: llama-cpp, model: ../models/tiny.gguf, adapter: ../results/run-1/adapter.gguf, maxTokens: 16}
  base: {provider: llama-cpp, model: ../models/tiny.gguf, maxTokens: 16}
tools:
  calc: {kind: calculator}
stages:
  - id: questions
    type: dataset
    path: ../data/q.jsonl
    format: jsonl
    fields: {id: id, question: question, answer: answer}
  - id: rollouts
    type: rollout
    input: questions
    model: policy
    tools: [calc]
  - id: eval-adapter
    type: evaluate
    input: questions
    model: policy
    tools: [calc]
    judge: {matcher: numeric}
  - id: eval-base
    type: evaluate
    input: questions
    model: base
    tools: [calc]
    judge: {matcher: numeric}
`;

/** A train stage on `model` and an evaluation of what it trained, appended to SPEC. */
const trainAndEvaluate = (trainModel: string, evalModel: string) => `${SPEC}  - id: steps
    type: decompose
    input: rollouts
  - id: kept
    type: filter
    input: steps
    mode: none
  - id: trained
    type: train
    input: kept
    model: ${trainModel}
    rewardModel: {matcher: gsm8k-reference}
  - id: eval-trained
    type: evaluate
    input: [questions, trained]
    model: ${evalModel}
    tools: [calc]
    judge: {matcher: numeric}
`;

let root: string;
let outside: string;
const at = (rel: string) => path.join(root, rel);
const specPath = () => at('pipelines/spec.yaml');
const sha = (rel: string) => createHash('sha256').update(readFileSync(at(rel))).digest('hex');

function compile(overrides: string[] = [], src = SPEC): Plan {
  const r = compileSource(src, specPath(), overrides.length ? { overrides } : {});
  if (!r.ok) throw new Error(JSON.stringify(r.errors, null, 1));
  return r.plan;
}

function errorsOf(overrides: string[] = [], src = SPEC): SpecError[] {
  const r = compileSource(src, specPath(), { overrides, displayName: 'spec.yaml' });
  if (r.ok) throw new Error('expected compile errors');
  return r.errors;
}

const codes = (overrides: string[] = [], src = SPEC) => errorsOf(overrides, src).map((e) => e.code);
const hashes = (p: Plan) => Object.fromEntries(p.stages.map((s) => [s.id, s.hash]));
const changed = (a: Plan, b: Plan) => a.stages.filter((s) => hashes(b)[s.id] !== s.hash).map((s) => s.id);

async function failureOf(fn: () => unknown): Promise<ApplicationFailure> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof ApplicationFailure) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'swirl-adapter-'));
  outside = mkdtempSync(path.join(tmpdir(), 'swirl-adapter-out-'));
  writeFileSync(at('package.json'), '{}\n');
  for (const d of ['pipelines', 'data', 'models', 'results/run-1', 'results/run-2']) mkdirSync(at(d), { recursive: true });
  writeFileSync(at('data/q.jsonl'), JSON.stringify({ id: 'a', question: '1+1?', answer: '2' }) + '\n');
  writeFileSync(at('models/tiny.gguf'), Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(64, 1)]));
  writeFileSync(at('results/run-1/adapter.gguf'), tinyAdapterGguf('run-1'));
  writeFileSync(at('results/run-2/adapter.gguf'), tinyAdapterGguf('run-2'));
  writeFileSync(at('results/run-1/adapter.safetensors'), 'not a GGUF file');
  writeFileSync(path.join(outside, 'adapter.gguf'), tinyAdapterGguf('outside'));
  writeFileSync(specPath(), SPEC);
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('a llama-cpp model with an adapter compiles to a pinned Plan', () => {
  it('the Plan holds the project-relative path and the sha256 of the adapter, and satisfies plan.schema.json', () => {
    const plan = compile();
    expect(plan.models.policy).toMatchObject({ provider: 'llama-cpp', model: 'models/tiny.gguf', adapter: 'results/run-1/adapter.gguf', adapterSha256: sha('results/run-1/adapter.gguf') });
    expect(plan.models.base).not.toHaveProperty('adapter');
    expect(plan.models.base).not.toHaveProperty('adapterSha256');
    const schema = JSON.parse(readFileSync(path.join(packageRoot, 'schemas', 'plan.schema.json'), 'utf8'));
    const validate = new Ajv2020({ strict: true, strictRequired: false, allErrors: true }).compile(schema);
    expect(validate(JSON.parse(planJson(plan))), JSON.stringify(validate.errors)).toBe(true);
    // An adapter without its hash is not a Plan a worker may run.
    const { adapterSha256: _pin, ...unpinned } = plan.models.policy!;
    expect(validate(JSON.parse(planJson({ ...plan, models: { ...plan.models, policy: unpinned } })))).toBe(false);
  });

  it('editing the adapter file reruns exactly the stages whose model applies it', () => {
    const before = compile();
    const old = readFileSync(at('results/run-1/adapter.gguf'));
    try {
      writeFileSync(at('results/run-1/adapter.gguf'), tinyAdapterGguf('run-1, trained further'));
      const after = compile();
      expect(after.models.policy!.adapterSha256).not.toBe(before.models.policy!.adapterSha256);
      expect(changed(before, after).sort()).toEqual(['eval-adapter', 'rollouts']);
      expect(hashOf(after)).not.toBe(hashOf(before));
    } finally {
      writeFileSync(at('results/run-1/adapter.gguf'), old);
    }
    // The same bytes again: the same Plan, so every stage is a cache hit.
    expect(planJson(compile())).toBe(planJson(before));
  });

  it('--set models.policy.adapter takes a path relative to the spec file, like --set models.policy.model', () => {
    const a = compile();
    const b = compile(['models.policy.adapter=../results/run-2/adapter.gguf']);
    expect(b.models.policy).toMatchObject({ adapter: 'results/run-2/adapter.gguf', adapterSha256: sha('results/run-2/adapter.gguf') });
    expect(changed(a, b).sort()).toEqual(['eval-adapter', 'rollouts']);
    // Adding an adapter to a model that had none reruns its stages too.
    const c = compile(['models.base.adapter=../results/run-1/adapter.gguf']);
    expect(changed(a, c)).toEqual(['eval-base']);
  });
});

describe('adapter paths are confined and checked at compile time', () => {
  it('refuses a path out of the project, a missing file, a file that is not GGUF (each at the adapter field, with a hint)', () => {
    const cases: Array<[string, string]> = [
      ['models.policy.adapter=../../../../../../../etc/passwd', 'E_PATH_ESCAPE'],
      ['models.policy.adapter=../results/run-3/adapter.gguf', 'E_PATH_NOT_FOUND'],
      ['models.policy.adapter=../results/run-1/adapter.safetensors', 'E_ADAPTER_INVALID'],
      ['models.policy.adapter=../results/run-1', 'E_PATH_NOT_FOUND'],
    ];
    for (const [o, code] of cases) {
      const errs = errorsOf([o]);
      expect(errs.map((e) => e.code), o).toEqual([code]);
      expect(errs[0]!.path).toBe('/models/policy/adapter');
      expect(errs[0]!.message).toMatch(/adapter/);
      expect(errs[0]!.hint).toBeTruthy();
    }
  });

  it('points at the line and column of `adapter:` in the spec file', () => {
    const src = SPEC.replace('../results/run-1/adapter.gguf', '../results/run-1/adapter.safetensors');
    const [e] = errorsOf([], src);
    expect(e).toMatchObject({ code: 'E_ADAPTER_INVALID', file: 'spec.yaml', line: 5 });
    expect(src.split('\n')[4]!.slice(e!.column - 1)).toMatch(/^\.\.\/results\/run-1\/adapter\.safetensors/);
  });

  it('refuses an adapter that links out of the project', () => {
    symlinkSync(path.join(outside, 'adapter.gguf'), at('results/link.gguf'));
    try {
      expect(codes(['models.policy.adapter=../results/link.gguf'])).toEqual(['E_PATH_ESCAPE']);
    } finally {
      rmSync(at('results/link.gguf'));
    }
  });

  it('refuses `adapter` on a model of another provider, at the field, with a hint', () => {
    const src = SPEC.replace('  base: {provider: llama-cpp, model: ../models/tiny.gguf,', "  base: {provider: openai-compatible, model: qwen, baseUrl: 'http://127.0.0.1:9/v1', adapter: ../results/run-1/adapter.gguf,");
    const errs = errorsOf([], src);
    expect(errs.map((e) => e.code)).toEqual(['E_FIELD_NOT_FOR_KIND']);
    expect(errs[0]).toMatchObject({ path: '/models/base/adapter', line: 6 });
    expect(errs[0]!.column).toBeGreaterThan(1);
    expect(errs[0]!.message).toMatch(/llama-cpp/);
    expect(errs[0]!.hint).toMatch(/vLLM|llama-server/);
  });
});

describe('stages that would apply a second adapter are refused', () => {
  it('a train stage whose model has an adapter: training continues from a base model only', () => {
    const errs = errorsOf([], trainAndEvaluate('policy', 'base'));
    expect(errs.map((e) => e.code)).toEqual(['E_ADAPTER_NOT_ALLOWED']);
    expect(errs[0]!.path).toMatch(/^\/stages\/\d+\/model$/);
    expect(errs[0]!.message).toMatch(/training continues from a base model only/);
    expect(errs[0]!.hint).toBeTruthy();
  });

  it('an evaluate stage with a policy input whose model has an adapter', () => {
    const errs = errorsOf([], trainAndEvaluate('base', 'policy'));
    expect(errs.map((e) => e.code)).toEqual(['E_ADAPTER_NOT_ALLOWED']);
    expect(errs[0]!.message).toMatch(/eval-trained/);
    expect(errs[0]!.hint).toMatch(/policy/);
  });

  it('the same pipeline with base models for training and the trained evaluation compiles', () => {
    const plan = compile([], trainAndEvaluate('base', 'base'));
    expect(plan.models.policy!.adapter).toBe('results/run-1/adapter.gguf');
  });
});

describe('the worker applies the pinned adapter', () => {
  const ctx = () => ({ modelsDir: at('no-models'), projectRoot: root });

  it('chatModelFor gives the llama-cpp model the adapter as its LoRA (and the ledger keys calls by its content)', () => {
    const plan = compile();
    const chat = chatModelFor('policy', plan.models.policy!, ctx()) as LlamaCppChat;
    expect(chat).toBeInstanceOf(LlamaCppChat);
    expect(chat.params.loraPath).toBe(at('results/run-1/adapter.gguf'));
    expect(chat.ledgerIdentity().adapter).toBe(`sha256:${sha('results/run-1/adapter.gguf')}`);
    const base = chatModelFor('base', plan.models.base!, ctx()) as LlamaCppChat;
    expect(base.params.loraPath).toBeUndefined();
  });

  it('an adapter changed since the Plan was made fails the stage for good (E_FILE_CHANGED)', async () => {
    const plan = compile();
    const old = readFileSync(at('results/run-1/adapter.gguf'));
    try {
      writeFileSync(at('results/run-1/adapter.gguf'), tinyAdapterGguf('swapped'));
      const f = await failureOf(() => chatModelFor('policy', plan.models.policy!, ctx()));
      expect(f.type).toBe('E_FILE_CHANGED');
      expect(f.nonRetryable).toBe(true);
      expect(f.message).toMatch(/adapter file: results\/run-1\/adapter\.gguf changed since the pipeline was compiled/);
      rmSync(at('results/run-1/adapter.gguf'));
      expect((await failureOf(() => chatModelFor('policy', plan.models.policy!, ctx()))).type).toBe('E_FILE_CHANGED');
    } finally {
      writeFileSync(at('results/run-1/adapter.gguf'), old);
    }
    expect(() => chatModelFor('policy', plan.models.policy!, ctx())).not.toThrow();
  });

  it('a trained policy applied to a model with its own adapter is a non-retryable ConfigError', async () => {
    const plan = compile();
    const f = await failureOf(() => chatModelFor('policy', plan.models.policy!, { ...ctx(), loraPath: at('results/run-2/adapter.gguf') }));
    expect(f.type).toBe('ConfigError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/one adapter applies per model/);
  });

  it('a train step on a model with its own adapter is a non-retryable ConfigError (before any trainer starts)', async () => {
    const plan = compile();
    const f = await failureOf(() => trainStep(at('no-models'), { modelName: 'policy', model: plan.models.policy!, projectRoot: root } as unknown as TrainStepInput));
    expect(f.type).toBe('ConfigError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/training continues from a base model only/);
  });
});
