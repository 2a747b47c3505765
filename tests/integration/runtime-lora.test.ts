// The runtime-LoRA sampler client against tests/fixtures/stub_vllm.py, a vLLM
// stand-in that computes with a real tiny Hugging Face model and PEFT adapters
// (CI has no GPU and no vLLM). What is checked is swirl's guarantee: the
// log-probs the sampler serves under an adapter's name equal the trainer's
// (transformers + peft, computed independently) for that adapter, and a
// server that keeps old weights under a new name is caught by the probe.
// No Temporal: the client raises the ApplicationFailures an activity would.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeProbe, staleMessage } from '../../agents/providers/runtime-lora.js';
import { startStub, stop, type Stub } from './fixtures/vllm-stub.js';
import { packageRoot, swirlPaths } from '../../runtime/paths.js';

const run = promisify(execFile);
const FIXTURES = path.join(packageRoot, 'tests', 'fixtures');
const ENV = { ...process.env, HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1', OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '1' };
/** A fixed probe in the tiny tokenizer's ids: "<|im_start|>user\nhi<|im_end|>" and a few characters. */
const PROBE = [4, 36, 34, 20, 33, 102, 23, 24, 5, 102, 4, 16, 34, 34];
const EXACT = 1e-4; // fp32 on the CPU, same weights: the two computations agree far below this

async function py(script: string, args: string[]): Promise<string> {
  const { stdout } = await run(swirlPaths().venvPython, [path.join(FIXTURES, script), ...args], { env: ENV, maxBuffer: 1 << 24 });
  return stdout;
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected an ApplicationFailure').toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
}

const maxAbs = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));

