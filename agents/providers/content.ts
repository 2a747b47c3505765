// Hosted chat APIs answer in content blocks (Anthropic: `text` + `tool_use`;
// Gemini: `text` + `functionCall` parts, maybe `thinking`). swirl's episodes,
// judges and the LLM call ledger work on one text per turn plus `tool_calls`,
// so the providers flatten an answer: the text blocks joined, tool calls kept
// in `tool_calls`, everything else (thinking, citations) dropped.
import { AIMessage, type MessageContent } from '@langchain/core/messages';
import type { ChatResult } from '@langchain/core/outputs';

/** The text of a message's content: a string as is, the `text` blocks of a block list joined. */
export function textOf(content: MessageContent): string {
  if (typeof content === 'string') return content;
  return (content as unknown[])
    .map((b) => {
      if (typeof b === 'string') return b;
      const block = b as { type?: string; text?: unknown };
      return block.type === 'text' && typeof block.text === 'string' ? block.text : '';
    })
    .join('');
}

/** A chat result whose messages hold plain text; `toolCallId` may replace the tool call ids. */
export function flattenResult(result: ChatResult, toolCallId?: (call: { name: string; args: Record<string, unknown> }, index: number) => string): ChatResult {
  return {
    ...result,
    generations: result.generations.map((g) => {
      const m = g.message as AIMessage;
      const text = textOf(m.content);
      const message = new AIMessage({
        content: text,
        ...(m.tool_calls?.length ? { tool_calls: m.tool_calls.map((t, i) => ({ ...t, id: toolCallId ? toolCallId(t, i) : t.id })) } : {}),
        ...(m.usage_metadata ? { usage_metadata: m.usage_metadata } : {}),
        response_metadata: m.response_metadata,
        ...(m.id ? { id: m.id } : {}),
      });
      return { ...g, text, message };
    }),
  };
}
