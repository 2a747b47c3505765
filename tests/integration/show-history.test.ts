// What a user reads after a run, on a real server with a scripted
// OpenAI-compatible policy (its answers are fixed, so the numbers are too):
// `swirl run` ends with each stage's results, the report's path and the next
// commands, and no SDK noise; `swirl show` prints each artifact kind readably;
// `swirl history` counts the child workflows (fan-out, shards); the ledger's
// requests sent equal what the endpoint received.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';
import { startOpenAIStub, type OpenAIStub } from './fixtures/openai-stub.js';
import { swirl, tempStateDir } from './helpers.js';

const project = mkdtempSync(path.join(tmpdir(), 'swirl-it-show-'));
const spec = path.join(project, 'show.yaml');

describe('run results, swirl show, swirl history with child workflows', () => {
  let stub: OpenAIStub;
  const env = () => ({ TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: `it-show-${process.pid}` });
  const state = tempStateDir();

  beforeAll(async () => {
    stub = await startOpenAIStub({ faultRate: 0 });
    writeFileSync(path.join(project, 'package.json'), '{"name": "show-project", "private": true}\n');
    writeFileSync(path.join(project, 'questions.jsonl'), readFileSync(path.join(packageRoot, 'data/gsm8k/test.jsonl'), 'utf8').split('\n').slice(0, 4).join('\n') + '\n');
    writeFileSync(
      spec,
      `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: show-history}
defaults: {timeout: 5m, concurrency: 2}
models:
  policy: {provider: openai-compatible, model: stub-model, baseUrl: "${stub.baseUrl}", temperature: 1.0, maxTokens: 64, seed: 3}
tools:
  calculator: {kind: calculator}
stages:
  - {id: questions, type: dataset, path: questions.jsonl, format: gsm8k, limit: 4}
  - {id: rollouts, type: rollout, input: questions, model: policy, tools: [calculator], samples: 2, maxSteps: 3}
  - {id: steps, type: decompose, input: rollouts}
  - {id: filtered, type: filter, input: steps, mode: process, processJudge: {matcher: gsm8k-reference}}
  - {id: eval, type: evaluate, input: questions, model: policy, tools: [calculator], maxSteps: 3, judge: {matcher: numeric}}
  - {id: report, type: report, input: [eval, filtered]}
`,
    );
  });
  afterAll(async () => {
    await stub?.close();
    rmSync(project, { recursive: true, force: true });
  });

  it('run output, show, history and the ledger agree with what happened', async () => {
    const run = await swirl(['run', spec], env(), 300_000);
    expect(run.code, run.stderr + run.stdout).toBe(0);
    expect(run.stderr).not.toMatch(/No workflows registered/);
    const id = /run completed in [\d.]+s: (\S+)/.exec(run.stdout)?.[1];
    expect(id, run.stdout).toBeDefined();
    // Each stage's results under its line (the stub answers every question: sum, then answer).
    expect(run.stdout).toMatch(/answered 8, no action 0, max steps 0; 8 tool calls/);
    expect(run.stdout).toMatch(/8 trajectories → 16 steps/);
    expect(run.stdout).toMatch(/kept \d+ of 8 trajectories \(\d+ of 16 steps\); 16 steps judged/);
    expect(run.stdout).toMatch(/accuracy \d+\.\d% \(\d\/4, 95% CI [\d.]+%–[\d.]+%\), F1 [\d.]+, answered 4\/4, 1\.0 tool calls\/question/);
    expect(run.stdout).toContain(`report: ${path.join(state, 'reports', `${id!.replace(/[^A-Za-z0-9._-]/g, '_')}.html`)}`);
    expect(run.stdout).toContain(`next: swirl show ${id} eval   swirl history ${id}`);

    const show = async (...args: string[]) => swirl(['show', id!, ...args], env());
    const rollouts = await show('rollouts', '-n', '2');
    expect(rollouts.code, rollouts.stderr).toBe(0);
    expect(rollouts.stdout).toMatch(/^rollouts \(rollout\): 8 trajectories, artifact [0-9a-f]{12}; showing 2/);
    expect(rollouts.stdout).toMatch(/trajectory \S+ {2}answered/);
    expect(rollouts.stdout).toMatch(/ {2}1\. calculator: \d+ \+ \d+\n {5}→ [\d.]+\n {2}2\. answer: [\d.]+/);
    expect(rollouts.stdout).toContain('(6 more; -n N shows more');
    const filtered = await show('filtered', '-n', '1');
    expect(filtered.stdout).toMatch(/verdict (GOOD|BAD)/);
    const evalRows = await show('eval', '--json');
    const shown = JSON.parse(evalRows.stdout) as { kind: string; shown: Array<{ questionId: string }> };
    expect(shown.kind).toBe('metrics');
    const qid = shown.shown[0]!.questionId;
    const one = await show('eval', '--id', qid);
    expect(one.stdout).toMatch(new RegExp(`question ${qid} {2}(correct|wrong)`));
    expect(one.stdout).toMatch(/ {2}predicted: \S+\n {2}gold: {6}\S+/);
    const missing = await show('nosuch');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('E_NO_SUCH_STAGE');
    expect(missing.stderr).toContain('its stages: questions, rollouts, eval, steps, filtered, report');

    // The audit counts the fan-outs and their shards with the run's own activities.
    const hist = await swirl(['history', id!, '--json'], env());
    expect(hist.code, hist.stderr).toBe(0);
    const h = JSON.parse(hist.stdout) as { activities: { scheduled: number }; total: { scheduled: number; retried: number }; children: Array<{ workflowId: string; workflowType: string; status: string }>; ledger: { calls: number; attempts: { sent: number; answered: number; failed: number; lost: number } } };
    const types = new Set(h.children.map((c) => c.workflowType));
    expect(types).toEqual(new Set(['fanoutWorkflow', 'shardWorkflow']));
    expect(h.children.every((c) => c.status === 'COMPLETED')).toBe(true);
    expect(h.total.scheduled).toBeGreaterThan(h.activities.scheduled);
    // Every request the endpoint received is in the ledger as sent and answered.
    expect(h.ledger.attempts).toMatchObject({ sent: stub.requests.length, answered: stub.requests.length, failed: 0, lost: 0 });
    const human = await swirl(['history', id!], env());
    expect(human.stdout).toMatch(/child workflows: \d+ \(\d+ fanoutWorkflow, \d+ shardWorkflow\)/);
    expect(human.stdout).toMatch(new RegExp(`${stub.requests.length} requests sent \\(${stub.requests.length} answered\\); paid attempts ${stub.requests.length}`));
    const child = await swirl(['history', id!, '--child', h.children[0]!.workflowId.slice(id!.length + 1)], env());
    expect(child.code, child.stderr).toBe(0);
    expect(child.stdout).toContain(`run ${h.children[0]!.workflowId}`);
  }, 600_000);
});
