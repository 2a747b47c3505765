// The LLM call ledger: both implementations pass the same conformance tests;
// LedgeredChatModel calls a model once per distinct request; the gate's limits,
// retries and breaker.
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, HumanMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { ledgerKey, LOCAL_OWNER, MemoryLedger, type CompletedCall, type LlmLedger } from '../../store/ledger.js';
import { SqliteLedger } from '../../store/ledger-sqlite.js';
import { LedgeredChatModel, linkedSignal } from '../../agents/ledgered-model.js';
import { classifyError, ModelGate, retryAfterMs } from '../../agents/limits.js';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'swirl-ledger-'));

const impls: Array<[string, () => LlmLedger]> = [
  ['memory', () => new MemoryLedger()],
  ['sqlite', () => new SqliteLedger(path.join(tmp(), 'ledger.db'))],
];

function call(key: string, over: Partial<CompletedCall> = {}): CompletedCall {
  return { key, provider: 'p', model: 'm', purpose: 'rollout', runId: 'run-1', stageId: 's1', response: { type: 'ai', data: { content: `answer ${key}` } }, inputTokens: 10, outputTokens: 5, latencyMs: 12, costUsd: 0.001, completedAt: '2026-11-27T00:00:00.000Z', ...over };
}

describe.each(impls)('LlmLedger conformance: %s', (_name, make) => {
  it('stores the first completion of a key and returns it on lookup', async () => {
    const l = make();
    expect(await l.lookup('k1')).toBeUndefined();
    await l.recordAttempt('k1', { purpose: 'rollout', runId: 'run-1' });
    const stored = await l.recordCompletion(call('k1'));
    expect(stored).toEqual(call('k1'));
    // A second completion of the same key (a race) keeps the first response, but is recorded.
    const second = await l.recordCompletion(call('k1', { response: { other: true }, runId: 'run-2' }));
    expect(second.response).toEqual(call('k1').response);
    expect(await l.lookup('k1')).toEqual(call('k1'));
    expect(await l.audit()).toEqual({ keys: 1, completions: 2, attempts: 1, duplicated: ['k1'] });
    l.close();
  });

  it('lets one owner at a time claim a call in flight; stale and released claims are taken over', async () => {
    const l = make();
    const other = 'elsewhere.example:4242';
    expect(await l.claim('k', other, 60_000)).toEqual({ claimed: true });
    expect(await l.claim('k', LOCAL_OWNER, 60_000)).toMatchObject({ claimed: false, owner: other });
    // The holder renews; releasing hands it over.
    expect(await l.claim('k', other, 60_000)).toEqual({ claimed: true });
    await l.release('k', other);
    expect(await l.claim('k', LOCAL_OWNER, 60_000)).toEqual({ claimed: true });
    // An expired lease is taken over.
    expect(await l.claim('e', other, -1)).toEqual({ claimed: true });
    expect(await l.claim('e', LOCAL_OWNER, 60_000)).toEqual({ claimed: true });
    // A lease of a process on this host that no longer runs is taken over.
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    expect(await l.claim('d', `${hostname()}:${dead}`, 60_000)).toEqual({ claimed: true });
    expect(await l.claim('d', LOCAL_OWNER, 60_000)).toEqual({ claimed: true });
    // Completing the call drops its claim.
    await l.claim('c', other, 60_000);
    await l.recordCompletion(call('c'));
    expect(await l.claim('c', LOCAL_OWNER, 60_000)).toEqual({ claimed: true });
    l.close();
  });

  it('counts calls made and reused per run and stage, with tokens and cost of the calls made', async () => {
    const l = make();
    await l.recordCompletion(call('a'));
    await l.recordCompletion(call('b', { inputTokens: 1, outputTokens: 2, costUsd: 0.5, stageId: 's2' }));
    await l.recordUse('a', { purpose: 'rollout', runId: 'run-1', stageId: 's1' }, false);
    await l.recordUse('b', { purpose: 'judge', runId: 'run-1', stageId: 's2' }, false);
    await l.recordUse('a', { purpose: 'rollout', runId: 'run-1', stageId: 's1' }, true);
    await l.recordUse('a', { purpose: 'rollout', runId: 'run-2', stageId: 's1' }, true);
    const s = await l.stats({ runId: 'run-1' });
    expect(s).toMatchObject({ calls: 2, reused: 1, inputTokens: 11, outputTokens: 7, latencyMs: 24 });
    expect(s.costUsd).toBeCloseTo(0.501);
    expect(s.byStage.s1).toMatchObject({ calls: 1, reused: 1, inputTokens: 10 });
    expect(s.byStage.s2).toMatchObject({ calls: 1, reused: 0, outputTokens: 2 });
    expect(await l.stats({ runId: 'run-2' })).toMatchObject({ calls: 0, reused: 1, inputTokens: 0 });
    expect(await l.stats()).toMatchObject({ calls: 2, reused: 2 });
    expect((await l.audit()).duplicated).toEqual([]);
    l.close();
  });
});

