// The run budget: `budget: { maxTokens?, maxCostUsd? }` in the spec. What a
// run has spent comes from the LLM call ledger: tokens (prompt + completion)
// and cost of the calls this run made. Calls answered from the ledger cost
// nothing and do not count. Before paying for a call, LedgeredChatModel asks
// `checkBudget`; once the run's total reaches the budget it fails with a
// non-retryable `BudgetReached` failure, the fan-out workflow pauses the stage
// and the run (workflows/fanout.ts), and `swirl resume RUN --max-tokens N`
// raises the budget and restarts the stopped shards.
//
// The budget of the shard being processed travels in an AsyncLocalStorage
// scope set by processShard (activities/fanout.ts), so every model call under
// it — rollouts, judges, evaluation — is checked without threading it through
// each processor. Calls already in flight when the budget is reached finish:
// a run can go over its budget by at most the calls it has in flight.
// Requests lost in flight when a worker died are charged at their estimate
// (prompt + maxTokens): the provider may have billed them.
import { AsyncLocalStorage } from 'node:async_hooks';
import { ApplicationFailure } from '@temporalio/common';
import type { AttemptTotals, LlmLedger, UsageTotals } from '../store/ledger.js';
import { budgetReachedReason, mergeBudget } from '../workflows/budget.js';
import type { RunBudget } from '../workflows/fanout-types.js';

export type { RunBudget } from '../workflows/fanout-types.js';

/** What a BudgetReached failure carries (ApplicationFailure details[0]). */
export interface BudgetReachedDetails {
  tokens: number;
  costUsd: number;
  budget: RunBudget;
  reason: string;
}

/** Whether spent totals (calls made, from the ledger) reach a budget, and why (`tokens 412 of 300`). */
export function budgetReached(spent: Pick<UsageTotals, 'inputTokens' | 'outputTokens' | 'costUsd'> & { attempts?: Pick<AttemptTotals, 'lostTokens' | 'lostCostUsd'> }, budget: RunBudget): string | undefined {
  return budgetReachedReason(spentOf(spent), budget);
}

/** What a run has spent: its answered calls, plus what requests lost in flight may have been billed (estimated). */
function spentOf(s: Pick<UsageTotals, 'inputTokens' | 'outputTokens' | 'costUsd'> & { attempts?: Pick<AttemptTotals, 'lostTokens' | 'lostCostUsd'> }): { tokens: number; costUsd: number } {
  return { tokens: s.inputTokens + s.outputTokens + (s.attempts?.lostTokens ?? 0), costUsd: s.costUsd + (s.attempts?.lostCostUsd ?? 0) };
}

export { mergeBudget };

interface BudgetScope {
  runId: string;
  budget: RunBudget;
}

const scope = new AsyncLocalStorage<BudgetScope>();

/** Runs `fn` with the run's budget in force for every ledgered model call it makes. */
export function withBudget<T>(runId: string, budget: RunBudget | undefined, fn: () => Promise<T>): Promise<T> {
  return budget && (budget.maxTokens !== undefined || budget.maxCostUsd !== undefined) ? scope.run({ runId, budget }, fn) : fn();
}

/** The budget scope in force here (handed to an episode thread with its item), if any. */
export function budgetScope(): { runId: string; budget: RunBudget } | undefined {
  return scope.getStore();
}

/** Throws BudgetReached when the run in scope has spent its budget (a no-op outside a budget scope). */
export async function checkBudget(ledger: LlmLedger): Promise<void> {
  const s = scope.getStore();
  if (!s) return;
  const spent = await ledger.stats({ runId: s.runId });
  const reason = budgetReached(spent, s.budget);
  if (!reason) return;
  const details: BudgetReachedDetails = { ...spentOf(spent), budget: s.budget, reason };
  throw ApplicationFailure.create({
    message: `run budget reached: ${reason}; raise it with \`swirl resume ${s.runId} --max-tokens N\` or \`--max-cost-usd X\``,
    type: 'BudgetReached',
    nonRetryable: true,
    details: [details],
  });
}
