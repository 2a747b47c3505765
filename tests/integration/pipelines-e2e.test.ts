// The shipped pipelines, end to end on the real embedded model: the REAL
// pipelines/gsm8k.yaml and pipelines/hotpotqa.yaml compiled with `--set`
// overrides (the same mechanism as `swirl run --set`) that shrink them to a
// couple of questions, then run by `swirl run` (its in-process worker) on the
// integration server: dataset → rollout → decompose → filter → train →
// evaluate → report. The full settings are the files themselves.
//
// The tiny model rarely writes a trajectory every step of which a judge calls
// GOOD, so the process filter usually keeps nothing; an empty training input
// fails the train stage with a non-retryable DataError (and so the run;
// tests/unit/train-empty-input.test.ts). Here the trainer therefore reads the
// decomposed steps (`stages.trained.input=steps`); the filter still runs and
// is reported.
//
// GSM8K also measures judge agreement (filter `agreement`): an LLM process
// judge (a greedy gemma3-270m `judge` model added by --set) on the steps the
// reference judge judged, every trajectory status admitted so that there are
// steps to compare.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { JudgeAgreement } from '../../agents/judges/index.js';
import type { StageState } from '../../workflows/types.js';
import { swirl, tempStateDir } from './helpers.js';

/** Overrides both pipelines share (their stage ids are the same). */
const SMALL = [
  'defaults.timeout=5m',
  'defaults.concurrency=2',
  'models.policy.maxTokens=32',
  'models.policy.contextSize=2048',
  'models.policy.seed=3',
  'stages.train-questions.limit=2',
  'stages.rollouts.maxSteps=2',
  'stages.trained.input=steps',
  'stages.trained.maxSteps=1',
  'stages.trained.batchStates=1',
  'stages.trained.samplesPerState=2',
  'stages.trained.lora={rank: 4, alpha: 8}',
  'stages.eval-base.maxSteps=2',
  'stages.eval-swirl.maxSteps=2',
];

const STAGES = ['train-questions', 'rollouts', 'steps', 'filtered', 'trained', 'eval-base', 'eval-swirl', 'report'];

interface RunResult {
  workflowId: string;
  stages: StageState[];
}

describe('shipped pipelines end to end (real model, small --set limits)', () => {
  const state = tempStateDir();
  const env = () => ({ TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state });

  async function runPipeline(file: string, sets: string[]): Promise<{ run: RunResult; byId: Record<string, StageState>; html: string; wall: number }> {
    const t0 = Date.now();
    const r = await swirl(['run', file, '--json', ...sets.flatMap((x) => ['--set', x])], env(), 1_200_000);
    const wall = (Date.now() - t0) / 1000;
    expect(r.code, r.stderr.slice(-4000)).toBe(0);
    const run = JSON.parse(r.stdout) as RunResult;
    const byId = Object.fromEntries(run.stages.map((s) => [s.id, s]));
    for (const id of STAGES) expect(byId[id]?.status, `${id}: ${JSON.stringify(byId[id]?.error ?? byId[id])}`).toBe('completed');
    const reportFile = path.join(state, 'reports', `${run.workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}.html`);
    expect(existsSync(reportFile), reportFile).toBe(true);
    const html = readFileSync(reportFile, 'utf8');
    // The evaluation tables: both policies on the same held-out questions, and their paired comparison.
    expect(html).toContain('id="accuracy-table"');
    expect(html).toContain('id="comparison-table"');
    expect(html).toContain('id="filter-table"');
    for (const id of ['eval-base', 'eval-swirl']) {
      const ev = byId[id]!.stats as { n: number; correct: number; accuracy: number };
      expect(ev.n).toBe(2);
      expect(ev.accuracy).toBe(ev.correct / 2);
      expect(html).toContain(id);
    }
    const tr = byId.trained!.stats as { steps?: number } | undefined;
    expect(tr, JSON.stringify(byId.trained)).toBeDefined();
    console.log(`${file}: ${wall.toFixed(1)} s wall; stages ${run.stages.map((s) => `${s.id}=${s.status}`).join(' ')}`);
    return { run, byId, html, wall };
  }

  it('pipelines/gsm8k.yaml, with judge agreement', async () => {
    const { run, byId, html } = await runPipeline('pipelines/gsm8k.yaml', [
      ...SMALL,
      'stages.rollouts.samples=2',
      'stages.test-questions.limit=2',
      'models.judge={provider: llama-cpp, model: gemma3-270m, temperature: 0, maxTokens: 24, contextSize: 2048}',
      'stages.filtered.keepStatuses=[answered, max_steps, no_action]',
      'stages.filtered.agreement={judge: judge}',
    ]);
    // The eval set is the fixed id subset cut to 2 by the limit override.
    expect(byId['test-questions']!.output!.rows).toBe(2);
    const f = byId.filtered!.stats as { stepsIn: number; stepsJudged: number; good: number; kept: number; trajectoriesIn: number; agreement: JudgeAgreement };
    expect(f.trajectoriesIn).toBe(byId.steps!.output!.rows);
    // Every status is admitted: every step is judged by both judges.
    expect(f.stepsJudged).toBe(f.stepsIn);
    const a = f.agreement;
    expect(a).toMatchObject({ judgeA: 'gsm8k-reference', judgeB: 'llm:judge', steps: f.stepsJudged });
    const c = a.confusion;
    expect(c.goodGood + c.goodBad + c.badGood + c.badBad).toBe(a.steps);
    expect(c.goodGood + c.goodBad).toBe(f.good);
    if (a.steps > 0) expect(a.agreement).toBeCloseTo((c.goodGood + c.badBad) / a.steps, 12);
    else expect(a.kappa).toBeNull();
    expect(html).toContain('id="agreement-table"');
    // `swirl status` and the Markdown page show it too.
    const st = await swirl(['status', run.workflowId], env());
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain(`judge agreement gsm8k-reference vs llm:judge on ${a.steps} steps`);
    const md = path.join(state, 'results.md');
    const rep = await swirl(['report', run.workflowId, '--markdown', md], env());
    expect(rep.code, rep.stderr).toBe(0);
    expect(readFileSync(md, 'utf8')).toContain(`Judge agreement in \`filtered\` on ${a.steps} steps`);
    console.log(`gsm8k judge agreement: ${JSON.stringify(a)}`);
  }, 1_200_000);

  it('pipelines/hotpotqa.yaml', async () => {
    // The LLM judge (process filter, reward model, outcome judge) is the policy model
    // greedy: few and short calls.
    const { byId } = await runPipeline('pipelines/hotpotqa.yaml', [...SMALL, 'stages.rollouts.samples=1', 'stages.dev-questions.limit=2', 'models.judge.maxTokens=24', 'models.judge.contextSize=2048']);
    expect(byId['dev-questions']!.output!.rows).toBe(2);
  }, 1_200_000);
});
