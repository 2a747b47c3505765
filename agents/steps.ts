// Step-wise decomposition (swirl-method.md §2): a trajectory with K actions
// becomes K (state, action) examples, the final answer included. s₁ is the
// first prompt, s_{i+1} = s_i + a_i + the tool's reply; tool replies live only
// inside states. The conversation is stored once per trajectory and each step
// names its state by prefix length, so the artifact grows linearly in K.
import type { ActionKind } from './protocol.js';
import type { ChatTurn, Trajectory, TrajectoryStatus } from './types.js';

export interface StepRecord {
  stepIndex: number;
  /** The state is `messages.slice(0, stateLength)`; the action is `messages[stateLength]`. */
  stateLength: number;
  actionKind: ActionKind;
  /** The action tag's content (expression, query, answer). */
  content: string;
  observation?: string;
  /** Process verdict, once judged. */
  verdict?: 'GOOD' | 'BAD';
  verdictReason?: string;
  /** The second judge's verdict on the same step (filter `agreement`), for judge agreement only. */
  agreementVerdict?: 'GOOD' | 'BAD';
  agreementReason?: string;
}

/** One trajectory's steps: the steps artifact holds one of these per line. */
export interface StepGroup {
  trajectoryId: string;
  questionId: string;
  dataset: string;
  sample: number;
  status: TrajectoryStatus;
  question: string;
  gold: string;
  /** Other accepted answers (from the trajectory; MuSiQue). */
  aliases?: string[];
  reference?: string;
  answer?: string;
  model: string;
  messages: ChatTurn[];
  steps: StepRecord[];
  /** Outcome check of the final answer, once judged. */
  outcome?: { correct: boolean; score: number; reason: string };
  /** Set by the filter: kept, or why not. */
  kept?: boolean;
  dropReasons?: string[];
}

/** The question as the user asked it (trajectories from older runs only have the instruction turn). */
function questionText(t: Trajectory): string {
  if (t.question) return t.question;
  const first = t.messages[0]?.content ?? '';
  const m = /Question:\s*([\s\S]*)$/.exec(first);
  return (m ? m[1]! : first).trim();
}

export function decompose(t: Trajectory): StepGroup {
  const steps: StepRecord[] = [];
  let assistantSeen = 0;
  for (let i = 0; i < t.messages.length; i++) {
    if (t.messages[i]!.role !== 'assistant') continue;
    const s = t.steps[assistantSeen];
    assistantSeen++;
    if (!s) throw new Error(`trajectory ${t.id}: model turn ${assistantSeen} has no parsed action`);
    steps.push({
      stepIndex: steps.length,
      stateLength: i,
      actionKind: s.kind,
      content: s.content,
      ...(s.observation !== undefined ? { observation: s.observation } : {}),
    });
  }
  if (steps.length !== t.steps.length) throw new Error(`trajectory ${t.id}: ${t.steps.length} actions but ${steps.length} model turns`);
  return {
    trajectoryId: t.id,
    questionId: t.questionId,
    dataset: t.dataset,
    sample: t.sample,
    status: t.status,
    question: questionText(t),
    gold: t.gold,
    ...(t.aliases?.length ? { aliases: t.aliases } : {}),
    ...(t.reference ? { reference: t.reference } : {}),
    ...(t.answer !== undefined ? { answer: t.answer } : {}),
    model: t.model,
    messages: t.messages,
    steps,
  };
}

export function stepState(g: StepGroup, i: number): ChatTurn[] {
  return g.messages.slice(0, g.steps[i]!.stateLength);
}

export function stepAction(g: StepGroup, i: number): string {
  return g.messages[g.steps[i]!.stateLength]!.content;
}

/** The self-contained (state, action) example of step i, as the method doc's record. */
export function expandStep(g: StepGroup, i: number) {
  const s = g.steps[i]!;
  return {
    trajectoryId: g.trajectoryId,
    questionId: g.questionId,
    dataset: g.dataset,
    stepIndex: s.stepIndex,
    state: stepState(g, i),
    action: stepAction(g, i),
    actionKind: s.actionKind,
    ...(s.observation !== undefined ? { observation: s.observation } : {}),
  };
}
