// Run progress in the terminal: a bar over stages on a TTY, one plain line per
// stage change otherwise (CI logs stay readable).
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

export function describeStages(stages: StageState[]): string[] {
  return stages.flatMap((s) => {
    const mark = s.status === 'completed' ? color.green(MARK[s.status]!) : s.status === 'failed' ? color.red(MARK[s.status]!) : MARK[s.status] ?? '?';
    const took = s.startedAt && s.finishedAt ? formatMs(Date.parse(s.finishedAt) - Date.parse(s.startedAt)) : '';
    const counts = s.counts ? ` (${s.counts.succeeded} ok${s.counts.failed ? `, ${s.counts.failed} failed` : ''}${s.counts.filtered ? `, ${s.counts.filtered} filtered` : ''})` : '';
    const outp = s.output ? `${s.output.rows} ${s.output.kind === 'questions' ? 'rows' : s.output.kind}${counts}  artifact ${shortHash(s.output.hash)}` : '';
    const stats = s.stats && s.output?.kind === 'trajectories' ? `  [answered ${s.stats.answered ?? 0}, no action ${s.stats.no_action ?? 0}, max steps ${s.stats.max_steps ?? 0}; ${s.stats.toolCalls ?? 0} tool calls]` : '';
    const why = s.error ? `${s.error.type}: ${s.error.message}` : '';
    const line = `  ${mark} ${s.id} (${s.type})  ${[outp + stats, s.cached ? 'cached' : took, why].filter(Boolean).join('  ')}`.trimEnd();
    const agreement = s.type === 'filter' ? describeAgreement(s.stats) : undefined;
    return agreement ? [line, `      ${agreement}`] : [line];
  });
}
