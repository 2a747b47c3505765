// The SWiRL step protocol (Goldie et al. 2025, §2.1, App. E–F): each model
// turn holds optional reasoning and exactly one action tag — a tool call
// (<math_exp>, <search_query>) or the final <answer>. A tool result comes back
// as a user turn "QUERY -> RESULT". The instruction text below is swirl's own
// wording of the paper's described prompt; a spec may replace it with a file.

export type ToolKind = 'calculator' | 'search';
export type ActionKind = ToolKind | 'answer';

export const ACTION_TAGS: Record<ActionKind, string> = {
  calculator: 'math_exp',
  search: 'search_query',
  answer: 'answer',
};

/** Stop sequences: decoding ends at the first closing action tag. */
export function stopSequences(tools: readonly ToolKind[]): string[] {
  return [...tools.map((t) => `</${ACTION_TAGS[t]}>`), '</answer>'];
}

const TOOL_TEXT: Record<ToolKind, (n: number) => string> = {
  calculator: (n) =>
    `You can use a calculator. To compute something, put one math expression inside math tags, like this: <math_exp>48 / 2</math_exp>. The result comes back in the next message as "48 / 2 -> 24.0". You may use the calculator up to ${n} times before answering.`,
  search: (n) =>
    `You can use a search engine. To search, put one query inside search tags, like this: <search_query>capital of Australia</search_query>. The best matching article comes back in the next message as "capital of Australia -> ARTICLE". You may search up to ${n} times before answering; do not repeat a query you already made.`,
};

export interface PromptInput {
  question: string;
  tools: readonly ToolKind[];
  maxSteps: number;
}

export const DEFAULT_TEMPLATE = `{{task}}
{{tools}}
Think step by step. In each turn, either use a tool or give the final answer, never both. When you know the answer, put it in just a few words inside answer tags, like this: <answer>72</answer>.

Question: {{question}}`;

/** The first user turn. `template` may use {{task}}, {{tools}}, {{maxSteps}} and {{question}}. */
export function instructionPrompt(p: PromptInput, template = DEFAULT_TEMPLATE): string {
  const task = p.tools.includes('calculator') && !p.tools.includes('search') ? 'Solve the following math word problem.' : 'Answer the following question.';
  const tools = p.tools.map((t) => TOOL_TEXT[t](p.maxSteps)).join('\n');
  return template
    .replaceAll('{{task}}', task)
    .replaceAll('{{tools}}', tools)
    .replaceAll('{{maxSteps}}', String(p.maxSteps))
    .replaceAll('{{question}}', p.question);
}

export interface ParsedAction {
  kind: ActionKind;
  /** The tag's content, trimmed (expression, query or answer). */
  content: string;
  /** The model turn cut after the action's closing tag (reasoning + one action). */
  turn: string;
}

/**
 * The first complete action in a model turn. Decoding stops at a closing tag
 * and providers drop the stop sequence, so an opened tag that runs to the end
 * of the text counts as closed there.
 */
export function parseAction(text: string, allowed: readonly ActionKind[]): ParsedAction | undefined {
  let best: { kind: ActionKind; open: number; start: number; end: number; close: number } | undefined;
  for (const kind of allowed) {
    const tag = ACTION_TAGS[kind];
    const open = text.indexOf(`<${tag}>`);
    if (open < 0) continue;
    const start = open + tag.length + 2;
    const closeAt = text.indexOf(`</${tag}>`, start);
    const end = closeAt < 0 ? text.length : closeAt;
    const close = closeAt < 0 ? text.length : closeAt + tag.length + 3;
    if (!best || open < best.open) best = { kind, open, start, end, close };
  }
  if (!best) return undefined;
  const content = text.slice(best.start, best.end).trim();
  if (!content) return undefined;
  // An unclosed tag only counts when nothing else follows it.
  if (best.end === text.length && /<[a-z_]+>/.test(content)) return undefined;
  const tag = ACTION_TAGS[best.kind];
  const turn = `${text.slice(0, best.open)}<${tag}>${content}</${tag}>`;
  return { kind: best.kind, content, turn };
}

/** The user turn that carries a tool result back. */
export function observationTurn(query: string, result: string): string {
  return `${query} -> ${result}`;
}
