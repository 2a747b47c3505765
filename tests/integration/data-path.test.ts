// The SWiRL data path on a real server with the embedded model:
// rollouts → decompose → process filter (GSM8K reference judge) → greedy
// evaluation → HTML report, with the yield accounting adding up.
// The policy's outputs are pinned: its calls (rollouts, eval-base) replay a
// recorded ledger (tests/fixtures/ledgers/data-path.jsonl), so the steps the
// filters judge are the same on every CPU; the LLM judge's calls of the
// re-filtering runs are made live on llama.cpp (the test counts them, it does
// not read them).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import type { StageState } from '../../workflows/types.js';
import { importLedger, RECORDINGS } from './fixtures/recorded-ledgers.js';
import { swirl, tempStateDir } from './helpers.js';

describe('data path (embedded model, policy replayed from a recorded ledger)', () => {
  const state = tempStateDir();
  const ledgerFile = path.join(state, 'ledger.db');
  const env = () => ({ TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state, SWIRL_LEDGER: ledgerFile });
  beforeAll(async () => {
    expect(await importLedger(ledgerFile, RECORDINGS['data-path'])).toBeGreaterThan(0);
  });

  it('decomposes, filters, evaluates and reports', async () => {
    const r = await swirl(['run', 'tests/fixtures/specs/valid/data-path-small.yaml', '--json'], env(), 900_000);
    expect(r.code, r.stderr).toBe(0);
    const run = JSON.parse(r.stdout) as { workflowId: string; stages: StageState[] };
    const byId = Object.fromEntries(run.stages.map((s) => [s.id, s]));
    expect(Object.values(byId).every((s) => s.status === 'completed'), JSON.stringify(run.stages.map((s) => [s.id, s.status, s.error]))).toBe(true);

    // Every policy call came from the recording: a stale one fails here, with the command that renews it.
    const ledger = new SqliteLedger(ledgerFile);
    const usage = await ledger.stats({ runId: run.workflowId }).finally(() => ledger.close());
    for (const id of RECORDINGS['data-path'].stages!) {
      expect(usage.byStage[id]?.reused ?? 0, `${id}: no call came from the recorded ledger`).toBeGreaterThan(0);
      expect(usage.byStage[id]?.calls ?? 0, `${id} made model calls the recording does not hold: re-record it with \`node --import tsx scripts/record-ledgers.ts data-path\``).toBe(0);
    }

    const roll = byId.rollouts!.stats as Record<string, number>;
    const dec = byId.steps!.stats as { trajectories: number; steps: number; empty: number };
    expect(dec.trajectories).toBe(4);
    expect(byId.steps!.output!.rows).toBe(dec.trajectories - dec.empty);
    // Every tool call and every answer is a step.
    expect(dec.steps).toBe(roll.toolCalls! + roll.answered!);

    const f = byId.kept!.stats as { trajectoriesIn: number; stepsIn: number; stepsJudged: number; kept: number; dropped: Record<string, number>; goodRate: number | null };
    expect(f.trajectoriesIn).toBe(byId.steps!.output!.rows);
    expect(f.stepsIn).toBe(dec.steps);
    // keepStatuses admits every status, so every step is judged; kept + dropped = in.
    expect(f.stepsJudged).toBe(dec.steps);
    expect(f.kept + Object.values(f.dropped).reduce((a, b) => a + b, 0)).toBe(f.trajectoriesIn);
    expect(byId.kept!.output!.rows).toBe(f.kept);

    const ev = byId['eval-base']!.stats as { n: number; correct: number; accuracy: number; ci95: [number, number]; outcomes: boolean[] };
    expect(ev.n).toBe(2);
    expect(ev.accuracy).toBe(ev.correct / 2);
    expect(ev.ci95[0]).toBeLessThanOrEqual(ev.accuracy);
    expect(ev.ci95[1]).toBeGreaterThanOrEqual(ev.accuracy);
    expect(ev.outcomes.filter(Boolean).length).toBe(ev.correct);

    const reportFile = path.join(state, 'reports', `${run.workflowId.replace(/[^A-Za-z0-9._-]/g, '_')}.html`);
    expect(existsSync(reportFile)).toBe(true);
    const html = readFileSync(reportFile, 'utf8');
    expect(html).toContain('Data path (small)');
    expect(html).toContain('eval-base');
  }, 900_000);

  it('re-filtering the same rollouts with another mode pays only for new judgments', async () => {
    type Totals = { calls: number; reused: number };
    const run = async (...sets: string[]) => {
      const r = await swirl(['run', 'tests/fixtures/specs/valid/data-path-small.yaml', '--json', ...sets.flatMap((x) => ['--set', x])], env(), 900_000);
      expect(r.code, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout) as { workflowId: string; stages: StageState[] };
      const h = await swirl(['history', res.workflowId, '--json'], env());
      expect(h.code, h.stderr).toBe(0);
      const ledger = (JSON.parse(h.stdout) as { ledger?: { byStage: Record<string, Totals> } }).ledger;
      const kept = res.stages.find((s) => s.id === 'kept')!;
      return { kept, rollouts: res.stages.find((s) => s.id === 'rollouts')!, byStage: ledger?.byStage ?? {} };
    };
    const judgeSet = ['stages.kept.processJudge=judge', 'stages.kept.outcomeJudge=judge'];
    const outcome = await run('stages.kept.mode=outcome', ...judgeSet);
    const process = await run('stages.kept.mode=process', ...judgeSet);
    const both = await run('stages.kept.mode=process+outcome', ...judgeSet);
    for (const r of [process, both]) {
      // The rollouts come from the stage cache: no rollout call is made or even looked up.
      expect(r.rollouts.cached).toBe(true);
      expect(r.byStage.rollouts?.calls ?? 0).toBe(0);
    }
    const stepsJudged = (process.kept.stats as { stepsJudged: number }).stepsJudged;
    expect(stepsJudged).toBeGreaterThan(0);
    // The process run asked the LLM judge about every step (or reused identical prompts).
    expect((process.byStage.kept?.calls ?? 0) + (process.byStage.kept?.reused ?? 0)).toBe(stepsJudged);
    expect(process.byStage.kept?.calls ?? 0).toBeGreaterThan(0);
    // process+outcome after process and outcome: every verdict is already in the ledger.
    const b = both.kept.stats as { stepsJudged: number; outcomeJudged: number };
    expect(both.byStage.kept?.calls ?? 0).toBe(0);
    expect(both.byStage.kept?.reused ?? 0).toBeGreaterThanOrEqual(b.stepsJudged);
  }, 1_200_000);
});