describe('runtime LoRA sampler (vLLM stub on a tiny model)', () => {
  let dir: string;
  let base: string;
  let v1: string;
  let v2: string;
  let ref: { base: number[]; v1: number[]; v2: number[] };
  let vocab: Map<number, string>;
  let stub: Stub | undefined;
  let plain: Stub | undefined;

  beforeAll(async () => {
    // Fails, never skips: the stub and the reference need transformers + peft from the venv.
    expect(existsSync(swirlPaths().venvPython), `the Python venv is missing (${swirlPaths().venvPython}): run \`npm run setup\``).toBe(true);
    dir = mkdtempSync(path.join(tmpdir(), 'swirl-runtime-lora-'));
    base = path.join(dir, 'base');
    v1 = path.join(dir, 'lora', 'v1');
    v2 = path.join(dir, 'lora', 'v2');
    await py('tiny_hf_model.py', ['--out', base]);
    await py('tiny_lora.py', ['make', '--base', base, '--out', `${v1}:1`, '--out', `${v2}:2`]);
    const r = JSON.parse(await py('tiny_lora.py', ['logprobs', '--base', base, '--adapter', v1, '--adapter', v2, '--ids', PROBE.join(',')])) as Record<string, number[]>;
    ref = { base: r.base!, v1: r[v1]!, v2: r[v2]! };
    const tj = JSON.parse(readFileSync(path.join(base, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> } };
    vocab = new Map(Object.entries(tj.model.vocab).map(([t, i]) => [i, t]));
    [stub, plain] = await Promise.all([startStub(base), startStub(base, ['--no-runtime-lora'])]);
  }, 600_000);

  afterAll(() => {
    stop(stub);
    stop(plain);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the reference adapters differ from the base and from each other (else the probe proves nothing)', () => {
    expect(ref.v1).toHaveLength(PROBE.length - 1);
    expect(maxAbs(ref.v1, ref.base)).toBeGreaterThan(1e-2);
    expect(maxAbs(ref.v1, ref.v2)).toBeGreaterThan(1e-2);
  });

  it('serves a loaded adapter with the trainer’s log-probs, and the base under its own name', async () => {
    const s = stub!.server;
    await s.loadAdapter('run-s-step-1', v1);
    await s.loadAdapter('run-s-step-1', v1); // idempotent: a retried activity
    expect((await s.listModels()).map((m) => m.id)).toEqual(['tiny', 'run-s-step-1']);
    const served = await s.promptLogprobs('run-s-step-1', PROBE);
    expect(maxAbs(served, ref.v1)).toBeLessThan(EXACT);
    expect(maxAbs(await s.promptLogprobs('tiny', PROBE), ref.base)).toBeLessThan(EXACT);
    expect(judgeProbe({ sampler: served, before: ref.base, after: ref.v1, tolerance: EXACT })).toMatchObject({ ok: true, distinguishable: true });
  });

  it('sampling: a seed reproduces tokens, ids decode to the text, stop strings end it', async () => {
    const s = stub!.server;
    const req = { model: 'run-s-step-1', prompt: PROBE, maxTokens: 12, temperature: 1, topP: 0.95 };
    const a = await s.complete({ ...req, seed: 7 });
    const b = await s.complete({ ...req, seed: 7 });
    expect(b).toEqual(a);
    const others = await Promise.all([8, 9].map((seed) => s.complete({ ...req, seed })));
    expect(new Set([a, ...others].map((c) => c.tokens.join(','))).size).toBeGreaterThan(1);
    expect(a.logprobs).toHaveLength(a.tokens.length);
    expect(a.logprobs.every((x) => x <= 0)).toBe(true);
    // The character tokenizer: the text is the sampled ids' characters, specials dropped.
    const decoded = a.tokens.map((t) => vocab.get(t)!).filter((t) => !/^<.*>$/.test(t)).join('');
    expect(a.text).toBe(decoded);

    const greedy = await s.complete({ model: 'run-s-step-1', prompt: PROBE, maxTokens: 10, temperature: 0 });
    expect(greedy.text.length).toBeGreaterThanOrEqual(6);
    const stopAt = greedy.text.slice(3, 5);
    const stopped = await s.complete({ model: 'run-s-step-1', prompt: PROBE, maxTokens: 10, temperature: 0, stop: [stopAt] });
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(greedy.text.slice(0, greedy.text.indexOf(stopAt)));
    expect(stopped.text).not.toContain(stopAt);
  });

  it('chat completions answer in the OpenAI shape', async () => {
    const res = await fetch(`${stub!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'run-s-step-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, seed: 1, logprobs: true }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: Array<{ message: { role: string; content: string }; logprobs: { content: unknown[] }; finish_reason: string }>; usage: { completion_tokens: number } };
    expect(body.choices[0]!.message.role).toBe('assistant');
    expect(typeof body.choices[0]!.message.content).toBe('string');
    expect(body.choices[0]!.logprobs.content).toHaveLength(body.usage.completion_tokens);
  });

  it('unloads: the name is gone, a second unload is not an error', async () => {
    const s = stub!.server;
    await s.unloadAdapter('run-s-step-1');
    expect((await s.listModels()).map((m) => m.id)).toEqual(['tiny']);
    const f = await failureOf(s.promptLogprobs('run-s-step-1', PROBE));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    await s.unloadAdapter('run-s-step-1');
  });

  it('a server that keeps the previous weights under the new name fails the probe (E_STALE_POLICY)', async () => {
    const s = stub!.server;
    const control = async (mode: string) => expect((await fetch(`${stub!.url}/stub/stale`, { method: 'POST', body: JSON.stringify({ mode }) })).status).toBe(200);
    await s.loadAdapter('run-s-step-1', v1);
    await control('previous');
    await s.loadAdapter('run-s-step-2', v2);
    const served = await s.promptLogprobs('run-s-step-2', PROBE);
    expect(maxAbs(served, ref.v1)).toBeLessThan(EXACT);
    const j = judgeProbe({ sampler: served, before: ref.v1, after: ref.v2, tolerance: EXACT });
    expect(j).toMatchObject({ ok: false, distinguishable: true });
    expect(staleMessage('run-s-step-2', j, EXACT)).toMatch(/^E_STALE_POLICY: .*run-s-step-2/);

    await control('base');
    await s.loadAdapter('run-s-step-3', v2);
    const bare = await s.promptLogprobs('run-s-step-3', PROBE);
    expect(maxAbs(bare, ref.base)).toBeLessThan(EXACT);
    expect(judgeProbe({ sampler: bare, before: ref.v1, after: ref.v2, tolerance: EXACT }).ok).toBe(false);

    // Back to real loads: the same adapter under a fresh name passes.
    await control('off');
    await Promise.all(['run-s-step-2', 'run-s-step-3'].map((n) => s.unloadAdapter(n)));
    await s.loadAdapter('run-s-step-2', v2);
    const fresh = await s.promptLogprobs('run-s-step-2', PROBE);
    expect(judgeProbe({ sampler: fresh, before: ref.v1, after: ref.v2, tolerance: EXACT })).toMatchObject({ ok: true, distinguishable: true });
  });

  it('an adapter path the server cannot use is a ConfigError naming the adapter', async () => {
    const s = stub!.server;
    let f = await failureOf(s.loadAdapter('run-s-step-9', path.join(dir, 'lora', 'missing')));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toContain('refused adapter run-s-step-9');
    const broken = path.join(dir, 'lora', 'broken');
    mkdirSync(broken, { recursive: true });
    writeFileSync(path.join(broken, 'adapter_config.json'), '{"r": 4, "peft_type": "LORA", "target_modules": ["q_proj"]}');
    f = await failureOf(s.loadAdapter('run-s-step-10', broken));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toContain('refused adapter run-s-step-10');
    expect((await s.listModels()).map((m) => m.id)).not.toContain('run-s-step-10');
  });

  it('a server without runtime LoRA updating is a ConfigError with the switch to turn on', async () => {
    const f = await failureOf(plain!.server.loadAdapter('run-s-step-1', v1));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toContain('VLLM_ALLOW_RUNTIME_LORA_UPDATING=True');
    // Its base model is still served, with the trainer's base log-probs.
    expect(maxAbs(await plain!.server.promptLogprobs('tiny', PROBE), ref.base)).toBeLessThan(EXACT);
  });
});
