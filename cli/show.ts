// `swirl show`: a few rows of a stage's output, readable. Pure formatting over
// the rows of an artifact, by kind: questions, trajectories (turn by turn with
// tool calls and observations), steps (state tail, action, verdict), evaluation
// rows (gold vs predicted), anything else as JSON.
import type { ArtifactKind } from '../compiler/stage-kinds.js';
import type { StepGroup } from '../agents/steps.js';
import type { Trajectory } from '../agents/types.js';
import type { EvalRecord } from '../activities/evaluate.js';
import type { StageState } from '../workflows/types.js';
import { describeRows } from './rows.js';

/** One line of text at most `max` characters, control characters escaped, newlines shown as ⏎. */
export function oneLine(text: string, max = 160): string {
  // eslint-disable-next-line no-control-regex
  const flat = text.replace(/\r?\n/g, ' ⏎ ').replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The id a user may pick a row by (`--id`): question id, trajectory id or either. */
export function rowIds(row: unknown): string[] {
  const r = (row ?? {}) as Record<string, unknown>;
  const t = (r.trajectory ?? {}) as Record<string, unknown>;
  return [r.id, r.questionId, r.trajectoryId, t.id].filter((x): x is string => typeof x === 'string');
}

function showQuestion(q: Record<string, unknown>): string[] {
  return [`question ${String(q.id)}${q.dataset ? `  (${String(q.dataset)})` : ''}`, `  ${oneLine(String(q.question ?? ''), 400)}`, `  gold: ${oneLine(String(q.answer ?? ''))}`];
}

function showTrajectory(t: Trajectory): string[] {
  const lines = [`trajectory ${t.id}  ${t.status}  (question ${t.questionId}, sample ${t.sample}, model ${t.model})`];
  if (t.question) lines.push(`  question: ${oneLine(t.question, 400)}`);
  for (const [i, s] of t.steps.entries()) {
    lines.push(`  ${i + 1}. ${s.kind}: ${oneLine(s.content)}`);
    if (s.observation !== undefined) lines.push(`     → ${oneLine(s.observation)}`);
  }
  if (t.status === 'no_action' && t.lastText !== undefined) lines.push(`  last turn (no action): ${oneLine(t.lastText)}`);
  if (t.steps.length === 0 && t.status !== 'no_action') lines.push('  (no actions)');
  lines.push(`  answer: ${t.answer !== undefined ? oneLine(t.answer) : '–'}   gold: ${oneLine(t.gold)}   ${t.usage.modelCalls} model call(s), ${t.usage.outputTokens} tokens out`);
  return lines;
}

function showSteps(g: StepGroup): string[] {
  const lines = [`trajectory ${g.trajectoryId}  ${g.status}  ${g.steps.length} step(s)${g.kept === undefined ? '' : g.kept ? '  kept' : `  dropped (${(g.dropReasons ?? []).join('; ') || 'no reason given'})`}`];
  lines.push(`  question: ${oneLine(g.question, 400)}   gold: ${oneLine(g.gold)}`);
  for (const s of g.steps) {
    const state = g.messages.slice(0, s.stateLength);
    const tail = state[state.length - 1];
    lines.push(`  step ${s.stepIndex + 1}: state of ${state.length} message(s), ending: ${tail ? `${tail.role}: ${oneLine(tail.content, 100)}` : '–'}`);
    lines.push(`    action ${s.actionKind}: ${oneLine(s.content)}${s.observation !== undefined ? `   → ${oneLine(s.observation, 80)}` : ''}`);
    if (s.verdict) lines.push(`    verdict ${s.verdict}${s.verdictReason ? `: ${oneLine(s.verdictReason, 120)}` : ''}`);
  }
  if (g.outcome) lines.push(`  outcome: ${g.outcome.correct ? 'correct' : 'wrong'} (score ${g.outcome.score}) ${oneLine(g.outcome.reason, 120)}`);
  return lines;
}

function showEval(r: EvalRecord): string[] {
  return [
    `question ${r.questionId}  ${r.correct ? 'correct' : 'wrong'}  (${r.status}; score ${r.score}, F1 ${r.f1.toFixed(2)}; ${r.steps} action(s), ${r.toolCalls} tool call(s)${r.goodRate !== undefined ? `; process ${(100 * r.goodRate).toFixed(0)}% GOOD` : ''})`,
    `  predicted: ${r.answer !== undefined ? oneLine(r.answer) : '– (no answer)'}`,
    `  gold:      ${oneLine(r.gold)}`,
    `  judge: ${oneLine(r.reason, 200)}`,
    ...(r.trajectory?.steps ?? []).map((s, i) => `  ${i + 1}. ${s.kind}: ${oneLine(s.content, 100)}${s.observation !== undefined ? `  → ${oneLine(s.observation, 60)}` : ''}`),
  ];
}

/** Readable lines for one row of an artifact of `kind`. */
export function showRow(kind: ArtifactKind, row: unknown): string[] {
  const r = row as Record<string, unknown>;
  if (kind === 'questions') return showQuestion(r);
  if (kind === 'trajectories') return showTrajectory(row as Trajectory);
  if (kind === 'steps') return showSteps(row as StepGroup);
  if (kind === 'metrics' && typeof r.questionId === 'string' && 'correct' in r) return showEval(row as EvalRecord);
  return JSON.stringify(row, null, 2).split('\n');
}

/** The first line of `swirl show`: the stage, its rows named by what a row is, the artifact, how many are shown. */
export function showHeader(stageId: string, stage: Pick<StageState, 'type' | 'stats'> & { output: NonNullable<StageState['output']> }, shown: number, id?: string): string {
  return `${stageId} (${stage.type}): ${describeRows(stage)}, artifact ${stage.output.hash.slice(0, 12)}; showing ${shown}${id !== undefined ? ` with id ${id}` : ''}`;
}
