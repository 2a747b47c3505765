// Secret canary: a real Temporal server of this test (its SQLite file is
// searched too) and real `swirl` commands against the OpenAI-compatible stub,
// which echoes the key it gets in its error bodies and response headers (as
// gateways do: `401 Incorrect API key provided: sk-…`), plus a key swirl never
// saw. The canary must appear nowhere: not in `swirl run` / `status` /
// `history` (human and --json) / `report` output, not in the histories of the
// run and its children (fetchHistory), not in the server's SQLite file or log,
// not in the ledger, the artifacts or the report. A 401 is tried once (no gate
// retry, no activity retry) and fails the run naming the env variable; a 500
// echoing the key opens the breaker and the run completes, with the
// failure recorded redacted (`${env:NAME}`). `swirl validate` never prints a
// literal key from a spec or a `--set`.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { packageRoot, swirlPaths } from '../../runtime/paths.js';
import { startDevServer, type DevServer } from '../../runtime/devserver.js';
import { startOpenAIStub, type OpenAIStub } from './fixtures/openai-stub.js';
import { swirl, tempStateDir } from './helpers.js';

const CANARY = `sk-canary-${'5ec7e7'.repeat(5)}`;
const OTHER = `sk-never-seen-${'0badcafe'.repeat(3)}`;
const ENV_NAME = 'SWIRL_CANARY_KEY';

// The specs live in a project of their own (a package.json and a few questions): the test needs no checkout layout.
const specDir = mkdtempSync(path.join(tmpdir(), 'swirl-it-canary-project-'));
const serverDir = mkdtempSync(path.join(tmpdir(), 'swirl-it-canary-server-'));
let server: DevServer;
const stubs: OpenAIStub[] = [];

beforeAll(async () => {
  writeFileSync(path.join(specDir, 'package.json'), '{"name": "canary-project", "private": true}\n');
  writeFileSync(path.join(specDir, 'questions.jsonl'), readFileSync(path.join(packageRoot, 'data/gsm8k/test.jsonl'), 'utf8').split('\n').slice(0, 5).join('\n') + '\n');
  server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false, dbFile: path.join(serverDir, 'temporal.db'), logFile: path.join(serverDir, 'temporal.log') });
}, 120_000);

afterAll(async () => {
  for (const s of stubs) await s.close();
  await server?.stop();
  rmSync(serverDir, { recursive: true, force: true });
  rmSync(specDir, { recursive: true, force: true });
});

function writeSpec(name: string, model: string): string {
  const file = path.join(specDir, `${name}.yaml`);
  writeFileSync(
    file,
    `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: ${name}}
defaults: {timeout: 3m, concurrency: 1, retry: {maxAttempts: 3, initialInterval: 1s}}
models:
  policy:
${model}
tools:
  calculator: {kind: calculator}
stages:
  - id: questions
    type: dataset
    path: questions.jsonl
    format: gsm8k
    seed: 1
    limit: 1
  - id: rollouts
    type: rollout
    input: questions
    model: policy
    tools: [calculator]
    samples: 1
    maxSteps: 2
    cache: false
`,
  );
  return file;
}

const hostedModel = (baseUrl: string, extra = '') => `    provider: openai-compatible
    model: stub-model
    baseUrl: ${baseUrl}
    apiKey: \${env:${ENV_NAME}}
    maxTokens: 64
    requestTimeout: 5s
${extra}`;

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
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

