// A real Temporal run of a rollout stage with the anthropic provider against
// the loopback Messages API stub (tests/integration/fixtures/hosted-stubs.ts),
// protocol tool-calls, the first request answered 429 + Retry-After. The stage
// completes with one trajectory per (question, sample), each a calculator call
// with its observation and an answer; usage and cost reach the ledger; the key
// reaches the stub only as the x-api-key header and appears nowhere in the
// Plan, the CLI output, the workflow histories, the artifacts or the ledger.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { packageRoot } from '../../runtime/paths.js';
import { FsArtifactStore } from '../../store/artifacts.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import type { Trajectory } from '../../agents/types.js';
import type { StageState } from '../../workflows/types.js';
import { startAnthropicStub, type HostedStub } from './fixtures/hosted-stubs.js';
import { swirl, tempStateDir } from './helpers.js';

const QUESTIONS = 3;
const SECRET = `sk-ant-it-${'c0ffee'.repeat(5)}`;

let stub: HostedStub;
const specDir = path.join(packageRoot, '.swirl', 'test-specs');
const specFile = path.join(specDir, `hosted-provider-${process.pid}.yaml`);

beforeAll(async () => {
  stub = await startAnthropicStub({ apiKey: SECRET, failFirst: 1, retryAfterS: 1 });
  mkdirSync(specDir, { recursive: true });
  writeFileSync(
    specFile,
    `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: hosted-provider}
defaults: {timeout: 5m, concurrency: 2, retry: {maxAttempts: 3, initialInterval: 1s}}
models:
  policy:
    provider: anthropic
    model: claude-stub-1
    baseUrl: ${stub.baseUrl}
    apiKey: \${env:ANTHROPIC_API_KEY}
    temperature: 1.0
    maxTokens: 64
    price: {inputPerMTok: 1, outputPerMTok: 5}
tools:
  calculator: {kind: calculator}
stages:
  - id: questions
    type: dataset
    path: ../../data/gsm8k/test.jsonl
    format: gsm8k
    seed: 1
    limit: ${QUESTIONS}
  - id: rollouts
    type: rollout
    input: questions
    model: policy
    protocol: tool-calls
    tools: [calculator]
    samples: 1
    maxSteps: 2
    cache: false
`,
  );
});

afterAll(async () => {
  await stub?.close();
  rmSync(specFile, { force: true });
});

/** Every text in a value: strings as is, byte arrays (payloads) decoded as UTF-8. */
function texts(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
  else if (v && typeof v === 'object') for (const x of Object.values(v)) texts(x, out);
  return out;
}

/** Decoded text of a workflow's histories (every run) and of its children's, recursively. */
async function historyText(client: Client, workflowId: string, seen = new Set<string>()): Promise<string> {
  if (seen.has(workflowId)) return '';
  seen.add(workflowId);
  let all = '';
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    const h = await client.workflow.getHandle(workflowId, wf.runId).fetchHistory();
    all += texts(h).join('\n');
    for (const e of h.events ?? []) {
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) all += await historyText(client, child, seen);
    }
  }
  return all;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe('anthropic provider in a real run', () => {
  it('runs a tool-calls rollout stage through the gate and the ledger, and the key stays out of everything stored', async () => {
    const state = tempStateDir();
    const address = inject('temporalAddress');
    const env = { CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: `it-hosted-${process.pid}`, ANTHROPIC_API_KEY: SECRET };
    const plan = await swirl(['plan', specFile, '--json'], env);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('"apiKeyEnv": "ANTHROPIC_API_KEY"');

    const r = await swirl(['run', specFile, '--json'], env, 600_000);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const run = JSON.parse(r.stdout) as { workflowId: string; stages: StageState[] };
    const rollouts = run.stages.find((s) => s.id === 'rollouts')!;
    expect(rollouts.counts).toEqual({ succeeded: QUESTIONS, failed: 0, filtered: 0 });

    const rows: Trajectory[] = [];
    for await (const t of new FsArtifactStore(path.join(state, 'artifacts')).read<Trajectory>(rollouts.output!)) rows.push(t);
    expect(rows).toHaveLength(QUESTIONS);
    for (const t of rows) {
      expect(t.status).toBe('answered');
      expect(t.steps.map((s) => s.kind)).toEqual(['calculator', 'answer']);
      expect(t.steps[0]!.content).toMatch(/^\d+(\.\d+)? \+ \d+(\.\d+)?$/);
      expect(t.steps[1]!.content).toBe(t.steps[0]!.observation);
    }

    // The first request got 429 + Retry-After 1 s and was retried by the gate; every request carried the key.
    expect(stub.requests[0]!.status).toBe(429);
    expect(stub.requests.slice(1).every((q) => q.status === 200)).toBe(true);
    expect(stub.requests.every((q) => q.headers['x-api-key'] === SECRET)).toBe(true);
    expect(stub.requests).toHaveLength(1 + 2 * QUESTIONS);

    const ledger = new SqliteLedger(path.join(state, 'ledger.db'));
    const stats = await ledger.stats({ runId: run.workflowId });
    const audit = await ledger.audit();
    ledger.close();
    expect(stats.calls).toBe(2 * QUESTIONS);
    expect(stats.inputTokens).toBeGreaterThan(0);
    expect(stats.costUsd).toBeCloseTo((stats.inputTokens * 1 + stats.outputTokens * 5) / 1e6, 12);
    expect(audit.duplicated).toEqual([]);

    // The key is nowhere: CLI output, histories of the run and its children, artifacts, ledger file.
    const connection = await Connection.connect({ address });
    let history: string;
    try {
      history = await historyText(new Client({ connection }), run.workflowId);
    } finally {
      await connection.close();
    }
    expect(history).toContain('claude-stub-1'); // the decoder sees the Plan in the history
    const places: Array<[string, string]> = [['plan output', plan.stdout + plan.stderr], ['run output', r.stdout + r.stderr], ['histories', history]];
    for (const f of filesUnder(state)) places.push([path.relative(state, f), readFileSync(f).toString('latin1')]);
    for (const [where, text] of places) expect(text.includes(SECRET), `${where} holds the API key`).toBe(false);
  }, 900_000);
});
