// Decomposition of hand-written trajectories (K=1, K=3, no action, max steps)
// and the filter's keep/drop decisions under every mode, with yield counts.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { decompose, expandStep, stepAction, stepState, type StepGroup } from '../../agents/steps.js';
import type { Trajectory } from '../../agents/types.js';
import { cohensKappa } from '../../agents/judges/index.js';
import { filterProcessor, finishFilter, type FilterConfig } from '../../activities/judge.js';
import { decomposeTrajectories } from '../../activities/decompose.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { MemoryLedger } from '../../store/ledger.js';
import { resetGates } from '../../agents/limits.js';

const usage = { inputTokens: 0, outputTokens: 0, modelCalls: 0 };
const solution = 'Crates: 3*12 = <<3*12=36>>36 jars. Plus loose: 36+5 = <<36+5=41>>41.\n#### 41';
const base = { questionId: 'gsm8k/test/0', dataset: 'gsm8k', gold: '41', question: 'How many jars?', reference: solution, usage, model: 'fake' };
const instr = { role: 'user' as const, content: 'Solve... Question: How many jars?' };

/** The method doc's worked example: 3 actions. */
const k3: Trajectory = {
  ...base,
  id: 'gsm8k/test/0#0',
  sample: 0,
  status: 'answered',
  answer: '41',
  messages: [
    instr,
    { role: 'assistant', content: 'First the crates. <math_exp>3*12</math_exp>' },
    { role: 'user', content: '3*12 -> 36.0' },
    { role: 'assistant', content: 'Now add the loose jars. <math_exp>36+5</math_exp>' },
    { role: 'user', content: '36+5 -> 41.0' },
    { role: 'assistant', content: '<answer>41</answer>' },
  ],
  steps: [
    { index: 0, kind: 'calculator', content: '3*12', observation: '36.0' },
    { index: 1, kind: 'calculator', content: '36+5', observation: '41.0' },
    { index: 2, kind: 'answer', content: '41' },
  ],
};
const k1: Trajectory = { ...base, id: 'gsm8k/test/0#1', sample: 1, status: 'answered', answer: '40', messages: [instr, { role: 'assistant', content: '<answer>40</answer>' }], steps: [{ index: 0, kind: 'answer', content: '40' }] };
const noAction: Trajectory = {
  ...base,
  id: 'gsm8k/test/0#2',
  sample: 2,
  status: 'no_action',
  lastText: 'I think it is many jars',
  messages: [instr, { role: 'assistant', content: '<math_exp>3*12</math_exp>' }, { role: 'user', content: '3*12 -> 36.0' }],
  steps: [{ index: 0, kind: 'calculator', content: '3*12', observation: '36.0' }],
};
const maxSteps: Trajectory = {
  ...base,
  id: 'gsm8k/test/0#3',
  sample: 3,
  status: 'max_steps',
  messages: [instr, { role: 'assistant', content: '<math_exp>3*12</math_exp>' }, { role: 'user', content: '3*12 -> 36.0' }, { role: 'assistant', content: '<math_exp>36*2</math_exp>' }],
  steps: [
    { index: 0, kind: 'calculator', content: '3*12', observation: '36.0' },
    { index: 1, kind: 'calculator', content: '36*2' },
  ],
};
const empty: Trajectory = { ...base, id: 'gsm8k/test/0#4', sample: 4, status: 'no_action', lastText: 'hmm', messages: [instr], steps: [] };

