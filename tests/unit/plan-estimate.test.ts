// `swirl plan`'s cost estimate (cli/estimate.ts): call counts exactly as the
// spec implies them, on the shipped pipelines; bounds said honestly (≤ after a
// rollout); the embedded-model warning; the printed table's wording with
// fixture speeds (so no number depends on this machine); the readers of the
// dataset sizes, the bench results and the ledger (cli/estimate-sources.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { compileFile, compileSource } from '../../compiler/index.js';
import { planJson } from '../../compiler/plan.js';
import type { Plan } from '../../compiler/plan-types.js';
import { estimatePlan, formatEstimate, type Count, type EstimateInputs, type ModelSpeed } from '../../cli/estimate.js';
import { benchSpeeds, datasetRows, estimateInputs, speedFromBench, speedFromLedger } from '../../cli/estimate-sources.js';
import { packageRoot } from '../../runtime/paths.js';

const pipeline = (name: string): { plan: Plan; projectRoot: string } => {
  const r = compileFile(path.join(packageRoot, 'pipelines', name));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return { plan: r.plan, projectRoot: r.projectRoot };
};

/** Speeds that do not come from this machine: 5 s and 30 tokens per call, 4 turns per episode. */
const FIXTURE: ModelSpeed = { secondsPerCall: 5, outputTokensPerCall: 30, turnsPerEpisode: 4, cores: 2, source: 'fixture' };
const fixtureSpeeds = { 'gemma3-270m': FIXTURE, 'qwen2.5-coder-1.5b': FIXTURE };

/** Inputs with the real dataset sizes (from the shipped data) and fixture speeds. */
function inputs(plan: Plan, projectRoot: string, speeds: Record<string, ModelSpeed> = fixtureSpeeds): EstimateInputs {
  return { ...estimateInputs(plan, projectRoot, { packageRoot: path.join(os.tmpdir(), 'no-such-package') }), speeds };
}

function estimate(name: string, speeds?: Record<string, ModelSpeed>) {
  const { plan, projectRoot } = pipeline(name);
  const inp = inputs(plan, projectRoot, speeds);
  const est = estimatePlan(plan, inp);
  return { plan, inp, est, stage: (id: string) => est.stages.find((s) => s.id === id)! };
}

const exactly = (n: number): Count => ({ n, expected: n, bound: 'exact' });
const upper = (n: number | null) => expect.objectContaining({ n, bound: 'upper' });

/** Rows of a shipped JSONL file that pass `keep`, counted here independently of the estimator. */
function rowsOf(file: string, keep: (row: Record<string, unknown>) => boolean): number {
  return readFileSync(path.join(packageRoot, file), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>).filter(keep).length;
}

