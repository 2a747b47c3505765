// MCP tools in a real run: pipelines/mcp-tools.yaml's rollouts call the
// calculator through an MCP stdio server (`swirl mcp serve`, started by the
// worker) on a real Temporal server. The policy is a scripted
// OpenAI-compatible stub (`--set models.policy=…`), not the embedded model:
// this test is about MCP, and a real model's choice to call the calculator
// differs between CPUs. The script makes two calculator calls per episode,
// then answers, so the number of MCP calls is known exactly. Every tool
// step's observation is what the built-in calculator says for the same text,
// the same pipeline with the built-in tool (its own ledger, so its model calls
// are really made again) gives the same trajectories, and the server process
// ends with the worker.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Trajectory } from '../../agents/types.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import { calculate } from '../../tools/calculator.js';
import type { StageState } from '../../workflows/types.js';
import { startOpenAIStub, type ChatBody, type OpenAIStub } from './fixtures/openai-stub.js';
import { swirl, tempStateDir } from './helpers.js';

const spec = 'pipelines/mcp-tools.yaml';
const serverProcesses = () => (spawnSync('pgrep', ['-f', 'mcp serve --spec quickstart.yaml --tools calculator'], { encoding: 'utf8' }).stdout ?? '').trim().split('\n').filter(Boolean);

/** The scripted policy: multiply the question's first two numbers, halve the product, answer with the result. */
function calculatorScript(body: ChatBody): string {
  const turn = body.messages.filter((m) => m.role === 'assistant').length;
  const last = String(body.messages.at(-1)?.content ?? '');
  if (turn === 0) {
    // The one-shot prompt holds an example question first: take the numbers of the real one, the last.
    const [a = '2', b = '3'] = last.slice(last.lastIndexOf('Question: ')).match(/\d+(\.\d+)?/g) ?? [];
    // Providers drop the stop sequence: no closing tag.
    return `First the product. <math_exp>${a} * ${b}`;
  }
  const result = / -> (.*)$/s.exec(last)?.[1]?.trim() ?? 'none';
  return turn === 1 ? `Now halve it. <math_exp>${result} / 2` : `<answer>${result}</answer>`;
}

const QUESTIONS = 3;
const SAMPLES = 2;
const CALLS_PER_EPISODE = 2;

describe('kind: mcp tools in a rollout', () => {
  let stub: OpenAIStub;
  beforeAll(async () => {
    stub = await startOpenAIStub({ faultRate: 0, script: calculatorScript });
  });
  afterAll(async () => {
    await stub?.close();
  });

  it('runs the calculator through an MCP server, with the built-in tool’s observations and trajectories', async () => {
    const state = tempStateDir();
    const env = { TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: `it-mcp-${process.pid}` };
    const store = new FsArtifactStore(path.join(state, 'artifacts'));
    const policy = `models.policy={provider: openai-compatible, model: stub-model, baseUrl: "${stub.baseUrl}", temperature: 1.0, maxTokens: 64, seed: 7}`;
    const run = async (extra: string[], ledger: string) => {
      const before = stub.requests.length;
      const r = await swirl(['run', spec, '--json', '--set', policy, ...extra], { ...env, SWIRL_LEDGER: ledger }, 300_000);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const stage = (JSON.parse(r.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'rollouts')!;
      const rows: Trajectory[] = [];
      for await (const t of store.read<Trajectory>(stage.output!)) rows.push(t);
      return { stage, rows, requests: stub.requests.length - before };
    };

    const mcp = await run([], path.join(state, 'ledger-mcp.db'));
    expect(mcp.stage.counts).toEqual({ succeeded: QUESTIONS * SAMPLES, failed: 0, filtered: 0 });
    expect(mcp.rows).toHaveLength(QUESTIONS * SAMPLES);
    // Two calculator calls, then the answer, in every episode: each model turn is one stub request.
    expect(mcp.requests).toBe(QUESTIONS * SAMPLES * (CALLS_PER_EPISODE + 1));
    for (const t of mcp.rows) {
      expect(t.status, JSON.stringify(t.steps)).toBe('answered');
      expect(t.steps.map((s) => s.kind)).toEqual(['calculator', 'calculator', 'answer']);
      // Each observation came back from the MCP server and is the built-in calculator's; the answer is the last one.
      for (const s of t.steps.slice(0, CALLS_PER_EPISODE)) expect(s.observation).toBe(calculate(s.content));
      expect(t.steps[1]!.content).toBe(`${t.steps[0]!.observation} / 2`);
      expect(t.answer).toBe(t.steps[1]!.observation);
    }
    // The worker's CLI process has exited, and its MCP server with it.
    expect(serverProcesses()).toEqual([]);

    // The built-in tool on a fresh ledger: the model calls are made again (nothing replayed), and the trajectories are the same.
    const builtin = await run(['--set', 'stages.rollouts.tools=[calculator]'], path.join(state, 'ledger-builtin.db'));
    expect(builtin.requests).toBe(mcp.requests);
    const strip = (rows: Trajectory[]) => rows.map((t) => ({ id: t.id, status: t.status, steps: t.steps, messages: t.messages }));
    expect(strip(builtin.rows)).toEqual(strip(mcp.rows));
  }, 600_000);
});
