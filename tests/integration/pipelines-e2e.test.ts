// The shipped pipelines, end to end: the REAL pipelines/gsm8k.yaml and
// pipelines/hotpotqa.yaml compiled with `--set` overrides (the same mechanism
// as `swirl run --set`) that shrink them to a couple of questions, then run by
// `swirl run` (its in-process worker) on the integration server: dataset →
// rollout → decompose → filter → train → evaluate → report. The full settings
// are the files themselves; the overrides are in fixtures/recorded-ledgers.ts.
//
// The model outputs are pinned: the runs replay a recorded LLM call ledger
// (tests/fixtures/ledgers/pipelines-e2e.jsonl, re-recorded by
// scripts/record-ledgers.ts), so what the embedded model writes, and so
// every stage's yield, is the same on every CPU. The embedded model is still
// the pipelines' model (the ledger keys name it and its file), the trainer
// really trains on the replayed states, and the trained policy's evaluation
// (its adapter's hash differs between CPUs) runs on llama.cpp where not
// recorded. The test checks that every call before the trained policy came
// from the recording: a stale recording fails with the command that renews it.
//
// GSM8K also measures judge agreement (filter `agreement`): an LLM process
// judge (a greedy gemma3-270m `judge` model added by --set) on the steps the
// reference judge judged, every trajectory status admitted so that there are
// steps to compare.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { JudgeAgreement } from '../../agents/judges/index.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import type { StageState } from '../../workflows/types.js';
import { E2E_RUNS, importLedger, PINNED_STAGES, RECORDINGS, type E2eRun } from './fixtures/recorded-ledgers.js';
import { swirl, tempStateDir } from './helpers.js';

const STAGES = ['train-questions', 'rollouts', 'steps', 'filtered', 'trained', 'eval-base', 'eval-swirl', 'report'];

interface RunResult {
  workflowId: string;
  stages: StageState[];
}

describe('shipped pipelines end to end (embedded model replayed from a recorded ledger, small --set limits)', () => {
  const state = tempStateDir();
  const ledgerFile = path.join(state, 'ledger.db');
  const env = () => ({ TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state, SWIRL_LEDGER: ledgerFile });
  beforeAll(async () => {
    expect(await importLedger(ledgerFile, RECORDINGS['pipelines-e2e'])).toBeGreaterThan(0);
  });

  async function runPipeline({ file, sets }: E2eRun): Promise<{ run: RunResult; byId: Record<string, StageState>; html: string; wall: number }> {
    const t0 = Date.now();
    const r = await swirl(['run', file, '--json', ...sets.flatMap((x) => ['--set', x])], env(), 600_000);
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
    // The recorded outputs pinned every stage before the trained policy: none of their calls was made again.
    const ledger = new SqliteLedger(ledgerFile);
    const usage = await ledger.stats({ runId: run.workflowId }).finally(() => ledger.close());
    expect(usage.byStage.rollouts?.reused ?? 0, 'no rollout call came from the recorded ledger').toBeGreaterThan(0);
    for (const id of PINNED_STAGES) {
      const u = usage.byStage[id];
      expect(u?.calls ?? 0, `${id} made ${u?.calls} model calls the recording does not hold: the fixture is stale, re-record it with \`node --import tsx scripts/record-ledgers.ts pipelines-e2e\``).toBe(0);
    }
    // The trainer trained on every decomposed state (the train input is the decompose stage's steps).
    const tr = byId.trained!.stats as { states: number; iterations: number };
    expect(tr, JSON.stringify(byId.trained)).toBeDefined();
    expect(tr.states).toBe((byId.steps!.stats as { steps: number }).steps);
    expect(tr.states).toBeGreaterThan(0);
    expect(tr.iterations).toBe(1);
    console.log(`${file}: ${wall.toFixed(1)} s wall; stages ${run.stages.map((s) => `${s.id}=${s.status}`).join(' ')}`);
    return { run, byId, html, wall };
  }

  it('pipelines/gsm8k.yaml, with judge agreement', async () => {
    const { run, byId, html } = await runPipeline(E2E_RUNS.gsm8k);
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
  }, 600_000);

  it('pipelines/hotpotqa.yaml', async () => {
    const { byId } = await runPipeline(E2E_RUNS.hotpotqa);
    expect(byId['dev-questions']!.output!.rows).toBe(2);
  }, 600_000);
});