describe('decompose', () => {
  it('K=3: states are prefixes, tool results only inside states, the answer step included', () => {
    const g = decompose(k3);
    expect(g.steps.map((s) => [s.stepIndex, s.stateLength, s.actionKind])).toEqual([
      [0, 1, 'calculator'],
      [1, 3, 'calculator'],
      [2, 5, 'answer'],
    ]);
    expect(stepState(g, 0)).toEqual([instr]);
    expect(stepAction(g, 1)).toBe('Now add the loose jars. <math_exp>36+5</math_exp>');
    expect(stepState(g, 2).at(-1)).toEqual({ role: 'user', content: '36+5 -> 41.0' });
    expect(expandStep(g, 2)).toMatchObject({ stepIndex: 2, action: '<answer>41</answer>', actionKind: 'answer' });
    expect(g.question).toBe('How many jars?');
    expect(g.reference).toBe(solution);
  });
  it('K=1, no action and max steps', () => {
    expect(decompose(k1).steps).toHaveLength(1);
    const na = decompose(noAction);
    expect(na.steps).toHaveLength(1);
    expect(na.status).toBe('no_action');
    const ms = decompose(maxSteps);
    expect(ms.steps.map((s) => s.observation)).toEqual(['36.0', undefined]);
    expect(stepAction(ms, 1)).toBe('<math_exp>36*2</math_exp>');
    expect(decompose(empty).steps).toEqual([]);
  });
  it('the artifact grows linearly in K: the conversation is stored once', async () => {
    const store = new MemoryArtifactStore();
    const turns = (k: number): Trajectory => {
      const messages: Trajectory['messages'] = [instr];
      const steps: Trajectory['steps'] = [];
      for (let i = 0; i < k; i++) {
        messages.push({ role: 'assistant', content: `step ${i} ${'x'.repeat(200)} <math_exp>${i}+1</math_exp>` }, { role: 'user', content: `${i}+1 -> ${i + 1}.0` });
        steps.push({ index: i, kind: 'calculator', content: `${i}+1`, observation: `${i + 1}.0` });
      }
      messages.push({ role: 'assistant', content: '<answer>1</answer>' });
      steps.push({ index: k, kind: 'answer', content: '1' });
      return { ...k3, id: `t${k}`, messages, steps };
    };
    const size = async (k: number) => {
      const t = await store.put('trajectories', [turns(k)]);
      const r = await decomposeTrajectories(store, { trajectories: t });
      return { ratio: r.output.bytes / t.bytes, steps: r.stats.steps };
    };
    const small = await size(4);
    const big = await size(40);
    expect(big.steps).toBe(41);
    // Steps artifact / trajectory artifact stays a small constant as K grows (quadratic growth would be ~10×).
    expect(big.ratio).toBeLessThan(small.ratio * 1.5);
    expect(big.ratio).toBeLessThan(2);
  });
  it('counts steps, kinds and empty trajectories', async () => {
    const store = new MemoryArtifactStore();
    const t = await store.put('trajectories', [k3, k1, noAction, maxSteps, empty]);
    const r = await decomposeTrajectories(store, { trajectories: t });
    expect(r.stats).toEqual({ trajectories: 5, steps: 7, empty: 1, byKind: { calculator: 5, answer: 2 }, stepsHistogram: { '3': 1, '1': 2, '2': 1 } });
    expect(r.output.rows).toBe(4);
  });
});

/** An OpenAI-compatible judge that calls every step GOOD (a lenient second judge for agreement). */
async function startLenientJudge() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const message = { role: 'assistant', content: 'Looks fine.\nGOOD' };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'c', object: 'chat.completion', created: 0, model: 'lenient', choices: [{ index: 0, finish_reason: 'stop', message }], usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { provider: 'openai-compatible' as const, model: 'lenient', baseUrl: `http://127.0.0.1:${port}/v1` };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  resetGates();
});

