// A stage's hash covers everything that can change its output (issue 17 §1):
// the full definitions of the models and tools it uses, the content of every
// file it reads, its config with defaults, its implementation's version and
// its inputs. A change to any of them changes the hash, so the stage cache
// misses; a file changed after compile time fails the stage (E_FILE_CHANGED).
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileFile, compileSource } from '../../compiler/index.js';
import { hashOf, canonicalJson } from '../../compiler/canonical.js';
import { stageHashMaterial } from '../../compiler/plan.js';
import { withStageDefaults } from '../../compiler/stage-defaults.js';
import { stageRefs } from '../../compiler/stage-refs.js';
import type { Plan, PlanStage } from '../../compiler/plan-types.js';
import { lookupStageCache } from '../../activities/stage-cache.js';
import { loadDataset, type DatasetConfig } from '../../activities/dataset.js';
import { rolloutProcessor } from '../../activities/rollout.js';
import { makeProcessJudge } from '../../activities/judge.js';
import { normalizeJudge } from '../../agents/judges/index.js';
import { chatModelFor, resolveModelPath } from '../../agents/models.js';
import { makeTool, type ToolConfig } from '../../tools/registry.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { MemoryLedger } from '../../store/ledger.js';
import { diffPlans } from '../../cli/plan-diff.js';
import { trainSettings } from '../../workflows/train-settings.js';
import { rolloutConfigOf } from '../../workflows/stages/rollout.js';
import type { StageContext } from '../../workflows/stages/context.js';
import { packageRoot } from '../../runtime/paths.js';

const SPEC = `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: hashes}
models:
  policy: {provider: llama-cpp, model: ../models/tiny.gguf, temperature: 1.0, maxTokens: 64, seed: 7, contextSize: 2048}
  judge: {provider: openai-compatible, model: qwen, baseUrl: 'http://127.0.0.1:9/v1', temperature: 0, apiKey: '\${env:SWIRL_HASH_TEST_KEY}'}
tools:
  search: {kind: search, corpus: ../data/corpus.jsonl, topK: 2}
  calc: {kind: calculator}
  mcalc: {kind: mcp, server: 'node srv.js', action: calculator, env: {TOKEN: '\${env:MCP_TOKEN}'}, timeout: 10s}
stages:
  - id: questions
    type: dataset
    path: ../data/q.jsonl
    format: jsonl
    fields: {id: id, question: question, answer: answer}
    ids: ../data/ids.txt
  - id: rollouts
    type: rollout
    input: questions
    model: policy
    tools: [search, calc]
    prompt: prompt.txt
  - id: steps
    type: decompose
    input: rollouts
  - id: filtered
    type: filter
    input: steps
    mode: process
    processJudge: {model: judge, prompt: judge.txt}
  - id: trained
    type: train
    input: filtered
    model: policy
    rewardModel: judge
  - id: eval
    type: evaluate
    input: [questions, trained]
    model: policy
    tools: [mcalc]
    judge: {matcher: numeric}
`;

const ALL = ['questions', 'rollouts', 'steps', 'filtered', 'trained', 'eval'];
const FROM_ROLLOUTS = ['eval', 'filtered', 'rollouts', 'steps', 'trained'];
const FROM_FILTER = ['eval', 'filtered', 'trained'];

let root: string;
let outside: string;
const specPath = () => path.join(root, 'pipelines', 'spec.yaml');
const at = (rel: string) => path.join(root, rel);

function makeProject(): void {
  root = mkdtempSync(path.join(tmpdir(), 'swirl-hash-'));
  outside = mkdtempSync(path.join(tmpdir(), 'swirl-hash-out-'));
  writeFileSync(at('package.json'), '{}\n');
  for (const d of ['pipelines', 'data', 'models']) mkdirSync(at(d));
  writeFileSync(at('data/q.jsonl'), ['a', 'b', 'c'].map((id, i) => JSON.stringify({ id, question: `${i}+1?`, answer: String(i + 1) })).join('\n') + '\n');
  writeFileSync(at('data/ids.txt'), 'a\nb\n');
  writeFileSync(at('data/corpus.jsonl'), JSON.stringify({ id: 'p1', title: 'One', text: 'one is a number' }) + '\n');
  writeFileSync(at('pipelines/prompt.txt'), 'Answer the question.\n');
  writeFileSync(at('pipelines/judge.txt'), 'Is the step GOOD or BAD?\n');
  writeFileSync(at('models/tiny.gguf'), Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(64, 1)]));
  writeFileSync(at('models/other.gguf'), Buffer.concat([Buffer.from('GGUF'), Buffer.alloc(64, 2)]));
  writeFileSync(specPath(), SPEC);
}