describe('estimate of the shipped pipelines', () => {
  it('quickstart: 6 questions × 2 samples = 12 episodes, ≤ 12 × (3+1) calls; matchers cost no LLM calls', () => {
    const { est, stage } = estimate('quickstart.yaml');
    expect(stage('questions').rows!.count).toEqual(exactly(6));
    expect(stage('test-questions').rows!.count).toEqual(exactly(4));
    expect(stage('rollouts').rows).toEqual({ what: 'episodes', count: exactly(12) });
    expect(stage('rollouts').modelCalls).toEqual({ n: 48, expected: 48, bound: 'upper' });
    expect(stage('eval-base').modelCalls).toEqual(upper(16));
    expect(stage('eval-trained').modelCalls).toEqual(upper(16));
    // Steps: at most one per model call of the rollout.
    expect(stage('steps').rows!.count).toEqual(upper(48));
    // train: maxSteps 2 × batchStates 4 = 8 states at most, 4 samples each; its reward is a matcher.
    expect(stage('trained').rows!.count).toEqual(upper(8));
    expect(stage('trained').modelCalls).toEqual(upper(32));
    for (const s of est.stages) expect(s.judgeCalls.n, s.id).toBe(0);
    expect(est.total.modelCalls).toEqual(upper(48 + 16 + 16 + 32));
    expect(est.warnings).toEqual([]);
  });

  it('quickstart: no warning with the measured speeds shipped in docs/models-results either', () => {
    const { plan, projectRoot } = pipeline('quickstart.yaml');
    const est = estimatePlan(plan, estimateInputs(plan, projectRoot, { packageRoot }));
    expect(est.total.embeddedSeconds).toBeGreaterThan(0);
    expect(est.warnings).toEqual([]);
    expect(est.speeds[0]).toContain('docs/models-results/gemma3-270m.json');
  });

  it('gsm8k: 7,473 train questions × 5 samples is many hours on the embedded model, and says so', () => {
    const { est, stage, inp } = estimate('gsm8k.yaml');
    expect(inp.questions['train-questions']).toEqual(exactly(7473));
    expect(inp.questions['test-questions']).toEqual(exactly(300)); // the ids file, comment lines left out
    expect(stage('rollouts').rows!.count).toEqual(exactly(7473 * 5));
    expect(stage('rollouts').modelCalls).toEqual(upper(7473 * 5 * 11));
    expect(stage('eval-base').modelCalls).toEqual(upper(300 * 11));
    // train on filtered steps: at most every step, 4 samples per state, no LLM reward.
    expect(stage('trained').modelCalls).toEqual(upper(7473 * 5 * 11 * 4));
    expect(stage('trained').judgeCalls.n).toBe(0);
    expect(est.total.embeddedSeconds!).toBeGreaterThan(10 * 3600);
    expect(est.warnings).toHaveLength(1);
    expect(est.warnings[0]).toMatch(/^about [\d.]+ (h|days) on the embedded model \(speeds measured on 2 cores\) — lower samples\/limit or use --set stages\.train-questions\.limit=\d+/);
    expect(est.notes).toContain('a train stage after a filter is planned as if the filter kept every step (an upper bound)');
  });

  it('hotpotqa: an LLM process judge per step, an LLM outcome judge per question, LLM rewards per sample', () => {
    const { stage, inp } = estimate('hotpotqa.yaml');
    const train = rowsOf('data/hotpotqa/questions.jsonl', (r) => r.split === 'train' && ['medium', 'hard'].includes(String(r.level)));
    expect(train).toBeGreaterThan(0);
    expect(inp.questions['train-questions']).toEqual(exactly(train));
    expect(inp.questions['dev-questions']).toEqual(exactly(300));
    const steps = train * 5 * 6;
    expect(stage('rollouts').modelCalls).toEqual(upper(steps));
    expect(stage('filtered').judgeCalls).toEqual(upper(steps));
    expect(stage('filtered').modelCalls.n).toBe(0);
    // The outcome judge once per question, the policy at most maxSteps+1 times.
    expect(stage('eval-base').judgeCalls).toEqual(exactly(300));
    expect(stage('eval-base').modelCalls).toEqual(upper(300 * 6));
    expect(stage('trained').modelCalls).toEqual(upper(steps * 4));
    expect(stage('trained').judgeCalls).toEqual(upper(steps * 4));
  });

  it('musique: process and outcome judges in the filter (≤ steps + trajectories); f1 evaluation costs no judge call', () => {
    const { stage, inp } = estimate('musique.yaml');
    const train = rowsOf('data/musique/questions.jsonl', (r) => r.split === 'train');
    expect(inp.questions['train-questions']).toEqual(exactly(train));
    expect(inp.questions['dev-questions']).toEqual(exactly(100));
    const episodes = train * 4;
    expect(stage('filtered').judgeCalls).toEqual(upper(episodes * 6 + episodes));
    expect(stage('eval-base').judgeCalls.n).toBe(0);
    expect(stage('eval-base').modelCalls).toEqual(upper(100 * 6));
  });

  it('gsm8k-learn: two RL arms sample, SFT makes no model call', () => {
    const { stage, est } = estimate('gsm8k-learn.yaml');
    expect(stage('rollouts').rows!.count).toEqual(exactly(600));
    // Every arm: at most 16 updates of 16 states (maxSteps × batchStates), G = 4 samples per RL state.
    const states = 16 * 16;
    expect(stage('swirl').modelCalls).toEqual(upper(states * 4));
    expect(stage('swirl-all').modelCalls).toEqual(upper(states * 4));
    expect(stage('sft').modelCalls.n).toBe(0);
    expect(stage('sft').rows!.count).toEqual(upper(states));
    for (const id of ['eval-base', 'eval-swirl', 'eval-swirl-all', 'eval-sft']) expect(stage(id).modelCalls).toEqual(upper(300 * 11));
    expect(est.warnings).toHaveLength(1);
  });
});

