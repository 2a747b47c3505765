// One SWiRL episode: the model alternates reasoning and one action per turn;
// tool actions run and come back as "QUERY -> RESULT" user turns; the episode
// ends at <answer>, at a turn with no action (no_action), or when the model
// keeps calling tools after its `maxSteps` calls (max_steps) (swirl-method.md §1.4).
// Works with any LangChain chat model.
import { createHash } from 'node:crypto';
import { AIMessage, HumanMessage, type BaseMessage } from '@langchain/core/messages';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { StructuredToolInterface } from '@langchain/core/tools';
import { ToolUnavailableError } from '../tools/errors.js';
import { instructionPrompt, observationTurn, parseAction, stopSequences, type ActionKind, type ToolKind } from './protocol.js';
import type { ChatTurn, Step, Trajectory } from './types.js';

export interface EpisodeQuestion {
  id: string;
  question: string;
  answer: string;
  dataset: string;
  /** GSM8K worked solution (its <<a*b=c>> calculations feed the reference judge). */
  solution?: string;
  /** Other accepted answers (MuSiQue): a filter's outcome judge accepts them like the evaluation does. */
  aliases?: string[];
}

export interface EpisodeOptions {
  /** Tools by protocol kind; each takes `{ input }` and returns the observation text. */
  tools: Partial<Record<ToolKind, StructuredToolInterface>>;
  maxSteps: number;
  sample: number;
  /** Base seed; each turn's seed derives from (seed, question, sample, turn). */
  seed?: number;
  temperature?: number;
  maxTokens?: number;
  template?: string;
  modelName: string;
  signal?: AbortSignal;
}

export function turnSeed(base: number, questionId: string, sample: number, turn: number): number {
  return createHash('sha256').update(`${base}:${questionId}:${sample}:${turn}`).digest().readUInt32BE(0);
}

/** Call options of one turn: sampling settings and the turn's own seed. */
export function turnOptions(q: EpisodeQuestion, o: EpisodeOptions, turn: number): Record<string, unknown> {
  return {
    ...(o.signal ? { signal: o.signal } : {}),
    temperature: o.temperature,
    maxTokens: o.maxTokens,
    seed: o.seed === undefined ? undefined : turnSeed(o.seed, q.id, o.sample, turn),
  };
}

/**
 * What both protocols build up during an episode: the transcript in tag form,
 * the steps and the token usage, and the trajectory record it ends in.
 */
/**
 * A tool call's observation: its text, or `Error: …` when it throws or times out (the episode goes on either way).
 * A tool whose backend is gone (ToolUnavailableError) fails the attempt instead.
 */
export function toolObservation(tool: StructuredToolInterface, input: string): Promise<string> {
  return tool.invoke({ input }).then(String, (e: unknown) => {
    if (e instanceof ToolUnavailableError) throw e;
    return `Error: ${e instanceof Error ? e.message : String(e)}`;
  });
}

export function startEpisode(q: EpisodeQuestion, o: EpisodeOptions, instruction: string) {
  const turns: ChatTurn[] = [{ role: 'user', content: instruction }];
  const steps: Step[] = [];
  const usage = { inputTokens: 0, outputTokens: 0, modelCalls: 0 };
  return {
    turns,
    steps,
    /** Counts one model answer's usage; returns its text. */
    record(res: AIMessage): string {
      usage.modelCalls++;
      usage.inputTokens += res.usage_metadata?.input_tokens ?? 0;
      usage.outputTokens += res.usage_metadata?.output_tokens ?? 0;
      return typeof res.content === 'string' ? res.content : JSON.stringify(res.content);
    },
    end(status: Trajectory['status'], extra: Partial<Trajectory> = {}): Trajectory {
      return {
        id: `${q.id}#${o.sample}`,
        questionId: q.id,
        dataset: q.dataset,
        sample: o.sample,
        status,
        messages: turns,
        steps,
        gold: q.answer,
        question: q.question,
        ...(q.solution ? { reference: q.solution } : {}),
        ...(q.aliases?.length ? { aliases: q.aliases } : {}),
        usage,
        model: o.modelName,
        ...extra,
      };
    },
  };
}

export async function runEpisode(model: BaseChatModel, q: EpisodeQuestion, o: EpisodeOptions): Promise<Trajectory> {
  const toolKinds = Object.keys(o.tools) as ToolKind[];
  const allowed: ActionKind[] = [...toolKinds, 'answer'];
  const first = instructionPrompt({ question: q.question, tools: toolKinds, maxSteps: o.maxSteps }, o.template);
  const messages: BaseMessage[] = [new HumanMessage(first)];
  const { turns, steps, record, end: traj } = startEpisode(q, o, first);

  let toolCalls = 0;
  for (let turn = 0; ; turn++) {
    const res = (await model.invoke(messages, { stop: stopSequences(toolKinds), ...turnOptions(q, o, turn) })) as AIMessage;
    const text = record(res);
    const action = parseAction(text, allowed);
    if (!action) return traj('no_action', { lastText: text });
    messages.push(new AIMessage(action.turn));
    turns.push({ role: 'assistant', content: action.turn });
    if (action.kind === 'answer') {
      steps.push({ index: turn, kind: 'answer', content: action.content });
      return traj('answered', { answer: action.content });
    }
    if (toolCalls >= o.maxSteps) {
      steps.push({ index: turn, kind: action.kind, content: action.content });
      return traj('max_steps');
    }
    toolCalls++;
    const tool = o.tools[action.kind]!;
    const observation = await toolObservation(tool, action.content);
    steps.push({ index: turn, kind: action.kind, content: action.content, observation });
    const obs = observationTurn(action.content, observation);
    messages.push(new HumanMessage(obs));
    turns.push({ role: 'user', content: obs });
  }
}
