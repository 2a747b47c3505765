// Run progress in the terminal: a bar over stages on a TTY, one plain line per
// stage change otherwise (CI logs stay readable).
import { signalWarnings, type TrainCurvePoint } from '../workflows/train-curve.js';
import { describeRows, num, plural } from './rows.js';
import cliProgress from 'cli-progress';
import type { Plan } from '../compiler/plan-types.js';
import type { JudgeAgreement } from '../agents/judges/index.js';
import type { PipelineProgress, StageState } from '../workflows/types.js';
import { err, color, shortHash, formatMs } from './output.js';
import { describeProgress, type StageProgress } from './fanout-progress.js';

export class ProgressView {
  private bar: cliProgress.SingleBar | undefined;
  private last = new Map<string, string>();

  constructor(private readonly plan: Plan, tty = Boolean(process.stderr.isTTY) && process.env.CI !== 'true') {
    if (tty) {
      this.bar = new cliProgress.SingleBar(
        { format: ' {bar} {value}/{total} stages | {current}', stream: process.stderr, hideCursor: true, clearOnComplete: true },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(plan.stages.length, 0, { current: 'waiting for a worker' });
    }
  }

  /** Item-level progress is shown on a TTY bar only (CI logs get one line per stage change). */
  wantsItems(): boolean {
    return this.bar !== undefined;
  }

  update(p: PipelineProgress, items: Record<string, StageProgress> = {}): void {
    const done = p.stages.filter((s) => s.status === 'completed' || s.status === 'failed' || s.status === 'skipped').length;
    const running = p.stages.filter((s) => s.status === 'running').map((s) => (items[s.id] ? `${s.id} ${describeProgress(items[s.id]!)}` : s.id));
    if (this.bar) {
      this.bar.update(done, { current: running.length ? `running ${running.join('; ')}` : p.status });
      return;
    }
    for (const s of p.stages) {
      if (this.last.get(s.id) === s.status) continue;
      this.last.set(s.id, s.status);
      if (s.status !== 'pending') err(`  stage ${s.id} (${s.type}): ${s.status}`);
    }
  }

  stop(): void {
    this.bar?.stop();
  }
}

const MARK: Record<string, string> = { completed: '✓', failed: '✗', skipped: '-', running: '…', pending: ' ' };

/** One line per stage for the final summary. */
/** A filter's judge agreement (filter `agreement`) as one line, or nothing. */
export function describeAgreement(stats: unknown): string | undefined {
  const a = (stats as { agreement?: JudgeAgreement } | undefined)?.agreement;
  if (!a || typeof a !== 'object' || !a.confusion) return undefined;
  const p = (x: number | null | undefined) => (typeof x === 'number' ? `${(x * 100).toFixed(1)}%` : '–');
  const c = a.confusion;
  return `judge agreement ${a.judgeA} vs ${a.judgeB} on ${a.steps} steps: kappa ${typeof a.kappa === 'number' ? a.kappa.toFixed(3) : '–'}, agreement ${p(a.agreement)}, GOOD ${p(a.goodRateA)} vs ${p(a.goodRateB)} (GOOD/GOOD ${c.goodGood}, GOOD/BAD ${c.goodBad}, BAD/GOOD ${c.badGood}, BAD/BAD ${c.badBad})`;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/**
 * What a finished stage produced, in the numbers a person wants: rollouts by
 * how they ended, decompose's trajectories → steps, the filter's yield and top
 * drop reasons, accuracy with its interval, the training signal. Undefined for
 * stages with nothing more to say than their row count.
 */
export function describeResult(s: Pick<StageState, 'type' | 'stats' | 'output'>): string | undefined {
  const st = (s.stats ?? {}) as Record<string, unknown>;
  if (s.type === 'rollout' || (s.output?.kind === 'trajectories' && s.stats)) {
    return `answered ${num(st.answered) ?? 0}, no action ${num(st.no_action) ?? 0}, max steps ${num(st.max_steps) ?? 0}${num(st.error) ? `, error ${num(st.error)}` : ''}; ${num(st.toolCalls) ?? 0} tool calls`;
  }
  if (s.type === 'decompose' && num(st.trajectories) !== undefined) {
    const t = num(st.trajectories)!;
    const n = num(st.steps) ?? 0;
    return `${t} trajector${t === 1 ? 'y' : 'ies'} → ${n} step${n === 1 ? '' : 's'}${num(st.empty) ? ` (${num(st.empty)} without an action)` : ''}`;
  }
  if (s.type === 'filter' && num(st.trajectoriesIn) !== undefined) {
    const dropped = Object.entries((st.dropped ?? {}) as Record<string, number>).sort((a, b) => b[1] - a[1]).slice(0, 3);
    const good = num(st.goodRate);
    return [
      `kept ${num(st.kept) ?? 0} of ${num(st.trajectoriesIn)} trajectories (${num(st.keptSteps) ?? 0} of ${num(st.stepsIn) ?? 0} steps)`,
      num(st.stepsJudged) ? `${num(st.stepsJudged)} steps judged${good !== undefined ? `, ${pct(good)} GOOD` : ''}` : '',
      dropped.length ? `dropped: ${dropped.map(([why, n]) => `${why} ${n}`).join(', ')}` : '',
    ].filter(Boolean).join('; ');
  }
  if (s.type === 'evaluate' && num(st.n) !== undefined) {
    const n = num(st.n)!;
    const ci = Array.isArray(st.ci95) ? (st.ci95 as number[]) : undefined;
    return [
      `accuracy ${pct(num(st.accuracy) ?? 0)} (${num(st.correct) ?? 0}/${n}${ci ? `, 95% CI ${pct(ci[0]!)}–${pct(ci[1]!)}` : ''})`,
      num(st.f1) !== undefined ? `F1 ${num(st.f1)!.toFixed(2)}` : '',
      `answered ${num(st.answered) ?? 0}/${n}`,
      num(st.toolCallsPerQuestion) !== undefined ? `${num(st.toolCallsPerQuestion)!.toFixed(1)} tool calls/question` : '',
      num(st.processScore) !== undefined ? `process score ${pct(num(st.processScore)!)}` : '',
    ].filter(Boolean).join(', ');
  }
  if (s.type === 'train' && Array.isArray(st.curve)) {
    const curve = st.curve as Array<{ meanReward?: number; kl?: number; loss?: number }>;
    if (!curve.length) return undefined;
    const first = curve[0]!;
    const last = curve[curve.length - 1]!;
    const rewards = curve.map((p) => num(p.meanReward) ?? 0);
    const line = [
      `${curve.length} iteration${curve.length === 1 ? '' : 's'}`,
      `mean reward ${(num(first.meanReward) ?? 0).toFixed(3)}${curve.length > 1 ? ` → ${(num(last.meanReward) ?? 0).toFixed(3)}` : ''}`,
      num(last.kl) !== undefined ? `KL ${num(last.kl)!.toFixed(4)}` : '',
      num(last.loss) !== undefined ? `loss ${num(last.loss)!.toFixed(4)}` : '',
    ].filter(Boolean).join(', ');
    const warn = signalWarnings(st.curve as Array<Partial<TrainCurvePoint>>, String(st.objective ?? ''));
    if (rewards.every((r) => r === 0) && st.objective !== 'sft') return `${line} — every sampled reward was 0: nothing to learn from, the adapter did not move`;
    return warn.length ? `${line} — warning: ${warn.join('; ')}` : line;
  }
  return undefined;
}



export function describeStages(stages: StageState[]): string[] {
  return stages.flatMap((s) => {
    const mark = s.status === 'completed' ? color.green(MARK[s.status]!) : s.status === 'failed' ? color.red(MARK[s.status]!) : MARK[s.status] ?? '?';
    const took = s.startedAt && s.finishedAt ? formatMs(Date.parse(s.finishedAt) - Date.parse(s.startedAt)) : '';
    const failed = s.counts?.failed ? ` (${s.counts.failed} item${s.counts.failed === 1 ? '' : 's'} failed)` : '';
    const outp = s.output ? `${describeRows({ ...s, output: s.output })}${failed}  artifact ${shortHash(s.output.hash)}` : '';
    const result = s.status === 'completed' ? describeResult(s) : undefined;
    const why = s.error ? `${s.error.type}: ${s.error.message}` : '';
    const line = `  ${mark} ${s.id} (${s.type})  ${[outp, s.cached ? 'cached' : took, why].filter(Boolean).join('  ')}`.trimEnd();
    const agreement = s.type === 'filter' ? describeAgreement(s.stats) : undefined;
    return [line, ...(result ? [`      ${result}`] : []), ...(agreement ? [`      ${agreement}`] : [])];
  });
}

/** The closing lines of a finished run: where the report is and what to run next. */
export function nextSteps(workflowId: string, stages: Array<Pick<StageState, 'id' | 'type' | 'status' | 'output'>>, reportFile: string | undefined): string[] {
  const lines: string[] = [];
  if (reportFile) lines.push(`report: ${reportFile}`);
  const look = stages.find((s) => s.type === 'evaluate' && s.output) ?? stages.find((s) => s.type === 'rollout' && s.output);
  const next = [look ? `swirl show ${workflowId} ${look.id}` : '', `swirl history ${workflowId}`, reportFile ? '' : `swirl report ${workflowId}`].filter(Boolean);
  lines.push(`next: ${next.join('   ')}`);
  return lines;
}

/**
 * The report a finished run's report stage wrote (`reportPath`, see
 * activities/report.ts stageReportPath), when the run has a completed report
 * stage and the file is still there; otherwise undefined (`nextSteps` then
 * suggests `swirl report`).
 */
export function finishedReportFile(stages: Array<Pick<StageState, 'type' | 'status'>>, reportPath: string, exists: (file: string) => boolean): string | undefined {
  return stages.some((s) => s.type === 'report' && s.status === 'completed') && exists(reportPath) ? reportPath : undefined;
}

/**
 * `swirl status`'s closing lines: for a run that has ended, the same report path
 * and next command `swirl run` ends with; nothing while it runs or is paused.
 */
export function statusClosingLines(workflowId: string, status: string, stages: Array<Pick<StageState, 'id' | 'type' | 'status' | 'output'>>, reportFile: string | undefined): string[] {
  if (status === 'RUNNING' || status === 'PAUSED') return [];
  return nextSteps(workflowId, stages, reportFile);
}

/** Evaluation records as `learnedSummary` compares them: the question and the trajectory's model turns. */
export interface EvalOutputs {
  [questionId: string]: string;
}

/**
 * The run's last line for a newcomer: what training learned. For a run with a
 * train stage and evaluate stages: the reward curve's ends, accuracy of the
 * base evaluation vs the trained one, how many questions the trained policy
 * answered differently, and where the report is. Evaluations name their policy
 * (stats.policy: the train stage they evaluate, or `base`): each train stage
 * is paired with its own evaluation and the base evaluation of the same
 * questions; a run with several train stages (arms) gets one clause per arm.
 * Only when no evaluation names a policy (older runs): the first evaluation
 * vs the last.
 */
export function learnedSummary(stages: Array<Pick<StageState, 'id' | 'type' | 'status' | 'stats'>>, outputs: Record<string, EvalOutputs>, reportFile: string | undefined): string | undefined {
  const trains = stages.filter((s) => s.type === 'train' && s.status === 'completed');
  const evals = stages.filter((s) => s.type === 'evaluate' && s.status === 'completed');
  if (!trains.length) return undefined;
  const statsOf = (e: (typeof evals)[number]) => (e.stats ?? {}) as Record<string, unknown>;
  const named = evals.some((e) => typeof statsOf(e).policy === 'string');
  // The base evaluation of the same questions as the arm's (questionsKey when both record one, else data set and n).
  const sameQuestions = (x: Record<string, unknown>, y: Record<string, unknown>) =>
    typeof x.questionsKey === 'string' && typeof y.questionsKey === 'string' ? x.questionsKey === y.questionsKey : x.dataset === y.dataset && x.n === y.n;
  const clauses = trains.map((train) => {
    let pair: [(typeof evals)[number], (typeof evals)[number]] | undefined;
    if (named) {
      const own = evals.find((e) => statsOf(e).policy === train.id);
      const base = own && evals.find((e) => statsOf(e).policy === 'base' && sameQuestions(statsOf(e), statsOf(own)));
      if (own && base) pair = [base, own];
    } else if (trains.length === 1 && evals.length >= 2) pair = [evals[0]!, evals[evals.length - 1]!];
    return learnedClause(train, pair, outputs);
  });
  const body = trains.length === 1 ? clauses[0]! : trains.map((t, i) => `${t.id}: ${clauses[i] || 'trained (no curve or evaluation to show)'}`).join(' | ');
  if (!body) return undefined;
  return `learned: ${body}${reportFile ? `; report: ${reportFile}` : ''}`;
}

/** One train stage's part of `learnedSummary`: reward curve ends, accuracy before → after, changed outputs. */
function learnedClause(train: Pick<StageState, 'id' | 'stats'>, pair: [Pick<StageState, 'id' | 'stats'>, Pick<StageState, 'id' | 'stats'>] | undefined, outputs: Record<string, EvalOutputs>): string {
  const st = (train.stats ?? {}) as Record<string, unknown>;
  const curve = Array.isArray(st.curve) ? (st.curve as Array<{ meanReward?: number }>) : [];
  const rewards = curve.map((p) => num(p.meanReward) ?? 0);
  // The stored curve is thinned on long runs: the update count is the stage's own.
  const updates = num(st.iterations) ?? rewards.length;
  const parts: string[] = [];
  // SFT's curve holds the demonstrations' rewards, not sampled ones: updates only.
  if (rewards.length && st.objective === 'sft') parts.push(`${updates} SFT update${updates === 1 ? '' : 's'}`);
  else if (rewards.length) parts.push(`mean reward ${rewards[0]!.toFixed(3)} → ${rewards[rewards.length - 1]!.toFixed(3)} over ${updates} update${updates === 1 ? '' : 's'}${rewards.every((r) => r === 0) ? ' (every sampled reward was 0: nothing to learn from)' : ''}`);
  if (pair) {
    const [before, after] = pair;
    const acc = (e: typeof before) => {
      const x = (e.stats ?? {}) as Record<string, unknown>;
      return `${num(x.correct) ?? 0}/${num(x.n) ?? 0}`;
    };
    parts.push(`accuracy ${acc(before)} (${before.id}) → ${acc(after)} (${after.id})`);
    const a = outputs[before.id];
    const b = outputs[after.id];
    if (a && b) {
      const ids = Object.keys(a).filter((k) => k in b);
      const changed = ids.filter((k) => a[k] !== b[k]).length;
      parts.push(`${changed} of ${ids.length} evaluation outputs changed`);
    }
  }
  return parts.join('; ');
}

export { describeRows } from './rows.js';
