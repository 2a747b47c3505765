// The rollout-like stages hand the processor the Plan's episode settings,
// the protocol included (tool-calls episodes need it).
import { describe, expect, it } from 'vitest';
import { rolloutConfigOf } from '../../workflows/stages/rollout.js';
import type { StageContext } from '../../workflows/stages/context.js';

const ctx = {
  input: { plan: { models: { policy: { provider: 'openai-compatible', model: 'm' } }, tools: { calc: { kind: 'calculator' } } }, projectRoot: '/p' },
} as unknown as StageContext;

describe('rolloutConfigOf', () => {
  it('passes model, tools, limits, prompt and protocol', () => {
    const c = rolloutConfigOf(ctx, { model: 'policy', tools: ['calc'], maxSteps: 3, prompt: 'pipelines/prompts/x.txt', protocol: 'tool-calls' });
    expect(c).toEqual({ modelName: 'policy', model: { provider: 'openai-compatible', model: 'm' }, tools: { calc: { kind: 'calculator' } }, maxSteps: 3, projectRoot: '/p', promptPath: 'pipelines/prompts/x.txt', protocol: 'tool-calls' });
    expect(rolloutConfigOf(ctx, { model: 'policy', tools: ['calc'] })).not.toHaveProperty('protocol');
  });
});