describe('time and tokens', () => {
  it('plan with the expected turns (measured turns per episode, at most maxSteps+1) and the per-call speed', () => {
    const slow = { 'gemma3-270m': { ...FIXTURE, turnsPerEpisode: 2 } };
    const { stage } = estimate('quickstart.yaml', slow);
    const r = stage('rollouts');
    expect(r.modelCalls).toEqual({ n: 48, expected: 24, bound: 'upper' });
    expect(r.seconds).toBe(24 * 5);
    // 600 assumed prompt tokens + min(maxTokens 64, 30 measured) per call.
    expect(r.tokens.expected).toBe(24 * (600 + 30));
  });

  it('a maxTokens below the measured output shortens each call by the tokens not generated', () => {
    const speeds = { 'gemma3-270m': { ...FIXTURE, outputTokensPerCall: 100, generationTokensPerSecond: 20 } };
    const { stage } = estimate('quickstart.yaml', speeds);
    // maxTokens 64: 36 tokens fewer at 20 tok/s = 1.8 s less than 5 s.
    expect(stage('rollouts').seconds).toBeCloseTo(48 * 3.2);
  });

  it('a model nobody measured gets a labelled rough default', () => {
    const { est } = estimate('quickstart.yaml', {});
    expect(est.stages.find((s) => s.id === 'rollouts')!.seconds).toBe(48 * 10);
    expect(est.speeds[0]).toMatch(/rough default 10 s per call \(no measurement for gemma3-270m\)/);
  });

  it('hosted models: calls and tokens, time at the concurrency with a default latency, cost from the price', () => {
    const spec = `
apiVersion: swirl/v1
kind: Pipeline
metadata: {name: hosted}
defaults: {concurrency: 8}
models:
  claude:
    provider: anthropic
    model: claude-haiku-4-5
    apiKey: \${env:ANTHROPIC_API_KEY}
    maxTokens: 100
    concurrency: 4
    price: {inputPerMTok: 1, outputPerMTok: 5}
tools:
  calculator: {kind: calculator}
stages:
  - {id: q, type: dataset, path: ../data/gsm8k/test.jsonl, format: gsm8k, limit: 10}
  - {id: r, type: rollout, input: q, model: claude, tools: [calculator], samples: 2, maxSteps: 4}
`;
    const file = path.join(packageRoot, 'pipelines', 'hosted.yaml');
    const c = compileSource(spec, file);
    if (!c.ok) throw new Error(JSON.stringify(c.errors));
    const inp = inputs(c.plan, packageRoot, {});
    const est = estimatePlan(c.plan, inp);
    const r = est.stages.find((s) => s.id === 'r')!;
    expect(r.modelCalls).toEqual(upper(100));
    // 100 calls × 3 s, 4 at a time (the model's concurrency is below the stage's).
    expect(r.seconds).toBe(75);
    expect(r.costUsd).toBeCloseTo((100 * (600 * 1 + 100 * 5)) / 1e6);
    expect(est.total.embeddedSeconds).toBe(0);
    expect(est.warnings).toEqual([]);
    expect(formatEstimate(c.plan, est, inp)).toContain('cost: ≈$0.11 (models with a price)');
  });
});

describe('the printed estimate', () => {
  it('quickstart with fixture speeds', () => {
    const { plan, est, inp } = estimate('quickstart.yaml');
    expect(formatEstimate(plan, est, inp)).toEqual([
      '',
      'estimate (≤ at most, ≈ about; time and tokens planned with the expected calls)',
      'STAGE           ROWS         MODEL CALLS  JUDGE CALLS  TOKENS  EST. TIME  SOURCE',
      'questions       6 questions  0            0            0       -          -',
      'test-questions  4 questions  0            0            0       -          -',
      'rollouts        12 episodes  ≤48          0            ≈30k    ≈4 min     measured',
      'eval-base       4 episodes   ≤16          0            ≈10k    ≈80 s      measured',
      'steps           ≤48 steps    0            0            0       -          -',
      'filtered        ≤48 steps    0            0            0       -          -',
      'trained         ≤8 states    ≤32          0            ≈20k    ≈3 min     measured',
      'eval-trained    4 episodes   ≤16          0            ≈10k    ≈80 s      measured',
      'report          -            0            0            0       -          -',
      'total                        ≤112         0            ≈71k    ≈9 min',
      'speed: policy (llama-cpp gemma3-270m): 5 s per call, 30 tokens per call, 4 turns per episode, 600 prompt tokens per call assumed — fixture',
      'note: training compute (forward/backward passes) is not estimated',
    ]);
  });

  it('gsm8k ends with the warning line', () => {
    const { plan, est, inp } = estimate('gsm8k.yaml');
    expect(formatEstimate(plan, est, inp).at(-1)).toMatch(/^warning: about .* on the embedded model/);
  });
});