describe('filter', () => {
  const groups = [k3, k1, noAction, maxSteps].map(decompose);
  async function run(mode: FilterConfig['mode'], extra: Partial<FilterConfig> = {}) {
    const proc = filterProcessor({ modelsDir: '/nonexistent', ledger: new MemoryLedger() });
    const cfg: FilterConfig = { mode, keepStatuses: ['answered'], projectRoot: '/', models: {}, processJudge: { matcher: 'gsm8k-reference' }, outcomeJudge: { matcher: 'numeric' }, ...extra };
    const rows: StepGroup[] = [];
    for (const [i, g] of groups.entries()) {
      const o = await proc(g, { index: i, shardKey: 's', stageId: 'f', config: cfg as unknown as Record<string, unknown>, signal: new AbortController().signal });
      if (o.outcome !== 'succeeded') throw new Error('filter item failed');
      rows.push(o.row as StepGroup);
    }
    const store = new MemoryArtifactStore();
    const judged = await store.put('steps', rows);
    const done = await finishFilter(store, { judged, mode, ...(cfg.agreementJudge !== undefined ? { processJudge: cfg.processJudge, agreementJudge: cfg.agreementJudge } : {}) });
    const kept: string[] = [];
    for await (const g of store.read<StepGroup>(done.output)) kept.push(g.trajectoryId);
    return { kept, stats: done.stats, rows };
  }
  it('none keeps every answered trajectory and judges nothing', async () => {
    const r = await run('none');
    expect(r.kept).toEqual([k3.id, k1.id]);
    expect(r.stats).toMatchObject({ trajectoriesIn: 4, stepsJudged: 0, goodRate: null, kept: 2, dropped: { 'status:no_action': 1, 'status:max_steps': 1 } });
  });
  it('keepStatuses widens what may be kept', async () => {
    const r = await run('none', { keepStatuses: ['answered', 'max_steps', 'no_action'] });
    expect(r.kept).toHaveLength(4);
  });
  it('process keeps a trajectory only if every step is GOOD', async () => {
    const r = await run('process');
    expect(r.kept).toEqual([k3.id]);
    expect(r.stats).toMatchObject({ stepsJudged: 4, good: 3, kept: 1, dropped: { process: 1 } });
    expect(r.stats.goodRate).toBeCloseTo(0.75, 10);
    expect(r.rows[1]!.steps[0]).toMatchObject({ verdict: 'BAD' });
    // Status-dropped trajectories are not judged.
    expect(r.rows[2]!.steps[0]!.verdict).toBeUndefined();
  });
  it('agreement: a second judge on the same steps gives kappa and the 2×2 counts, and drops nothing', async () => {
    const plain = await run('process', { keepStatuses: ['answered', 'max_steps', 'no_action'] });
    // A lenient LLM judge calls every step GOOD, including the wrong answer the reference judge calls BAD.
    const models = { lenient: await startLenientJudge() };
    const r = await run('process', { keepStatuses: ['answered', 'max_steps', 'no_action'], models, agreementJudge: 'lenient' });
    expect(r.kept).toEqual(plain.kept);
    expect(plain.stats.agreement).toBeUndefined();
    const pairs = r.rows.flatMap((g) => g.steps.map((s) => [s.verdict === 'GOOD', s.agreementVerdict === 'GOOD'] as const));
    expect(r.rows.every((g) => g.steps.every((s) => s.verdict !== undefined && s.agreementVerdict !== undefined))).toBe(true);
    const a = r.stats.agreement!;
    expect(a.judgeA).toBe('gsm8k-reference');
    expect(a.judgeB).toBe('llm:lenient');
    expect(a.steps).toBe(r.stats.stepsJudged);
    const c = a.confusion;
    expect(c.goodGood + c.goodBad + c.badGood + c.badBad).toBe(a.steps);
    expect(c.goodGood + c.goodBad).toBe(r.stats.good);
    expect(c.goodGood).toBe(pairs.filter(([x, y]) => x && y).length);
    expect(c.badGood).toBe(pairs.filter(([x, y]) => !x && y).length);
    expect(a.kappa).toBeCloseTo(cohensKappa(pairs.map((p) => p[0]), pairs.map((p) => p[1])), 12);
    // The judges disagree somewhere on these steps (else the test would not tell them apart).
    expect(c.goodBad + c.badGood).toBeGreaterThan(0);
  });
  it('outcome, and process+outcome as the intersection', async () => {
    expect((await run('outcome')).kept).toEqual([k3.id]);
    const both = await run('process+outcome');
    expect(both.kept).toEqual([k3.id]);
    // Process failed first: the outcome judge is not asked.
    expect(both.rows[1]!.outcome).toBeUndefined();
    // Outcome alone judges no steps.
    expect((await run('outcome')).stats.stepsJudged).toBe(0);
  });
  it('a mode without its judge is a configuration error', async () => {
    await expect(run('process', { processJudge: undefined })).rejects.toThrow(/needs a processJudge/);
  });
  it('an answer matcher as process or agreement judge fails, non-retryably, instead of passing every tool step', async () => {
    // Plans compiled before E_MATCHER_PROCESS_JUDGE can still carry one.
    await expect(run('process', { processJudge: { matcher: 'numeric' } })).rejects.toMatchObject({ type: 'ConfigError', nonRetryable: true });
    await expect(run('process', { agreementJudge: { matcher: 'f1' } })).rejects.toMatchObject({ type: 'ConfigError', nonRetryable: true });
    // As the outcome judge it stays what it is.
    expect((await run('outcome', { outcomeJudge: { matcher: 'numeric' } })).kept).toEqual([k3.id]);
  });
  it("the outcome judge accepts the dataset's answer aliases (MuSiQue), which decompose carries from the trajectory", async () => {
    const musique = { ...k1, dataset: 'musique', gold: 'United Kingdom', aliases: ['UK', 'Britain'], answer: 'Britain', steps: [{ index: 0, kind: 'answer' as const, content: 'Britain' }], messages: [instr, { role: 'assistant' as const, content: '<answer>Britain</answer>' }] };
    const g = decompose(musique);
    expect(g.aliases).toEqual(['UK', 'Britain']);
    expect(decompose(k1).aliases).toBeUndefined(); // GSM8K steps artifacts stay as they were
    const proc = filterProcessor({ modelsDir: '/nonexistent', ledger: new MemoryLedger() });
    const cfg: FilterConfig = { mode: 'outcome', keepStatuses: ['answered'], projectRoot: '/', models: {}, outcomeJudge: { matcher: 'exact' } };
    const judge = async (x: StepGroup) => {
      const o = await proc(x, { index: 0, shardKey: 's', stageId: 'f', config: cfg as unknown as Record<string, unknown>, signal: new AbortController().signal });
      if (o.outcome !== 'succeeded') throw new Error('filter item failed');
      return (o.row as StepGroup).kept;
    };
    expect(await judge(g)).toBe(true);
    const { aliases: _dropped, ...without } = g;
    expect(await judge(without)).toBe(false);
  });
});
