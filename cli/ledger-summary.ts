// The LLM call ledger's totals for one run, for `swirl status` and `swirl history`:
// calls made and reused, tokens in/out, cost, per stage. The ledger is the
// SQLite file of this state dir (workers elsewhere keep their own).
import { existsSync } from 'node:fs';
import { swirlPaths } from '../runtime/paths.js';
import type { LedgerStats, UsageTotals } from '../store/ledger.js';

export type LedgerSummary = LedgerStats & { file: string };

/** The run's ledger totals, or undefined when this machine has no ledger file or no calls of the run. */
export async function ledgerSummary(runId: string, file = swirlPaths().ledger): Promise<LedgerSummary | undefined> {
  if (!existsSync(file)) return undefined;
  const { SqliteLedger } = await import('../store/ledger-sqlite.js');
  const ledger = new SqliteLedger(file);
  try {
    const s = await ledger.stats({ runId });
    return s.calls + s.reused + s.attempts.sent > 0 ? { ...s, file } : undefined;
  } finally {
    ledger.close();
  }
}

function totals(t: UsageTotals): string {
  const cost = t.costUsd > 0 ? `, $${t.costUsd.toFixed(t.costUsd < 0.01 ? 6 : 4)}` : '';
  return `${t.calls} made, ${t.reused} reused; tokens ${t.inputTokens.toLocaleString('en-US')} in / ${t.outputTokens.toLocaleString('en-US')} out${cost}`;
}

/** Requests sent: `803 requests sent (800 answered, 3 lost in flight, maybe billed)`. */
function attemptsLine(a: LedgerSummary['attempts']): string {
  const parts = [`${a.answered} answered`];
  if (a.failed) parts.push(`${a.failed} failed`);
  if (a.inFlight) parts.push(`${a.inFlight} in flight`);
  if (a.lost) parts.push(`${a.lost} lost in flight, maybe billed (~${a.lostTokens.toLocaleString('en-US')} tokens charged to the budget)`);
  return `${a.sent} requests sent (${parts.join(', ')}); paid attempts ${a.answered + a.inFlight + a.lost}`;
}

export function describeLedger(s: LedgerSummary): string[] {
  const lines = [`  LLM calls: ${totals(s)}`];
  if (s.attempts && s.attempts.sent > 0) lines.push(`    ${attemptsLine(s.attempts)}`);
  const stages = Object.entries(s.byStage);
  if (stages.length > 1 || (stages.length === 1 && stages[0]![0] !== '-')) for (const [id, t] of stages) lines.push(`    ${id}: ${totals(t)}`);
  return lines;
}