describe('estimate sources', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swirl-estimate-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('dataset rows: offset and limit on the counted pool; ≤ limit when the file cannot be counted', () => {
    writeFileSync(path.join(dir, 'd.jsonl'), ['{"question":"a","answer":"1"}', '', '{"question":"b","answer":"2"}', '{"question":"c","answer":"3"}'].join('\n'));
    const cfg = { path: 'd.jsonl', format: 'jsonl' as const };
    expect(datasetRows(dir, cfg)).toEqual(exactly(3));
    expect(datasetRows(dir, { ...cfg, offset: 1, limit: 5 })).toEqual(exactly(2));
    expect(datasetRows(dir, { ...cfg, limit: 2 })).toEqual(exactly(2));
    expect(datasetRows(dir, { ...cfg, path: 'missing.jsonl', limit: 7 })).toEqual({ n: 7, expected: 7, bound: 'upper' });
    expect(datasetRows(dir, { ...cfg, path: 'missing.jsonl' }).n).toBeNull();
  });

  it('bench results: seconds and tokens per call over both sections, turns per episode', () => {
    const j = JSON.parse(readFileSync(path.join(packageRoot, 'docs', 'models-results', 'gemma3-270m.json'), 'utf8'));
    const s = speedFromBench(j, 'g.json')!;
    const turns = j.gsm8k.turns + j.hotpotqa.turns;
    expect(s.secondsPerCall).toBeCloseTo((j.gsm8k.n * j.gsm8k.secondsPerEpisode + j.hotpotqa.n * j.hotpotqa.secondsPerEpisode) / turns);
    expect(s.turnsPerEpisode).toBeCloseTo(turns / (j.gsm8k.n + j.hotpotqa.n));
    expect(s.cores).toBe(2);
    expect(s.source).toMatch(/^measured: g\.json/);
    expect(Object.keys(benchSpeeds(packageRoot))).toContain('gemma3-270m');
  });

  it('ledger: the median latency of enough calls replaces the bench seconds, keeping its turns', () => {
    const rows = Array.from({ length: 21 }, (_, i) => ({ latencyMs: (i + 1) * 100, inputTokens: 500, outputTokens: 40 }));
    const s = speedFromLedger(rows, FIXTURE)!;
    expect(s.secondsPerCall).toBe(1.1);
    expect(s.inputTokensPerCall).toBe(500);
    expect(s.turnsPerEpisode).toBe(4);
    expect(s.source).toMatch(/^ledger: median latency of the last 21 calls/);
    expect(speedFromLedger(rows.slice(0, 5), FIXTURE)).toBeUndefined();
  });

  it('ledger: read-only from the calls table, llama-cpp calls found under NAME@FILE:SIZE; no ledger, no change', () => {
    const file = path.join(dir, 'ledger.db');
    const db = new Database(file);
    db.exec('CREATE TABLE calls (key TEXT PRIMARY KEY, model TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, latency_ms REAL NOT NULL, completed_at TEXT NOT NULL)');
    const put = db.prepare('INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?)');
    for (let i = 0; i < 25; i++) put.run(`k${i}`, 'gemma3-270m@gemma-3-270m-q4_k_m.gguf:253000000', 400, 20, 2000, new Date(i * 1000).toISOString());
    put.run('other', 'gemma3-270m-x@f:1', 1, 1, 1, new Date().toISOString());
    db.close();
    const { plan, projectRoot } = pipeline('quickstart.yaml');
    const withLedger = estimateInputs(plan, projectRoot, { packageRoot, ledger: file }).speeds['gemma3-270m']!;
    expect(withLedger.secondsPerCall).toBe(2);
    expect(withLedger.source).toMatch(/^ledger: median latency of the last 25 calls/);
    expect(withLedger.turnsPerEpisode).toBe(benchSpeeds(packageRoot)['gemma3-270m']!.turnsPerEpisode);
    expect(estimateInputs(plan, projectRoot, { packageRoot, ledger: path.join(dir, 'none.db') }).speeds['gemma3-270m']!.source).toMatch(/^measured/);
  });
});

describe('swirl plan', () => {
  const bin = path.join(packageRoot, 'bin', 'swirl.js');
  const state = mkdtempSync(path.join(os.tmpdir(), 'swirl-plan-state-'));
  afterAll(() => rmSync(state, { recursive: true, force: true }));
  const swirl = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: packageRoot, env: { ...process.env, TEMPORAL_ADDRESS: '', SWIRL_STATE_DIR: state, NO_COLOR: '1' } });
  const spec = path.join(packageRoot, 'pipelines', 'quickstart.yaml');

  it('prints the estimate after the stages; --json stays the Plan; --json --estimate adds it', () => {
    const text = swirl(['plan', spec]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/\nestimate .*\nSTAGE +ROWS +MODEL CALLS +JUDGE CALLS +TOKENS +EST\. TIME +SOURCE\n/);
    expect(text.stdout).toMatch(/\nrollouts +12 episodes +≤48 /);
    expect(swirl(['plan', spec, '--no-estimate']).stdout).not.toContain('estimate');
    const c = compileFile(spec);
    if (!c.ok) throw new Error('quickstart does not compile');
    expect(swirl(['plan', spec, '--json']).stdout).toBe(planJson(c.plan));
    const both = JSON.parse(swirl(['plan', spec, '--json', '--estimate']).stdout) as { plan: Plan; estimate: { stages: Array<{ id: string; modelCalls: Count }> } };
    expect(both.plan.specHash).toBe(c.plan.specHash);
    expect(both.estimate.stages.find((s) => s.id === 'rollouts')!.modelCalls).toEqual(expect.objectContaining({ n: 48, bound: 'upper' }));
  });
});
