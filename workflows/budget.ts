// Run budget arithmetic shared by the workflows and the activities (pure).
import type { RunBudget } from './fanout-types.js';

/** A budget raised by `raise`: the limits given replace the old ones, the others stay. */
export function mergeBudget(budget: RunBudget | undefined, raise: RunBudget): RunBudget {
  const out: RunBudget = { ...budget };
  if (raise.maxTokens !== undefined) out.maxTokens = raise.maxTokens;
  if (raise.maxCostUsd !== undefined) out.maxCostUsd = raise.maxCostUsd;
  return out;
}

/** Why spent totals reach a budget (`tokens 412 of 300`), or undefined while they do not. */
export function budgetReachedReason(spent: { tokens: number; costUsd: number }, budget: RunBudget): string | undefined {
  if (budget.maxTokens !== undefined && spent.tokens >= budget.maxTokens) return `tokens ${spent.tokens} of ${budget.maxTokens}`;
  if (budget.maxCostUsd !== undefined && spent.costUsd >= budget.maxCostUsd) return `cost $${spent.costUsd.toFixed(4)} of $${budget.maxCostUsd}`;
  return undefined;
}
