// What a rollout produces: one trajectory per (question, sample).
import type { ActionKind } from './protocol.js';

export type TrajectoryStatus = 'answered' | 'no_action' | 'max_steps' | 'error';

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface Step {
  /** Index of the model turn (0-based). */
  index: number;
  kind: ActionKind;
  /** The tag content: expression, query or answer. */
  content: string;
  /** Tool output for tool actions. */
  observation?: string;
}

export interface Trajectory {
  id: string;
  questionId: string;
  dataset: string;
  sample: number;
  status: TrajectoryStatus;
  /** The whole conversation: instruction, model turns, tool results. */
  messages: ChatTurn[];
  steps: Step[];
  answer?: string;
  gold: string;
  /** Other accepted answers (MuSiQue aliases), when the dataset has them. */
  aliases?: string[];
  /** The question text as the dataset gave it (judges need it without the instructions). */
  question?: string;
  /** GSM8K worked solution with its <<a*b=c>> annotations, for the reference judge. */
  reference?: string;
  /** Raw text of a final model turn that held no action (status no_action). */
  lastText?: string;
  usage: { inputTokens: number; outputTokens: number; modelCalls: number };
  model: string;
}
