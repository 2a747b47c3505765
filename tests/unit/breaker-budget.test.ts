// The model breaker's state machine (closed → open → half-open → closed / open
// again), its failure as the shard sees it, and the run budget: totals from the
// ledger, reused calls free, the check before each paid call, raises.
import { describe, expect, it } from 'vitest';
import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { AIMessage, HumanMessage, type BaseMessage } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';
import { ApplicationFailure } from '@temporalio/common';
import { breakerOpenOf, ModelGate } from '../../agents/limits.js';
import { budgetReached, checkBudget, mergeBudget, withBudget } from '../../agents/budget.js';
import { LedgeredChatModel } from '../../agents/ledgered-model.js';
import { breakerFailure, runOfShard } from '../../activities/fanout.js';
import { describeStop, stopOf } from '../../workflows/fanout.js';
import { MemoryLedger } from '../../store/ledger.js';

const down = () => Object.assign(new Error('503 down'), { status: 503 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

class TokenModel extends BaseChatModel {
  calls = 0;
  constructor() {
    super({});
  }
  _llmType() {
    return 'tokens';
  }
  ledgerIdentity() {
    return { provider: 'test', model: 'tokens' };
  }
  async _generate(messages: BaseMessage[]): Promise<ChatResult> {
    this.calls++;
    const text = `reply to ${String(messages.at(-1)!.content)}`;
    return { generations: [{ text, message: new AIMessage({ content: text, usage_metadata: { input_tokens: 70, output_tokens: 30, total_tokens: 100 } }) }] };
  }
}

describe('model breaker', () => {
  it('closed → open after N failures in a row → half-open after the cooldown → closed on a successful probe', async () => {
    const gate = new ModelGate('gate-key', { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 100, breakerThreshold: 3, breakerCooldownMs: 150 }, 'policy');
    expect(gate.breakerState()).toBe('closed');
    let n = 0;
    const err = await gate.run(async () => {
      n++;
      throw down();
    }).catch((e: unknown) => e);
    expect(n).toBe(3);
    expect(gate.breakerState()).toBe('open');
    // The failure names the spec model and when the breaker becomes half-open.
    const d = breakerOpenOf(err);
    expect(d).toMatchObject({ breaker: 'open', model: 'policy' });
    expect(d!.until).toBe(gate.reopensAt);
    expect(d!.until - Date.now()).toBeGreaterThan(50);
    // Open: no call reaches the model.
    await expect(gate.run(async () => n++)).rejects.toMatchObject({ type: 'ModelUnavailable' });
    expect(n).toBe(3);
    await sleep(170);
    expect(gate.breakerState()).toBe('half-open');
    // Half-open: one probe; concurrent calls wait for its outcome instead of piling on.
    const events: string[] = [];
    const call = (i: number) => async () => {
      events.push(`start ${i}`);
      await sleep(20);
      events.push(`end ${i}`);
      return 'ok';
    };
    expect(await Promise.all([gate.run(call(1)), gate.run(call(2)), gate.run(call(3))])).toEqual(['ok', 'ok', 'ok']);
    expect(events.slice(0, 2)).toEqual(['start 1', 'end 1']);
    // The probe closed the breaker: the others then ran together.
    expect(events.slice(2, 4).sort()).toEqual(['start 2', 'start 3']);
    expect(gate.breakerState()).toBe('closed');
  });

  it('half-open → open again when the probe fails (one failed attempt, not N)', async () => {
    const gate = new ModelGate('m', { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 100, breakerThreshold: 3, breakerCooldownMs: 100 });
    let n = 0;
    await gate.run(async () => {
      n++;
      throw down();
    }).catch(() => undefined);
    await sleep(120);
    expect(gate.breakerState()).toBe('half-open');
    const err = await gate.run(async () => {
      n++;
      throw down();
    }).catch((e: unknown) => e);
    expect(n).toBe(4);
    expect(gate.breakerState()).toBe('open');
    expect(breakerOpenOf(err)).toBeDefined();
    expect(gate.counters.breakerOpened).toBe(2);
  });

  it('a shard turns an open breaker into a non-retryable ModelBreakerOpen the fan-out pauses on; other failures are left alone', () => {
    const open = ApplicationFailure.create({ type: 'ModelUnavailable', message: 'model policy unavailable: circuit open', details: [{ breaker: 'open', model: 'policy', until: 1_800_000_000_000 }] });
    const f = breakerFailure(new Error('wrapped', { cause: open }))!;
    expect(f).toMatchObject({ type: 'ModelBreakerOpen', nonRetryable: true });
    expect(stopOf(f)).toEqual({ kind: 'breaker', model: 'policy', until: 1_800_000_000_000 });
    expect(describeStop(stopOf(f)!)).toBe('breaker open: policy, until 2027-01-15T08:00:00.000Z');
    expect(breakerFailure(ApplicationFailure.create({ type: 'ModelUnavailable', message: 'gave up after 6 attempts' }))).toBeUndefined();
    expect(stopOf(ApplicationFailure.create({ type: 'ModelUnavailable', message: 'x' }))).toBeUndefined();
    expect(runOfShard({ shardKey: 'run-1/rollouts/shard-00003', stageId: 'rollouts' })).toBe('run-1');
  });
});

describe('run budget', () => {
  it('is reached at the limit, by tokens or by cost, and raises replace only the limits given', () => {
    expect(budgetReached({ inputTokens: 100, outputTokens: 99, costUsd: 0 }, { maxTokens: 200 })).toBeUndefined();
    expect(budgetReached({ inputTokens: 100, outputTokens: 100, costUsd: 0 }, { maxTokens: 200 })).toBe('tokens 200 of 200');
    expect(budgetReached({ inputTokens: 1, outputTokens: 1, costUsd: 0.5 }, { maxTokens: 200, maxCostUsd: 0.5 })).toBe('cost $0.5000 of $0.5');
    expect(mergeBudget({ maxTokens: 200, maxCostUsd: 1 }, { maxTokens: 500 })).toEqual({ maxTokens: 500, maxCostUsd: 1 });
    expect(mergeBudget(undefined, { maxCostUsd: 2 })).toEqual({ maxCostUsd: 2 });
    // Requests lost in flight (a killed worker) may have been billed: they count at their estimate.
    const lost = { sent: 1, answered: 0, failed: 0, inFlight: 0, lost: 1, lostTokens: 60, lostCostUsd: 0.25 };
    expect(budgetReached({ inputTokens: 100, outputTokens: 40, costUsd: 0, attempts: lost }, { maxTokens: 200 })).toBe('tokens 200 of 200');
    expect(budgetReached({ inputTokens: 1, outputTokens: 1, costUsd: 0.25, attempts: lost }, { maxCostUsd: 0.5 })).toBe('cost $0.5000 of $0.5');
  });

  it('stops paid calls once the run has spent it; reused calls are free and still answered; other runs are not affected', async () => {
    const ledger = new MemoryLedger();
    const inner = new TokenModel();
    const m = (runId: string) => new LedgeredChatModel(inner, ledger, { purpose: 'rollout', runId, stageId: 's', price: { inputPerMTok: 1, outputPerMTok: 1 } });
    // Outside a budget scope nothing is checked.
    await checkBudget(ledger);
    const budget = { maxTokens: 250 };
    await withBudget('r1', budget, async () => {
      await m('r1').invoke([new HumanMessage('a')]); // 100
      await m('r1').invoke([new HumanMessage('b')]); // 200
      await m('r1').invoke([new HumanMessage('c')]); // 300: checked before, at 200 < 250
      const err = await m('r1').invoke([new HumanMessage('d')]).catch((e: unknown) => e);
      expect(err).toMatchObject({ type: 'BudgetReached', nonRetryable: true });
      expect((err as ApplicationFailure).details?.[0]).toMatchObject({ tokens: 300, reason: 'tokens 300 of 250' });
      expect(stopOf(err)).toMatchObject({ kind: 'budget', reason: 'tokens 300 of 250', tokens: 300 });
      // A call the ledger already holds is answered (free) even with the budget spent.
      expect((await m('r1').invoke([new HumanMessage('a')])).content).toBe('reply to a');
    });
    expect(inner.calls).toBe(3);
    const s = await ledger.stats({ runId: 'r1' });
    expect(s).toMatchObject({ calls: 3, reused: 1, inputTokens: 210, outputTokens: 90 });
    // Another run reusing r1's calls spends nothing: its budget is untouched.
    await withBudget('r2', { maxTokens: 1 }, async () => {
      for (const q of ['a', 'b', 'c']) await m('r2').invoke([new HumanMessage(q)]);
      expect(await ledger.stats({ runId: 'r2' })).toMatchObject({ calls: 0, reused: 3, inputTokens: 0 });
      // …until it needs a new call: 0 spent < 1, so one call goes, then it is stopped.
      await m('r2').invoke([new HumanMessage('e')]);
      await expect(m('r2').invoke([new HumanMessage('f')])).rejects.toMatchObject({ type: 'BudgetReached' });
    });
    // Raised: the same run goes on.
    await withBudget('r1', mergeBudget(budget, { maxTokens: 1000 }), async () => {
      await m('r1').invoke([new HumanMessage('d')]);
    });
    expect(inner.calls).toBe(5);
    // A cost budget counts the price table.
    await withBudget('r1', { maxCostUsd: 0.0004 }, async () => {
      await expect(m('r1').invoke([new HumanMessage('g')])).rejects.toMatchObject({ type: 'BudgetReached' });
    });
  });
});