describe('SqliteLedger', () => {
  it('counts requests sent per run: answered, failed, in flight, and lost with the process that sent them (charged at their estimate)', async () => {
    const file = path.join(tmp(), 'ledger.db');
    const l = new SqliteLedger(file);
    const meta = { purpose: 'rollout' as const, runId: 'run-a', stageId: 's' };
    await l.finishAttempt(await l.recordAttempt('k1', meta, { tokens: 100, costUsd: 0.1 }), 'answered');
    await l.finishAttempt(await l.recordAttempt('k2', meta, { tokens: 100, costUsd: 0.1 }), 'failed');
    await l.recordAttempt('k3', meta, { tokens: 70, costUsd: 0.07 }); // this process: in flight
    await l.recordAttempt('k4', { ...meta, runId: 'run-b' }, { tokens: 5, costUsd: 0 });
    // A worker killed mid-call left a request with no outcome: its pid no longer runs.
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(file);
    raw.prepare('INSERT INTO attempts (key, pid, run_id, stage_id, at, est_tokens, est_cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?)').run('k5', dead, 'run-a', 's', new Date().toISOString(), 250, 0.25);
    raw.close();
    const a = (await l.stats({ runId: 'run-a' })).attempts;
    expect(a).toMatchObject({ sent: 4, answered: 1, failed: 1, inFlight: 1, lost: 1, lostTokens: 250 });
    expect(a.lostCostUsd).toBeCloseTo(0.25);
    expect((await l.stats()).attempts.sent).toBe(5);
    l.close();
  });

  it('opens a ledger written before attempts had outcomes (their requests count as sent with no outcome)', async () => {
    const file = path.join(tmp(), 'ledger.db');
    const { default: Database } = await import('better-sqlite3');
    const raw = new Database(file);
    raw.exec('CREATE TABLE attempts (id INTEGER PRIMARY KEY, key TEXT NOT NULL, pid INTEGER NOT NULL, run_id TEXT, stage_id TEXT, at TEXT NOT NULL)');
    raw.prepare('INSERT INTO attempts (key, pid, run_id, stage_id, at) VALUES (?, ?, ?, ?, ?)').run('old', process.pid, 'r', 's', 'then');
    raw.close();
    const l = new SqliteLedger(file);
    await l.finishAttempt(await l.recordAttempt('new', { purpose: 'rollout', runId: 'r' }), 'answered');
    expect((await l.stats({ runId: 'r' })).attempts).toMatchObject({ sent: 2, answered: 1, inFlight: 1 });
    l.close();
  });


  it('is shared by two connections to one file (WAL), and survives reopening', async () => {
    const file = path.join(tmp(), 'ledger.db');
    const a = new SqliteLedger(file);
    const b = new SqliteLedger(file);
    await a.recordCompletion(call('k'));
    expect(await b.lookup('k')).toEqual(call('k'));
    a.close();
    b.close();
    const c = new SqliteLedger(file);
    expect((await c.audit()).keys).toBe(1);
    c.close();
  });
});