/** Runs the spec to its end and collects every place the canary could land. */
async function runAndCollect(spec: string, id: string, threads = 2): Promise<{ run: { code: number | null; stdout: string; stderr: string }; places: Array<[string, string]>; history: string }> {
  const state = tempStateDir();
  // Episode threads (2): the key is resolved and the error raised in a worker thread; 0: on the main thread.
  const env = { TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: state, SWIRL_TASK_QUEUE_PREFIX: `it-canary-${id}`, SWIRL_EPISODE_THREADS: String(threads), [ENV_NAME]: CANARY };
  const run = await swirl(['run', spec, '--id', id], env, 400_000);
  const places: Array<[string, string]> = [['run output', run.stdout + run.stderr]];
  for (const args of [['status', id], ['status', id, '--json'], ['history', id], ['history', id, '--json'], ['report', id, '--open', 'never', '--out', path.join(state, 'report.html'), '--markdown', path.join(state, 'report.md')]]) {
    const r = await swirl(args, env);
    places.push([`swirl ${args.slice(0, 3).join(' ')}`, r.stdout + r.stderr]);
  }
  const connection = await Connection.connect({ address: server.address });
  let history: string;
  try {
    history = await historyText(new Client({ connection }), id);
  } finally {
    await connection.close();
  }
  places.push(['histories (fetchHistory)', history]);
  for (const f of [...filesUnder(state), ...filesUnder(serverDir)]) places.push([f, readFileSync(f).toString('latin1')]);
  rmSync(state, { recursive: true, force: true });
  return { run, places, history };
}

function expectNoCanary(places: Array<[string, string]>): void {
  const leaks = places.filter(([, text]) => text.includes(CANARY) || text.includes(OTHER) || text.includes(encodeURIComponent(CANARY)));
  expect(leaks.map(([where, text]) => `${where}: …${text.slice(Math.max(0, text.indexOf('sk-') - 80), text.indexOf('sk-') + 80)}…`)).toEqual([]);
}

describe('secret canary', () => {
  it.each([2, 0])('a 401 echoing the key is tried once, fails the run naming the variable, and the key is nowhere (episode threads: %i)', async (threads) => {
    const stub = await startOpenAIStub({ faultRate: 0, echoKey: { status: 401, otherKey: OTHER } });
    stubs.push(stub);
    const spec = writeSpec(`canary-401-${threads}`, hostedModel(stub.baseUrl));
    const id = `canary-401-${threads}-${process.pid}`;
    const { run, places, history } = await runAndCollect(spec, id, threads);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    // Tried once: the gate does not retry a 401 and the shard activity is not retried either.
    expect(stub.requests).toHaveLength(1);
    expect(stub.authorizations).toEqual([`Bearer ${CANARY}`]);
    expect(run.stdout + run.stderr).toContain(ENV_NAME);
    expect(history).toContain('ModelAuthFailed');
    expect(history).toContain(`\${env:${ENV_NAME}}`);
    expectNoCanary(places);
  }, 600_000);

  it('a 500 echoing the key (body and headers) opens the breaker, the run completes, and the key is nowhere', async () => {
    const stub = await startOpenAIStub({ faultRate: 0, echoKey: { status: 500, times: 2, otherKey: OTHER } });
    stubs.push(stub);
    const spec = writeSpec('canary-500', hostedModel(stub.baseUrl, '    breaker: {failures: 2, cooldown: 1s}\n'));
    const id = `canary-500-${process.pid}`;
    const { run, places, history } = await runAndCollect(spec, id);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(stub.requests.filter((r) => r.fault === 'echo-key')).toHaveLength(2);
    // The failure that quoted the upstream error is in the history, with the key written as its variable.
    expect(history).toContain(`\${env:${ENV_NAME}}`);
    expectNoCanary(places);
  }, 600_000);

  it('`swirl validate` prints neither a literal key from a spec nor one given with --set', async () => {
    const literal = writeSpec('canary-literal', hostedModel('http://127.0.0.1:9/v1').replace(`\${env:${ENV_NAME}}`, CANARY));
    const a = await swirl(['validate', literal]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('E_SECRET_LITERAL');
    const ok = writeSpec('canary-set', hostedModel('http://127.0.0.1:9/v1'));
    const b = await swirl(['validate', ok, '--set', `models.policy.apiKey=${CANARY}`]);
    expect(b.code).toBe(2);
    const c = await swirl(['validate', ok, '--json', '--set', `models.policy.apiKey=${CANARY}`]);
    expectNoCanary([['validate literal', a.stdout + a.stderr], ['validate --set', b.stdout + b.stderr], ['validate --set --json', c.stdout + c.stderr]]);
  }, 120_000);
});
