// `swirl status` as text: a pure function of what the command gathered, so the
// composition (stages, progress, ledger, failure, then the report path and the
// next command once the run has ended) is tested without a Temporal server.
import type { StageState } from '../workflows/types.js';
import { describeProgress, type StageProgress } from './fanout-progress.js';
import { describeLedger, type LedgerSummary } from './ledger-summary.js';
import { describeStages, statusClosingLines } from './progress.js';

export interface RunStatus {
  workflowId: string;
  runId: string;
  status: string;
  pipeline?: string;
  startTime?: string;
  closeTime?: string;
  uiUrl?: string;
  stages: Array<Partial<StageState> & Pick<StageState, 'id' | 'type' | 'status'>>;
  failure?: string;
  note?: string;
  /** Why a running run waits besides a user pause: `budget reached (tokens 412 of 300)`. */
  pauseReason?: string;
  /** Per-item stages still running: items done, shards, throughput, ETA. */
  progress?: Record<string, StageProgress>;
  /** LLM call ledger totals of this run (calls made / reused, tokens, cost), when this machine holds the ledger. */
  ledger?: LedgerSummary;
  /** The HTML report the run's report stage wrote, when the run has ended and the file is on this machine. */
  reportFile?: string;
}

/** The lines `swirl status RUN` prints. */
export function describeStatus(st: RunStatus): string[] {
  const lines = [
    `${st.workflowId}  ${st.status}${st.pauseReason ? ` (paused: ${st.pauseReason})` : ''}${st.pipeline ? `  pipeline ${st.pipeline}` : ''}`,
    `  started ${st.startTime}${st.closeTime ? `, closed ${st.closeTime}` : ''}`,
  ];
  if (st.uiUrl) lines.push(`  web UI: ${st.uiUrl}`);
  lines.push(...describeStages(st.stages as StageState[]));
  for (const [id, p] of Object.entries(st.progress ?? {})) lines.push(`    ${id}: ${describeProgress(p)}`);
  if (st.ledger) lines.push(...describeLedger(st.ledger));
  if (st.failure) lines.push(`  failure: ${st.failure}`);
  if (st.note) lines.push(`  note: ${st.note}`);
  lines.push(...statusClosingLines(st.workflowId, st.status, st.stages, st.reportFile));
  return lines;
}
