// MCP tools in a real run: pipelines/mcp-tools.yaml's rollouts call the
// calculator through an MCP stdio server (`swirl mcp serve`, started by the
// worker) with the embedded model on a real Temporal server. Every tool step's
// observation is what the built-in calculator says for the same text, the
// same pipeline with the built-in tool gives the same trajectories, and the
// server process ends with the worker.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { Trajectory } from '../../agents/types.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import { calculate } from '../../tools/calculator.js';
import type { StageState } from '../../workflows/types.js';
import { swirl, tempStateDir } from './helpers.js';

const spec = 'pipelines/mcp-tools.yaml';
const serverProcesses = () => (spawnSync('pgrep', ['-f', 'mcp serve --spec quickstart.yaml --tools calculator'], { encoding: 'utf8' }).stdout ?? '').trim().split('\n').filter(Boolean);

describe('kind: mcp tools in a rollout', () => {
  it('runs the calculator through an MCP server, with the built-in tool’s observations and trajectories', async () => {
    const state = tempStateDir();
    const env = { TEMPORAL_ADDRESS: inject('temporalAddress'), SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: `it-mcp-${process.pid}` };
    const store = new FsArtifactStore(path.join(state, 'artifacts'));
    const run = async (extra: string[]) => {
      const r = await swirl(['run', spec, '--json', ...extra], env, 600_000);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      const stage = (JSON.parse(r.stdout) as { stages: StageState[] }).stages.find((s) => s.id === 'rollouts')!;
      const rows: Trajectory[] = [];
      for await (const t of store.read<Trajectory>(stage.output!)) rows.push(t);
      return { stage, rows };
    };

    const mcp = await run([]);
    expect(mcp.stage.counts).toEqual({ succeeded: 6, failed: 0, filtered: 0 });
    const calls = mcp.rows.flatMap((t) => t.steps.filter((s) => s.kind === 'calculator' && s.observation !== undefined));
    // The seeded one-shot run makes tool calls (printed for the record); each came back from the MCP server.
    console.log(`mcp rollout: ${calls.length} calculator calls over MCP in ${mcp.rows.length} episodes`);
    expect(calls.length).toBeGreaterThan(0);
    for (const s of calls) expect(s.observation).toBe(calculate(s.content));
    // The worker's CLI process has exited, and its MCP server with it.
    expect(serverProcesses()).toEqual([]);

    const builtin = await run(['--set', 'stages.rollouts.tools=[calculator]']);
    const strip = (rows: Trajectory[]) => rows.map((t) => ({ id: t.id, status: t.status, steps: t.steps, messages: t.messages }));
    expect(strip(builtin.rows)).toEqual(strip(mcp.rows));
  }, 900_000);
});