function compile(overrides: string[] = [], src = SPEC): Plan {
  const r = compileSource(src, specPath(), overrides.length ? { overrides } : {});
  if (!r.ok) throw new Error(JSON.stringify(r.errors, null, 1));
  return r.plan;
}

const changedStages = (a: Plan, b: Plan) =>
  a.stages
    .filter((s) => b.stages.find((t) => t.id === s.id)!.hash !== s.hash)
    .map((s) => s.id)
    .sort();

/** Records every stage of `before` in a stage cache as the workflow does, then looks `after`'s stages up: the stages that hit. */
async function cacheHits(before: Plan, after: Plan): Promise<string[]> {
  const cache = new MemoryStageCache();
  const store = new MemoryArtifactStore();
  const inputHashes = ['f'.repeat(64)]; // the same upstream artifact: only the stage's own hash can tell the runs apart
  for (const s of before.stages) {
    const { key } = await lookupStageCache(cache, store, { stageType: s.type, stageHash: s.hash, inputHashes });
    await cache.put(key, await store.put(s.outputKind, [{ stage: s.id }]));
  }
  const hits: string[] = [];
  for (const s of after.stages) if ((await lookupStageCache(cache, store, { stageType: s.type, stageHash: s.hash, inputHashes })).hit) hits.push(s.id);
  return hits.sort();
}

/** Asserts the hash changed for exactly `expected` and none of them is a cache hit. */
async function expectRerun(before: Plan, after: Plan, expected: string[]): Promise<void> {
  expect(changedStages(before, after)).toEqual([...expected].sort());
  expect(await cacheHits(before, after)).toEqual(ALL.filter((id) => !expected.includes(id)).sort());
}

async function failureOf(p: Promise<unknown> | (() => unknown)): Promise<ApplicationFailure> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof ApplicationFailure) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

function expectFileChanged(f: ApplicationFailure, file: string): void {
  expect(f.type).toBe('E_FILE_CHANGED');
  expect(f.nonRetryable).toBe(true);
  expect(f.message).toContain(file);
}

