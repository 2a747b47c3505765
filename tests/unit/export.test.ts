import { describe, expect, it } from 'vitest';
import { pickTrainStage } from '../../cli/commands/export.js';
import type { PipelineInput } from '../../workflows/types.js';

const input = (types: Array<[string, string]>) => ({ plan: { stages: types.map(([id, type]) => ({ id, type })) } }) as unknown as PipelineInput;

describe('swirl export: which train stage', () => {
  it('takes the only train stage', () => {
    expect(pickTrainStage(input([['q', 'dataset'], ['trained', 'train']]), undefined)).toBe('trained');
  });
  it('asks for --stage when there are several, and checks the one given', () => {
    const two = input([['a', 'train'], ['b', 'train'], ['q', 'dataset']]);
    expect(() => pickTrainStage(two, undefined)).toThrow(/2 train stages/);
    expect(pickTrainStage(two, 'b')).toBe('b');
    expect(() => pickTrainStage(two, 'q')).toThrow(expect.objectContaining({ code: 'E_USAGE', hint: 'train stages: a, b' }));
  });
  it('says so when the run trained nothing', () => {
    expect(() => pickTrainStage(input([['q', 'dataset']]), undefined)).toThrow(expect.objectContaining({ code: 'E_NO_POLICY' }));
  });
});
