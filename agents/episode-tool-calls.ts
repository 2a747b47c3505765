// The `tool-calls` protocol: the same SWiRL episode as agents/episode.ts, but
// actions come as the provider's native tool calls (`bindTools`, then
// `AIMessage.tool_calls`) instead of tags in the text. One tool call is run
// per turn (the first, if the model makes several); its result goes back as a
// ToolMessage. A turn without a tool call is the final answer (the text of an
// <answer> tag when there is one, else the whole text); an empty one, or one
// with a malformed call (`invalid_tool_calls`), is `no_action`. The trajectory
// is written in the tag form (assistant turns end with `<math_exp>…</math_exp>`
// / `<search_query>…</search_query>` / `<answer>…</answer>`, results as
// "QUERY -> RESULT" user turns), so decomposition, judges and training see one
// format whatever the protocol.
import { AIMessage, HumanMessage, ToolMessage, type BaseMessage } from '@langchain/core/messages';
import type { BaseChatModel } from '@langchain/core/language_models/chat_models';
import type { StructuredToolInterface } from '@langchain/core/tools';
import { startEpisode, toolObservation, turnOptions, type EpisodeOptions, type EpisodeQuestion } from './episode.js';
import { ACTION_TAGS, instructionPrompt, observationTurn, parseAction, type ToolKind } from './protocol.js';
import type { Trajectory } from './types.js';

/** The instruction for native tool calling: the tag prompt's task and question, tools described by their schemas. */
export const TOOL_CALLS_TEMPLATE = `{{task}}
Use the tools you are given when they help; call one tool per turn. When you know the answer, reply with just the answer in a few words, for example <answer>72</answer>, and no tool call. You may call tools up to {{maxSteps}} times.

Question: {{question}}`;

export async function runToolCallEpisode(model: BaseChatModel, q: EpisodeQuestion, o: EpisodeOptions): Promise<Trajectory> {
  if (typeof model.bindTools !== 'function') throw new Error(`protocol tool-calls needs a chat model with native tool calling (bindTools); ${model._llmType()} has none`);
  const byName = new Map<string, { kind: ToolKind; tool: StructuredToolInterface }>();
  for (const [kind, tool] of Object.entries(o.tools) as Array<[ToolKind, StructuredToolInterface]>) byName.set(tool.name, { kind, tool });
  const bound = model.bindTools([...byName.values()].map((t) => t.tool));
  const first = instructionPrompt({ question: q.question, tools: [...byName.values()].map((t) => t.kind), maxSteps: o.maxSteps }, o.template ?? TOOL_CALLS_TEMPLATE);
  const messages: BaseMessage[] = [new HumanMessage(first)];
  const { turns, steps, record, end: traj } = startEpisode(q, o, first);

  let toolCalls = 0;
  for (let turn = 0; ; turn++) {
    const res = (await bound.invoke(messages, turnOptions(q, o, turn))) as AIMessage;
    const text = record(res);
    const call = res.tool_calls?.[0];
    const known = call ? byName.get(call.name) : undefined;
    // A call the model began but did not write in its tool syntax is no action (as a turn without a tag is in `tags`).
    if (!call && res.invalid_tool_calls?.length) return traj('no_action', { lastText: text });
    if (!call || !known) {
      const answer = (parseAction(text, ['answer'])?.content ?? text).trim();
      if (!answer) return traj('no_action', { lastText: text });
      const turnText = `${text.includes('<answer>') ? text.slice(0, text.indexOf('<answer>')) : ''}<answer>${answer}</answer>`;
      turns.push({ role: 'assistant', content: turnText });
      steps.push({ index: turn, kind: 'answer', content: answer });
      return traj('answered', { answer });
    }
    const input = String((call.args as { input?: unknown }).input ?? JSON.stringify(call.args));
    const tag = ACTION_TAGS[known.kind];
    turns.push({ role: 'assistant', content: `${text}<${tag}>${input}</${tag}>` });
    if (toolCalls >= o.maxSteps) {
      steps.push({ index: turn, kind: known.kind, content: input });
      return traj('max_steps');
    }
    toolCalls++;
    const observation = await toolObservation(known.tool, input);
    steps.push({ index: turn, kind: known.kind, content: input, observation });
    // Only the first tool call runs: the AI message keeps just that one, so the conversation stays valid.
    messages.push(new AIMessage({ content: text, tool_calls: [{ ...call, id: call.id ?? `call_${turn}` }] }));
    messages.push(new ToolMessage({ content: observation, tool_call_id: call.id ?? `call_${turn}` }));
    turns.push({ role: 'user', content: observationTurn(input, observation) });
  }
}