describe('ledgerKey', () => {
  it('ignores key order and undefined values, and changes with anything that shapes the answer', () => {
    const base = { provider: 'p', model: 'm', params: { temperature: 1, maxTokens: 8 }, messages: [{ type: 'human', content: 'hi' }], seed: 1, sampleKey: 'q#0' };
    expect(ledgerKey(base)).toBe(ledgerKey({ ...base, params: { maxTokens: 8, temperature: 1, topP: undefined } }));
    for (const other of [{ seed: 2 }, { sampleKey: 'q#1' }, { params: { temperature: 0.5, maxTokens: 8 } }, { params: { temperature: 1, maxTokens: 8, stop: ['</a>'] } }, { adapter: 'sha256:x' }, { model: 'm2' }, { messages: [{ type: 'human', content: 'hi!' }] }])
      expect(ledgerKey({ ...base, ...other })).not.toBe(ledgerKey(base));
  });
});

/** Answers "reply N to <last message>"; counts its calls; fails the first `failFirst` calls with the given error. */
class CountingModel extends BaseChatModel {
  calls = 0;
  seen: Array<Record<string, unknown>> = [];
  constructor(
    private readonly failures: unknown[] = [],
    private readonly delayMs = 0,
  ) {
    super({});
  }
  _llmType() {
    return 'counting';
  }
  ledgerIdentity() {
    return { provider: 'test', model: 'counting' };
  }
  async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    this.calls++;
    this.seen.push({ ...(options as object) });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const f = this.failures.shift();
    if (f) throw f;
    const text = `reply ${this.calls} to ${String(messages.at(-1)!.content)}`;
    return { generations: [{ text, message: new AIMessage({ content: text, usage_metadata: { input_tokens: 7, output_tokens: 3, total_tokens: 10 } }) }] };
  }
}

describe('LedgeredChatModel', () => {
  it('calls the inner model once per distinct request, across wrappers sharing a ledger, and records cost', async () => {
    const ledger = new MemoryLedger();
    const inner = new CountingModel();
    const m = new LedgeredChatModel(inner, ledger, { purpose: 'judge', runId: 'r', stageId: 'filter', sampleKey: 't1', price: { inputPerMTok: 1e6, outputPerMTok: 2e6 } });
    const first = await m.invoke([new HumanMessage('q')], { seed: 3, stop: ['</x>'] } as never);
    const again = await m.invoke([new HumanMessage('q')], { seed: 3, stop: ['</x>'] } as never);
    expect(again.content).toBe(first.content);
    expect(inner.calls).toBe(1);
    expect(m.lastCall?.reused).toBe(true);
    // The inner model got the call options (seed, stop) but not the sample key.
    expect(inner.seen[0]).toMatchObject({ seed: 3, stop: ['</x>'] });
    expect(inner.seen[0]).not.toHaveProperty('sampleKey');
    // A different seed, sample key or message is a new call.
    await m.invoke([new HumanMessage('q')], { seed: 4 } as never);
    await m.withLedgerContext({ sampleKey: 't2' }).invoke([new HumanMessage('q')], { seed: 3, stop: ['</x>'] } as never);
    expect(inner.calls).toBe(3);
    // Another wrapper (a resumed activity) over the same ledger reuses everything.
    const resumed = new LedgeredChatModel(new CountingModel(), ledger, { purpose: 'judge', runId: 'r2', stageId: 'filter', sampleKey: 't1' });
    expect((await resumed.invoke([new HumanMessage('q')], { seed: 3, stop: ['</x>'] } as never)).content).toBe(first.content);
    expect((await resumed.invoke([new HumanMessage('q')], { seed: 3, stop: ['</x>'] } as never)).usage_metadata).toMatchObject({ input_tokens: 7, output_tokens: 3 });
    const s = await ledger.stats({ runId: 'r' });
    expect(s).toMatchObject({ calls: 3, reused: 1, inputTokens: 21, outputTokens: 9 });
    expect(s.costUsd).toBeCloseTo(3 * (7 + 6));
    expect((await ledger.stats({ runId: 'r2' })).reused).toBe(2);
    expect((await ledger.audit()).duplicated).toEqual([]);
  });

  it('waits for another live process that holds the call, and takes its result', async () => {
    const ledger = new MemoryLedger();
    const inner = new CountingModel();
    const m = new LedgeredChatModel(inner, ledger, { purpose: 'rollout', sampleKey: 's' });
    const key = ledgerKey(m.requestFor([new HumanMessage('held')], {}));
    await ledger.claim(key, 'elsewhere.example:1', 60_000);
    const pending = m.invoke([new HumanMessage('held')]);
    await new Promise((r) => setTimeout(r, 700));
    expect(inner.calls).toBe(0);
    await ledger.recordCompletion(call(key, { response: { type: 'ai', data: { content: 'from elsewhere' } } }));
    expect((await pending).content).toBe('from elsewhere');
    expect(inner.calls).toBe(0);
  });

  it('shares one inner call between concurrent identical requests', async () => {
    const ledger = new MemoryLedger();
    const inner = new CountingModel([], 50);
    const m = new LedgeredChatModel(inner, ledger, { purpose: 'rollout', sampleKey: 's' });
    const rs = await Promise.all([1, 2, 3].map(() => m.invoke([new HumanMessage('same')])));
    expect(new Set(rs.map((r) => r.content)).size).toBe(1);
    expect(inner.calls).toBe(1);
  });

  it('retries transient failures through the gate and records one completion', async () => {
    const ledger = new MemoryLedger();
    const e429 = Object.assign(new Error('429 Too Many Requests'), { status: 429, headers: { 'retry-after': '0.2' } });
    const e500 = Object.assign(new Error('500 boom'), { status: 500 });
    const inner = new CountingModel([e429, e500]);
    const gate = new ModelGate('m', { baseDelayMs: 1 });
    const m = new LedgeredChatModel(inner, ledger, { purpose: 'rollout', gate });
    const t0 = Date.now();
    const r = await m.invoke([new HumanMessage('x')]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190); // Retry-After honoured
    expect(r.content).toBe('reply 3 to x');
    expect(inner.calls).toBe(3);
    expect(gate.counters).toMatchObject({ attempts: 3, retries: 2, retryAfterWaits: 1 });
    expect(await ledger.audit()).toEqual({ keys: 1, completions: 1, attempts: 3, duplicated: [] });
    // Every request sent is counted with its outcome: two came back as errors, one with the answer.
    expect((await ledger.stats()).attempts).toMatchObject({ sent: 3, answered: 1, failed: 2, inFlight: 0, lost: 0 });
  });
});

