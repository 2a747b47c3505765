// The training signal as swirl records it: the sampled action (ids and sampler log-probs,
// not the parsed and edited text), the on-policy sampler settings, the share of states with
// nothing to learn from, and the warnings status and the report print when an update
// changed nothing.
import { AIMessage } from '@langchain/core/messages';
import { describe, expect, it } from 'vitest';
import { sampledAction, trainSampler, zeroAdvantageShare, type BatchFile } from '../../activities/train.js';
import { parseAction } from '../../agents/protocol.js';
import { storedOf, messageOf } from '../../agents/ledgered-model.js';
import { curvePoint, signalWarnings } from '../../workflows/train-curve.js';
import { describeResult } from '../../cli/progress.js';
import { buildReportData } from '../../report/collect.js';
import type { PlanModel } from '../../compiler/plan-types.js';
import type { StageState } from '../../workflows/types.js';

const withIds = (tokens: Array<[string, number, number]>, content: string) =>
  new AIMessage({ content, response_metadata: { logprobs: { content: tokens.map(([token, id, logprob]) => ({ token, id, logprob })) } } });

describe('the sampled action', () => {
  it('is the sampled tokens, stop sequence included, not the parsed turn', () => {
    // The model wrote spaces inside the tag; the parser trims them and the stop sequence is not in the text.
    const msg = withIds([['<math_exp>', 10, -0.5], [' 48 / 2 ', 11, -1.25], ['</math_exp>', 12, -0.1]], '<math_exp> 48 / 2 ');
    const parsed = parseAction(String(msg.content), ['calculator', 'answer']);
    expect(parsed?.turn).toBe('<math_exp>48 / 2</math_exp>');
    const a = sampledAction(msg, 1);
    expect(a).toEqual({ text: '<math_exp> 48 / 2 </math_exp>', reward: 1, tokens: [10, 11, 12], samplerLogprobs: [-0.5, -1.25, -0.1] });
    expect(a.text).not.toBe(parsed?.turn);
  });

  it('a cut-off generation stays cut off (no closing tag added)', () => {
    const msg = withIds([['<answer>', 1, -0.2], ['7', 2, -3]], '<answer>7');
    expect(parseAction('<answer>7', ['answer'])?.turn).toBe('<answer>7</answer>');
    expect(sampledAction(msg, 0).text).toBe('<answer>7');
  });

  it('falls back to the completion text when the provider gave no token ids', () => {
    const msg = new AIMessage({ content: 'raw <answer> 5 ', response_metadata: { logprobs: { content: [{ token: 'raw', logprob: -1 }] } } });
    expect(sampledAction(msg, 0)).toEqual({ text: 'raw <answer> 5 ', reward: 0 });
    expect(sampledAction(new AIMessage('x'), 0)).toEqual({ text: 'x', reward: 0 });
    // Without ids the parsed turn is trained: the provider dropped the closing tag the model did write.
    expect(sampledAction(new AIMessage('Half: <math_exp>48/2'), 1, '<math_exp>48/2</math_exp>').text).toBe('<math_exp>48/2</math_exp>');
    expect(sampledAction(new AIMessage(''), 0).text).toBe(' ');
  });

  it('token ids survive the ledger (a resumed batch trains on the same ids)', () => {
    const msg = withIds([['a', 7, -0.25], ['b', 8, -2]], 'ab');
    const stored = storedOf(msg);
    const again = messageOf({ key: 'k', response: stored, inputTokens: 3, outputTokens: 2, latencyMs: 1 } as never);
    expect(sampledAction(again, 1)).toEqual(sampledAction(msg, 1));
  });
});

describe('the training sampler', () => {
  it('samples from the policy the trainer scores: temperature 1, no truncation; ids and log-probs from llama-cpp', () => {
    expect(trainSampler({ provider: 'llama-cpp', temperature: 0.3, topP: 0.9 } as PlanModel)).toEqual({ temperature: 1, topK: 0, topP: 1, logprobs: true });
    expect(trainSampler({ provider: 'openai-compatible' } as PlanModel).logprobs).toBe(false);
  });
});

describe('zero-advantage share', () => {
  it('counts states whose G rewards are all equal', () => {
    expect(zeroAdvantageShare([[0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 0, 0], [0.5, 0.5, 0.25, 0.5]])).toBe(0.5);
    expect(zeroAdvantageShare([])).toBe(0);
  });
});

const batch = (over: Partial<BatchFile> = {}): BatchFile => ({ path: '/b', sha256: 'x', states: 2, actions: 8, meanReward: 0.25, validActions: 1, rewards: [], ...over });

describe('curve points and warnings', () => {
  it('carries the signal measures where they were measured', () => {
    const p = curvePoint(3, batch({ zeroAdvantageStates: 0.5, unreadableVerdicts: 0 }), { loss: 0.1, kl: 0.01, gradNorm: 0.2, adapterDelta: 0.003, samplerLogprobGap: -0.04 });
    expect(p).toEqual({ iteration: 3, meanReward: 0.25, validActions: 1, loss: 0.1, kl: 0.01, zeroAdvantage: 0.5, unreadable: 0, gradNorm: 0.2, adapterDelta: 0.003, samplerGap: -0.04 });
    expect(curvePoint(1, batch(), {})).toEqual({ iteration: 1, meanReward: 0.25, validActions: 1 });
  });

  it('warns when updates changed nothing, most states had no signal, verdicts were unreadable or samples off-policy', () => {
    const w = signalWarnings([
      { iteration: 1, gradNorm: 0, adapterDelta: 0, zeroAdvantage: 1, unreadable: 0.25, samplerGap: -0.3 },
      { iteration: 2, gradNorm: 0.1, adapterDelta: 0.01, zeroAdvantage: 0.5, unreadable: 0, samplerGap: 0.01 },
    ]);
    expect(w).toHaveLength(4);
    expect(w[0]).toMatch(/^update 1 changed nothing/);
    expect(w[1]).toMatch(/^75% of the sampled states had all-equal rewards/);
    expect(w[2]).toMatch(/unreadable for up to 25%/);
    expect(w[3]).toMatch(/0\.30 nats per token/);
    expect(signalWarnings([{ iteration: 1, gradNorm: 0.3, adapterDelta: 0.02, zeroAdvantage: 0.25, unreadable: 0, samplerGap: 0.02 }])).toEqual([]);
    // Runs recorded before adapterDelta existed: a zero gradient norm says the same.
    expect(signalWarnings([{ iteration: 1, gradNorm: 0 }, { iteration: 2, gradNorm: 0 }])[0]).toMatch(/^updates 1, 2 changed nothing/);
  });

  it('status shows the warning on the train stage line', () => {
    const s = { id: 'train', type: 'train', status: 'completed', stats: { objective: 'swirl', curve: [{ iteration: 1, meanReward: 0.5, gradNorm: 0, adapterDelta: 0, zeroAdvantage: 1 }] } } as unknown as StageState;
    expect(describeResult(s)).toMatch(/warning: update 1 changed nothing/);
  });

  it('the report notes them', () => {
    const data = buildReportData({
      status: 'COMPLETED',
      stages: [{ id: 'train', type: 'train', status: 'completed', stats: { curve: [{ iteration: 1, meanReward: 0.5, gradNorm: 0, adapterDelta: 0 }] } }],
    } as never);
    expect(data.notes?.some((n) => /Training `train`: update 1 changed nothing/.test(n))).toBe(true);
  });
});