beforeAll(() => {
  makeProject();
  process.env.SWIRL_HASH_TEST_KEY = 'not-a-real-key';
});
afterAll(() => {
  delete process.env.SWIRL_HASH_TEST_KEY;
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('the issue 17 reproduction', () => {
  it('another embedded model under the same name reruns rollouts, evaluations and training', async () => {
    const file = path.join(packageRoot, 'pipelines', 'quickstart.yaml');
    const a = compileFile(file);
    const b = compileFile(file, { overrides: ['models.policy.model=qwen2.5-coder-1.5b'] });
    if (!a.ok || !b.ok) throw new Error('must compile');
    const changed = changedStages(a.plan, b.plan);
    expect(changed).toEqual(expect.arrayContaining(['rollouts', 'eval-base', 'trained', 'eval-trained']));
    expect(changed).not.toContain('questions');
    expect(b.plan.models.policy!.modelSha256).not.toBe(a.plan.models.policy!.modelSha256);
  });
});

describe('model definitions are in the hash of every stage that uses them', () => {
  const policyCases: Array<[string, string]> = [
    ['model (another file)', 'models.policy.model=../models/other.gguf'],
    ['model (embedded)', 'models.policy.model=smollm2-135m'],
    ['temperature', 'models.policy.temperature=0.5'],
    ['seed', 'models.policy.seed=8'],
    ['maxTokens', 'models.policy.maxTokens=32'],
    ['topP', 'models.policy.topP=0.9'],
    ['contextSize', 'models.policy.contextSize=4096'],
    ['threads', 'models.policy.threads=2'],
    ['sequences', 'models.policy.sequences=2'],
  ];
  for (const [what, o] of policyCases) {
    it(`policy ${what}`, async () => {
      await expectRerun(compile(), compile([o]), FROM_ROLLOUTS);
    });
  }
  const judgeCases: Array<[string, string[]]> = [
    ['provider', ['models.judge.provider=openai']],
    ['model', ['models.judge.model=qwen-2']],
    ['baseUrl', ['models.judge.baseUrl=http://127.0.0.1:10/v1']],
    ['temperature', ['models.judge.temperature=0.7']],
    ['seed', ['models.judge.seed=3']],
    ['maxTokens', ['models.judge.maxTokens=16']],
    ['apiKey variable (its name, never its value)', ['models.judge.apiKey=${env:OTHER_KEY}']],
    ['requestTimeout', ['models.judge.requestTimeout=5s']],
  ];
  for (const [what, o] of judgeCases) {
    it(`judge ${what}`, async () => {
      await expectRerun(compile(), compile(o), FROM_FILTER);
    });
  }

  it('the value of a secret is not in the hash (and not in the Plan)', () => {
    const a = compile();
    process.env.SWIRL_HASH_TEST_KEY = 'another-value';
    const b = compile();
    process.env.SWIRL_HASH_TEST_KEY = 'not-a-real-key';
    expect(changedStages(a, b)).toEqual([]);
    expect(JSON.stringify(b)).not.toContain('another-value');
    expect(b.models.judge!.apiKeyEnv).toBe('SWIRL_HASH_TEST_KEY');
  });

  it('swirl plan --against says which model changed', () => {
    const d = diffPlans(compile(['models.judge.temperature=0.7']), compile());
    expect(d.find((x) => x.id === 'filtered')).toMatchObject({ verdict: 'rerun', reason: 'model judge changed: temperature' });
    expect(d.find((x) => x.id === 'rollouts')!.verdict).toBe('reuse');
    const f = diffPlans(compile(['models.policy.model=../models/other.gguf']), compile());
    expect(f.find((x) => x.id === 'rollouts')).toMatchObject({ verdict: 'rerun', reason: 'model policy changed: model, modelSha256' });
  });
});

describe('tool definitions are in the hash of every stage that uses them', () => {
  const cases: Array<[string, string, string[]]> = [
    ['search topK', 'tools.search.topK=3', FROM_ROLLOUTS],
    ['search split', 'tools.search.split=dev', FROM_ROLLOUTS],
    ['mcp server', "tools.mcalc.server='node other.js'", ['eval']],
    ['mcp tool name', 'tools.mcalc.tool=calc2', ['eval']],
    ['mcp input', 'tools.mcalc.input=expr', ['eval']],
    ['mcp description', 'tools.mcalc.description=adds', ['eval']],
    ['mcp env variable', 'tools.mcalc.env.TOKEN=${env:MCP_TOKEN_2}', ['eval']],
    ['mcp timeout', 'tools.mcalc.timeout=20s', ['eval']],
  ];
  for (const [what, o, expected] of cases) {
    it(what, async () => {
      await expectRerun(compile(), compile([o]), expected);
    });
  }
  it('swirl plan --against says which tool changed', () => {
    const d = diffPlans(compile(['tools.search.topK=3']), compile());
    expect(d.find((x) => x.id === 'rollouts')).toMatchObject({ verdict: 'rerun', reason: 'tool search changed: topK' });
  });
});

describe('files are in the hash by content', () => {
  const edits: Array<[string, string, string[]]> = [
    ['a prompt file', 'pipelines/prompt.txt', FROM_ROLLOUTS],
    ['a judge prompt file', 'pipelines/judge.txt', FROM_FILTER],
    ['a corpus', 'data/corpus.jsonl', FROM_ROLLOUTS],
    ['an ids list', 'data/ids.txt', ALL],
    ['a data file', 'data/q.jsonl', ALL],
    ['a model file', 'models/tiny.gguf', FROM_ROLLOUTS],
  ];
  for (const [what, rel, expected] of edits) {
    it(`editing ${what} changes the hash`, async () => {
      const before = compile();
      const old = readFileSync(at(rel));
      try {
        writeFileSync(at(rel), Buffer.concat([old, Buffer.from('\n')]));
        await expectRerun(before, compile(), expected);
      } finally {
        writeFileSync(at(rel), old);
      }
      expect(changedStages(before, compile())).toEqual([]);
    });
  }
});

describe('a file changed after compile time fails the stage (E_FILE_CHANGED)', () => {
  /** Runs `fn` with `rel` replaced by `content` (or made a link to `linkTo`), then puts the file back. */
  async function withChanged<T>(rel: string, change: { content?: Buffer | string; linkTo?: string }, fn: () => Promise<T>): Promise<T> {
    const backup = `${at(rel)}.bak`;
    renameSync(at(rel), backup);
    try {
      if (change.linkTo) symlinkSync(change.linkTo, at(rel));
      else writeFileSync(at(rel), change.content!);
      return await fn();
    } finally {
      rmSync(at(rel), { force: true });
      renameSync(backup, at(rel));
    }
  }
  const stage = (p: Plan, id: string) => p.stages.find((s) => s.id === id)!;
  const itemCtx = (stageId: string, config: Record<string, unknown>) => ({ index: 0, shardKey: `run/${stageId}/shard-0`, stageId, config, signal: new AbortController().signal });

  it('the data file and the ids list of a dataset stage', async () => {
    const plan = compile();
    const load = () => loadDataset(new MemoryArtifactStore(), { stageId: 'questions', projectRoot: root, config: stage(plan, 'questions').config as unknown as DatasetConfig });
    await expect(load()).resolves.toMatchObject({ rows: 2 });
    expectFileChanged(await withChanged('data/q.jsonl', { content: readFileSync(at('data/q.jsonl'), 'utf8').replace('0+1?', '0+2?') }, () => failureOf(load())), 'data/q.jsonl');
    expectFileChanged(await withChanged('data/ids.txt', { content: 'a\nc\n' }, () => failureOf(load())), 'data/ids.txt');
  });

  /** A rollout episode as the workflow configures it (with the judge as the model: the prompt is read before any call). */
  const rolloutItem = (plan: Plan) => {
    const s = stage(plan, 'rollouts');
    const ctx = { stage: s, input: { plan, projectRoot: root } } as unknown as StageContext;
    const cfg = { ...rolloutConfigOf(ctx, s.config as never), tools: { calc: plan.tools.calc }, modelName: 'judge', model: plan.models.judge };
    return () => rolloutProcessor(path.join(root, 'no-models'), new MemoryLedger())({ question: { id: 'a', question: '1+1?', answer: '2', dataset: 'jsonl' }, sample: 0 }, itemCtx('rollouts', cfg as unknown as Record<string, unknown>));
  };

  it('the prompt file of a rollout (edited, or swapped for a link out of the project)', async () => {
    const plan = compile();
    expectFileChanged(await withChanged('pipelines/prompt.txt', { content: 'Answer in French.\n' }, () => failureOf(rolloutItem(plan))), 'pipelines/prompt.txt');
    // The same bytes behind a link out of the project: still refused (the file is no longer the project's).
    writeFileSync(path.join(outside, 'prompt.txt'), readFileSync(at('pipelines/prompt.txt')));
    const f = await withChanged('pipelines/prompt.txt', { linkTo: path.join(outside, 'prompt.txt') }, () => failureOf(rolloutItem(plan)));
    expectFileChanged(f, 'pipelines/prompt.txt');
    expect(f.message).toMatch(/outside/);
    // A link to another file inside the project with other content.
    expectFileChanged(await withChanged('pipelines/prompt.txt', { linkTo: at('pipelines/judge.txt') }, () => failureOf(rolloutItem(plan))), 'pipelines/prompt.txt');
  });

  it('the prompt file of an LLM judge', async () => {
    const plan = compile();
    const make = () => makeProcessJudge(normalizeJudge(stage(plan, 'filtered').config.processJudge)!, { projectRoot: root, models: plan.models }, { modelsDir: path.join(root, 'no-models'), ledger: new MemoryLedger() });
    expect(make()).toBeDefined();
    expectFileChanged(await withChanged('pipelines/judge.txt', { content: 'Always say GOOD.\n' }, () => failureOf(async () => make())), 'pipelines/judge.txt');
  });

  it('the corpus of a search tool', async () => {
    const plan = compile();
    const f = await withChanged('data/corpus.jsonl', { content: JSON.stringify({ id: 'p1', title: 'One', text: 'changed' }) + '\n' }, () => failureOf(async () => makeTool('search', plan.tools.search as ToolConfig, root)));
    expectFileChanged(f, 'data/corpus.jsonl');
  });

  it('a model file: swapped, edited in place with its mtime restored, or linked out of the project', async () => {
    const plan = compile();
    const m = plan.models.policy!;
    expect(m.model).toBe('models/tiny.gguf');
    const resolve = () => resolveModelPath(String(m.model), { modelsDir: path.join(root, 'no-models'), projectRoot: root }, m.modelSha256);
    expect(resolve()).toBe(at('models/tiny.gguf'));
    expectFileChanged(await withChanged('models/tiny.gguf', { content: readFileSync(at('models/other.gguf')) }, () => failureOf(async () => chatModelFor('policy', m, { modelsDir: path.join(root, 'no-models'), projectRoot: root }))), 'models/tiny.gguf');
    // Same size, same mtime, new bytes: the remembered hash is not trusted.
    const original = readFileSync(at('models/tiny.gguf'));
    const st = statSync(at('models/tiny.gguf'));
    try {
      const edited = Buffer.from(original);
      edited[10] = 9;
      writeFileSync(at('models/tiny.gguf'), edited);
      utimesSync(at('models/tiny.gguf'), st.atime, st.mtime);
      expectFileChanged(await failureOf(async () => resolve()), 'models/tiny.gguf');
    } finally {
      writeFileSync(at('models/tiny.gguf'), original);
    }
    writeFileSync(path.join(outside, 'tiny.gguf'), original);
    expectFileChanged(await withChanged('models/tiny.gguf', { linkTo: path.join(outside, 'tiny.gguf') }, () => failureOf(async () => resolve())), 'models/tiny.gguf');
    expect(resolve()).toBe(at('models/tiny.gguf'));
  });

  it('an embedded model file that is not the pinned one', async () => {
    const modelsDir = mkdtempSync(path.join(tmpdir(), 'swirl-hash-models-'));
    try {
      writeFileSync(path.join(modelsDir, 'SmolLM2-135M-Instruct.Q4_1.gguf'), 'GGUF not really');
      const plan = compile(['models.policy.model=smollm2-135m']);
      const f = await failureOf(async () => resolveModelPath('smollm2-135m', { modelsDir, projectRoot: root }, plan.models.policy!.modelSha256));
      expectFileChanged(f, 'SmolLM2-135M-Instruct.Q4_1.gguf');
    } finally {
      rmSync(modelsDir, { recursive: true, force: true });
    }
  });
});

describe('model paths are confined and checked at compile time', () => {
  const codes = (overrides: string[]) => {
    const r = compileSource(SPEC, specPath(), { overrides });
    return r.ok ? [] : r.errors.map((e) => e.code);
  };
  it('refuses a path out of the project, a missing file, a file that is not GGUF, an unknown name', () => {
    expect(codes(['models.policy.model=../../../../../../../etc/passwd'])).toEqual(['E_PATH_ESCAPE']);
    expect(codes(['models.policy.model=../models/none.gguf'])).toEqual(['E_MODEL_NOT_FOUND']);
    expect(codes(['models.policy.model=../data/q.jsonl'])).toEqual(['E_MODEL_INVALID']);
    expect(codes(['models.policy.model=gemma3-27m'])).toEqual(['E_MODEL_NOT_FOUND']);
  });
  it('refuses a model file that links out of the project', () => {
    writeFileSync(path.join(outside, 'evil.gguf'), 'GGUF');
    symlinkSync(path.join(outside, 'evil.gguf'), at('models/link.gguf'));
    try {
      expect(codes(['models.policy.model=../models/link.gguf'])).toEqual(['E_PATH_ESCAPE']);
    } finally {
      rmSync(at('models/link.gguf'));
    }
  });
});

describe('defaults and implementation versions', () => {
  it('writing a default out gives the same hash as leaving it out', () => {
    const explicit = SPEC.replace('    prompt: prompt.txt\n', '    prompt: prompt.txt\n    samples: 5\n    maxSteps: 5\n    protocol: tags\n');
    expect(changedStages(compile(), compile([], explicit))).toEqual([]);
    expect(changedStages(compile(), compile([], explicit.replace('samples: 5', 'samples: 6')))).toEqual(FROM_ROLLOUTS);
  });

  it('train precision: absent from the Plan unless set (existing stage hashes stay), passed through when set', () => {
    const trained = (p: Plan) => p.stages.find((x) => x.id === 'trained')!;
    expect(trained(compile()).config).not.toHaveProperty('precision');
    expect(trainSettings(trained(compile()).config)).not.toHaveProperty('precision');
    const bf16 = compile(['stages.trained.precision=bf16']);
    expect(trainSettings(trained(bf16).config).precision).toBe('bf16');
    expect(changedStages(compile(), bf16)).toEqual(['eval', 'trained']);
  });

  it('train sampler: absent from the Plan unless set; `trainer` trains an openai-compatible model with `hf` without runtime LoRA', () => {
    const trained = (p: Plan) => p.stages.find((x) => x.id === 'trained')!;
    expect(trained(compile()).config).not.toHaveProperty('sampler');
    expect(trainSettings(trained(compile()).config)).not.toHaveProperty('sampler');
    // A llama-cpp policy samples with its GGUF adapter: the trainer has no `hf` folder to sample from.
    expect(() => compile(['stages.trained.sampler=trainer'])).toThrow(/E_TRAINER_SAMPLER/);
    mkdirSync(at('models/hf'), { recursive: true });
    for (const [f, text] of [['config.json', '{}'], ['model.safetensors', 'w'], ['tokenizer_config.json', '{}']]) writeFileSync(at(`models/hf/${f}`), text!);
    const withEval = SPEC.replace(/policy: \{provider: llama-cpp[^}]*\}/, "policy: {provider: openai-compatible, model: base, baseUrl: 'http://127.0.0.1:9/v1', hf: ../models/hf, maxTokens: 64}");
    // Nor can the server apply the trained adapter in an evaluation without runtime LoRA.
    expect(() => compile(['stages.trained.sampler=trainer'], withEval)).toThrow(/E_POLICY_NOT_APPLICABLE/);
    const served = withEval.replace('input: [questions, trained]', 'input: questions');
    expect(served).not.toBe(withEval);
    // Without the option such a model cannot be trained (the server could not sample the adapters)...
    expect(() => compile([], served)).toThrow(/E_TRAIN_MODEL/);
    // ... with it the trainer samples from `hf` itself.
    const plan = compile(['stages.trained.sampler=trainer'], served);
    expect(trained(plan).config.sampler).toBe('trainer');
    expect(trainSettings(trained(plan).config).sampler).toBe('trainer');
  });

  it('the compiler fills the defaults the workflow runs with', () => {
    const { rewardModel: _r, ...train } = trainSettings({});
    expect(trainSettings(withStageDefaults('train', {}))).toEqual(train);
    expect(trainSettings(withStageDefaults('train', { lora: { rank: 4 } }))).toEqual(trainSettings({ lora: { rank: 4 } }));
    const ctx = { input: { plan: { models: { p: { provider: 'openai-compatible' } }, tools: {} }, projectRoot: '/p' } } as unknown as StageContext;
    for (const type of ['rollout', 'evaluate'] as const) {
      const filled = withStageDefaults(type, { model: 'p', tools: [] });
      expect(rolloutConfigOf(ctx, filled as never).maxSteps).toBe(rolloutConfigOf(ctx, { model: 'p', tools: [] }).maxSteps);
    }
  });

  it('the stage implementation version is part of the hash', () => {
    const s = compile().stages.find((x) => x.id === 'steps')!;
    const a = hashOf(stageHashMaterial(s, {}, {}, ['x']));
    const b = hashOf({ ...(stageHashMaterial(s, {}, {}, ['x']) as object), impl: 'decompose-999' });
    expect(a).not.toBe(b);
  });
});

describe('property: any single mutation of a resolved model, tool or stage config changes the hash', () => {
  const base = () => compile();

  type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
  /** Paths to every value inside `obj` (objects and arrays included), plus one new key per object. */
  function paths(obj: Json, prefix: (string | number)[] = []): Array<{ path: (string | number)[]; isNewKey?: boolean }> {
    const out: Array<{ path: (string | number)[]; isNewKey?: boolean }> = [];
    if (Array.isArray(obj)) obj.forEach((v, i) => out.push({ path: [...prefix, i] }, ...paths(v, [...prefix, i])));
    else if (obj && typeof obj === 'object') {
      out.push({ path: [...prefix, '__new__'], isNewKey: true });
      for (const [k, v] of Object.entries(obj)) out.push({ path: [...prefix, k] }, ...paths(v, [...prefix, k]));
    }
    return out;
  }
  function setAt(obj: Json, p: (string | number)[], value: Json, newKey: string): void {
    let cur = obj as Record<string | number, Json>;
    for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, Json>;
    const last = p[p.length - 1]!;
    cur[last === '__new__' ? newKey : last] = value;
  }

  const targets = (plan: Plan) => [
    ...Object.keys(plan.models).map((n) => ({ kind: 'model' as const, name: n })),
    ...Object.keys(plan.tools).map((n) => ({ kind: 'tool' as const, name: n })),
    ...plan.stages.map((s) => ({ kind: 'stage' as const, name: s.id })),
  ];

  it('holds for random mutations', () => {
    const plan = base();
    const inputHash = (s: PlanStage) => s.inputs.map((i) => plan.stages.find((x) => x.id === i)!.hash);
    const all = targets(plan);
    fc.assert(
      fc.property(fc.nat(all.length - 1), fc.nat(), fc.jsonValue(), fc.string({ minLength: 1, maxLength: 8 }), (ti, pi, value, newKey) => {
        const t = all[ti]!;
        const copy = structuredClone(plan);
        const obj = (t.kind === 'model' ? copy.models[t.name] : t.kind === 'tool' ? copy.tools[t.name] : copy.stages.find((s) => s.id === t.name)!.config) as unknown as Json;
        const ps = paths(obj);
        const chosen = ps[pi % ps.length]!;
        if (chosen.isNewKey && obj && typeof obj === 'object' && !Array.isArray(obj)) fc.pre(!(newKey in (obj as object)) && newKey !== '__proto__');
        const before = canonicalJson(obj);
        setAt(obj, chosen.path, value as Json, newKey);
        fc.pre(canonicalJson(obj) !== before); // a no-op is not a mutation
        const affected = plan.stages.filter((s) => (t.kind === 'stage' ? s.id === t.name : (t.kind === 'model' ? stageRefs(s.config).models : stageRefs(s.config).tools).includes(t.name)));
        for (const s of affected) {
          const mutated = copy.stages.find((x) => x.id === s.id)!;
          expect(hashOf(stageHashMaterial(mutated, copy.models, copy.tools, inputHash(s))), `${t.kind} ${t.name} ${JSON.stringify(chosen.path)} in stage ${s.id}`).not.toBe(s.hash);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('every model and tool is used by some stage of the fixture (so the property covers each)', () => {
    const plan = base();
    const used = plan.stages.map((s) => stageRefs(s.config));
    expect(new Set(used.flatMap((u) => u.models))).toEqual(new Set(Object.keys(plan.models)));
    expect(new Set(used.flatMap((u) => u.tools))).toEqual(new Set(Object.keys(plan.tools)));
  });
});
