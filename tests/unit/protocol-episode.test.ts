import { describe, expect, it } from 'vitest';
import { tool } from '@langchain/core/tools';
import { FakeListChatModel } from '@langchain/core/utils/testing';
import { z } from 'zod';
import { instructionPrompt, parseAction, stopSequences } from '../../agents/protocol.js';
import { runEpisode, turnSeed } from '../../agents/episode.js';
import { makeTool } from '../../tools/registry.js';
import { renderPrompt } from '../../agents/llama-cpp-chat.js';
import { AIMessage, HumanMessage, SystemMessage } from '@langchain/core/messages';
import { packageRoot } from '../../runtime/paths.js';

describe('step protocol', () => {
  it('parses the first complete action and cuts the turn after it', () => {
    expect(parseAction('First the crates. <math_exp>3*12</math_exp> then more', ['calculator', 'answer'])).toEqual({ kind: 'calculator', content: '3*12', turn: 'First the crates. <math_exp>3*12</math_exp>' });
    expect(parseAction('<answer>41</answer><math_exp>1+1</math_exp>', ['calculator', 'answer'])!.kind).toBe('answer');
    // Stop sequences are dropped by providers: an unclosed final tag counts as closed.
    expect(parseAction('So: <math_exp>36+5', ['calculator', 'answer'])).toMatchObject({ kind: 'calculator', content: '36+5' });
    expect(parseAction('no tags here', ['calculator', 'answer'])).toBeUndefined();
    expect(parseAction('<answer></answer>', ['answer'])).toBeUndefined();
    // A tag of a tool the episode does not have is not an action.
    expect(parseAction('<search_query>x</search_query>', ['calculator', 'answer'])).toBeUndefined();
  });

  it('builds the instruction and stop sequences from the tools', () => {
    const p = instructionPrompt({ question: 'What is 2+2?', tools: ['calculator'], maxSteps: 10 });
    expect(p).toContain('<math_exp>');
    expect(p).toContain('up to 10 times');
    expect(p.endsWith('Question: What is 2+2?')).toBe(true);
    expect(stopSequences(['calculator'])).toEqual(['</math_exp>', '</answer>']);
    expect(instructionPrompt({ question: 'Q', tools: ['search'], maxSteps: 5 }, 'custom {{maxSteps}} {{question}}')).toBe('custom 5 Q');
  });

  it('renders Gemma and ChatML turns', () => {
    const msgs = [new SystemMessage('sys'), new HumanMessage('hi'), new AIMessage('<answer>x</answer>'), new HumanMessage('ok')];
    expect(renderPrompt(msgs, 'gemma').prompt).toBe('<start_of_turn>user\nsys\n\nhi<end_of_turn>\n<start_of_turn>model\n<answer>x</answer><end_of_turn>\n<start_of_turn>user\nok<end_of_turn>\n<start_of_turn>model\n');
    expect(renderPrompt(msgs, 'chatml').prompt).toBe('<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<answer>x</answer><|im_end|>\n<|im_start|>user\nok<|im_end|>\n<|im_start|>assistant\n');
  });
});

/** FakeListChatModel answers a call that has stop sequences with the first stop sequence; a real provider applies them. */
class ScriptedChatModel extends FakeListChatModel {
  override async _generate(messages: Parameters<FakeListChatModel['_generate']>[0], options: Parameters<FakeListChatModel['_generate']>[1], rm?: Parameters<FakeListChatModel['_generate']>[2]) {
    return super._generate(messages, { ...options, stop: undefined } as typeof options, rm);
  }
}

describe('runEpisode (scripted model)', () => {
  const calc = makeTool('calc', { kind: 'calculator' }, packageRoot);
  const q = { id: 'gsm8k/test/0', question: 'A crate holds 12 jars. Ana fills 3 crates, then adds 5 loose jars. How many jars?', answer: '41', dataset: 'gsm8k' };
  const opts = { tools: { calculator: calc.tool }, maxSteps: 10, sample: 0, modelName: 'fake' };

  it('runs tools and ends at the answer (the paper’s worked example)', async () => {
    const model = new ScriptedChatModel({ responses: ['First the crates. <math_exp>3*12', 'Now the loose jars. <math_exp>36+5', '<answer>41'] });
    const t = await runEpisode(model, q, opts);
    expect(t.status).toBe('answered');
    expect(t.answer).toBe('41');
    expect(t.steps).toEqual([
      { index: 0, kind: 'calculator', content: '3*12', observation: '36.0' },
      { index: 1, kind: 'calculator', content: '36+5', observation: '41.0' },
      { index: 2, kind: 'answer', content: '41' },
    ]);
    expect(t.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    expect(t.messages[2]!.content).toBe('3*12 -> 36.0');
    expect(t.messages[1]!.content).toBe('First the crates. <math_exp>3*12</math_exp>');
    expect(t.id).toBe('gsm8k/test/0#0');
  });

  it('ends with no_action when a turn has no tag', async () => {
    const t = await runEpisode(new ScriptedChatModel({ responses: ['I think it is 41.'] }), q, opts);
    expect(t).toMatchObject({ status: 'no_action', lastText: 'I think it is 41.', steps: [] });
  });

  it('ends with max_steps when the model calls a tool after its last allowed call', async () => {
    const t = await runEpisode(new ScriptedChatModel({ responses: ['<math_exp>1+1', '<math_exp>2+2', '<math_exp>3+3'] }), q, { ...opts, maxSteps: 2 });
    expect(t.status).toBe('max_steps');
    expect(t.steps.map((s) => s.observation)).toEqual(['2.0', '4.0', undefined]);
    expect(t.answer).toBeUndefined();
  });

  it('a tool that throws gives an error observation and the episode goes on', async () => {
    const flaky = tool(
      async ({ input }) => {
        if (input.includes('>')) throw new Error(`cannot compare in ${input}`);
        return 'ok';
      },
      { name: 'flaky', description: 'throws on >', schema: z.object({ input: z.string() }) },
    );
    const t = await runEpisode(new ScriptedChatModel({ responses: ['<math_exp>5 > 3', '<math_exp>5', '<answer>5'] }), q, { ...opts, tools: { calculator: flaky } });
    expect(t.status).toBe('answered');
    expect(t.steps.map((s) => s.observation)).toEqual(['Error: cannot compare in 5 > 3', 'ok', undefined]);
    expect(t.messages[2]!.content).toBe('5 > 3 -> Error: cannot compare in 5 > 3');
  });

  it('derives a distinct, stable seed per question, sample and turn', () => {
    expect(turnSeed(7, 'q', 0, 0)).toBe(turnSeed(7, 'q', 0, 0));
    expect(new Set([turnSeed(7, 'q', 0, 0), turnSeed(7, 'q', 1, 0), turnSeed(7, 'q', 0, 1), turnSeed(8, 'q', 0, 0)]).size).toBe(4);
  });
});