describe('ModelGate', () => {
  it('does not retry client errors', async () => {
    const gate = new ModelGate('m', { baseDelayMs: 1 });
    let n = 0;
    await expect(gate.run(async () => {
      n++;
      throw Object.assign(new Error('400 bad'), { status: 400 });
    })).rejects.toThrow('400 bad');
    expect(n).toBe(1);
  });

  it('opens the circuit after repeated failures and fails fast with a retryable ModelUnavailable', async () => {
    const gate = new ModelGate('m', { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 100, breakerThreshold: 4, breakerCooldownMs: 60_000 });
    let n = 0;
    const err = await gate.run(async () => {
      n++;
      throw Object.assign(new Error('503 down'), { status: 503 });
    }).catch((e) => e);
    expect(n).toBe(4);
    expect(err).toMatchObject({ type: 'ModelUnavailable', nonRetryable: false });
    expect(err.message).toMatch(/circuit open after 4 failed attempts/);
    // While open, calls do not reach the model.
    await expect(gate.run(async () => n++)).rejects.toMatchObject({ type: 'ModelUnavailable' });
    expect(n).toBe(4);
  });

  it('keeps concurrency and requests per minute', async () => {
    const gate = new ModelGate('m', { concurrency: 2 });
    let active = 0;
    let peak = 0;
    await Promise.all(Array.from({ length: 8 }, () => gate.run(async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 10));
      active--;
    })));
    expect(peak).toBe(2);
    const rpm = new ModelGate('m2', { requestsPerMinute: 3 });
    const t0 = Date.now();
    for (let i = 0; i < 3; i++) await rpm.run(async () => 1);
    expect(Date.now() - t0).toBeLessThan(500);
    // The fourth request would wait a minute: abort it.
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop waiting')), 100);
    await expect(rpm.run(async () => 1, { signal: ac.signal })).rejects.toThrow('stop waiting');
  });

  it('reads Retry-After as seconds, dates and ms; classifies failures', () => {
    expect(retryAfterMs({ headers: { 'retry-after': '2' } })).toBe(2000);
    expect(retryAfterMs({ headers: new Headers({ 'retry-after-ms': '150' }) })).toBe(150);
    // Gemini: the SDK keeps the body's RetryInfo detail, not the headers.
    expect(retryAfterMs({ status: 429, errorDetails: [{ '@type': 'type.googleapis.com/google.rpc.Help' }, { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37.5s' }] })).toBe(37_500);
    expect(retryAfterMs({ status: 429, errorDetails: [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure' }] })).toBeUndefined();
    expect(retryAfterMs({ headers: { 'retry-after': new Date(Date.now() + 5000).toUTCString() } })).toBeGreaterThan(3000);
    expect(classifyError(Object.assign(new Error('x'), { status: 429 })).kind).toBe('rate_limit');
    expect(classifyError(Object.assign(new Error('x'), { status: 401 })).retryable).toBe(false);
    expect(classifyError(Object.assign(new Error('Request timed out.'), { name: 'APIConnectionTimeoutError' })).kind).toBe('timeout');
    expect(classifyError(new SyntaxError('Unexpected token < in JSON')).kind).toBe('malformed');
    expect(classifyError(new Error('context size exceeded')).retryable).toBe(false);
  });
});

// The OpenAI SDK adds an abort listener to every request's signal and never
// removes it; a shard's activity signal must not collect one per call.
class LeakyListenerModel extends CountingModel {
  override async _generate(messages: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    options.signal?.addEventListener('abort', () => undefined);
    return super._generate(messages, options);
  }
}

/** Answers only when its call's signal aborts (then it rejects): shows the abort reaches the inner model. */
class HangingModel extends CountingModel {
  override async _generate(_m: BaseMessage[], options: this['ParsedCallOptions']): Promise<ChatResult> {
    return new Promise((_, reject) => {
      const s = options.signal;
      if (!s) return reject(new Error('no signal reached the inner model'));
      s.addEventListener('abort', () => reject(s.reason as Error), { once: true });
    });
  }
}

describe('abort signals of model calls', () => {
  it('linkedSignal follows its parent and lets go of it when done', () => {
    const parent = new AbortController();
    const link = linkedSignal(parent.signal);
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1);
    parent.abort(new Error('cancelled'));
    expect(link.signal!.aborted).toBe(true);
    expect((link.signal!.reason as Error).message).toBe('cancelled');
    const again = linkedSignal(new AbortController().signal);
    const p2 = new AbortController();
    const link2 = linkedSignal(p2.signal);
    link2.done();
    expect(getEventListeners(p2.signal, 'abort')).toHaveLength(0);
    p2.abort();
    expect(link2.signal!.aborted).toBe(false);
    again.done();
    expect(linkedSignal(undefined).signal).toBeUndefined();
  });

  it('many calls through one signal leave no listeners on it, and aborting it still cancels a call in flight', async () => {
    const inner = new LeakyListenerModel([], 0);
    const model = new LedgeredChatModel(inner, new MemoryLedger(), { purpose: 'rollout' });
    const ac = new AbortController();
    const before = getEventListeners(ac.signal, 'abort').length;
    for (let i = 0; i < 15; i++) await model.invoke([new HumanMessage(`q${i}`)], { signal: ac.signal });
    expect(inner.calls).toBe(15);
    expect(getEventListeners(ac.signal, 'abort').length).toBe(before);

    const slow = new LedgeredChatModel(new HangingModel(), new MemoryLedger(), { purpose: 'rollout' });
    const t0 = Date.now();
    const p = slow.invoke([new HumanMessage('slow')], { signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop')), 20);
    await expect(p).rejects.toThrow('stop');
    expect(Date.now() - t0).toBeLessThan(4_000);
  });
});
