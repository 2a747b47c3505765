// The bench-local answer matchers of bench/models.ts (the official judges live elsewhere).
import { describe, expect, it } from 'vitest';
import { exactMatch, gsm8kCorrect, lastNumber, normalizeAnswer, tokenF1 } from '../../bench/models.js';

describe('bench/models matchers', () => {
  it('GSM8K: the last number in the answer equals the gold', () => {
    expect(lastNumber('$1,234.50 in total')).toBe(1234.5);
    expect(gsm8kCorrect('The answer is 18 dollars', '18')).toBe(true);
    expect(gsm8kCorrect('18.0', '18')).toBe(true);
    expect(gsm8kCorrect('3 + 4 = 7, so 70', '7')).toBe(false);
    expect(gsm8kCorrect('1,000', '1000')).toBe(true);
    expect(gsm8kCorrect('-5', '-5')).toBe(true);
    expect(gsm8kCorrect('no number', '5')).toBe(false);
    expect(gsm8kCorrect(undefined, '5')).toBe(false);
  });

  it('HotPotQA: SQuAD normalization, exact match and token F1', () => {
    expect(normalizeAnswer('The  Eiffel Tower!')).toBe('eiffel tower');
    expect(normalizeAnswer('Aaron Taylor-Johnson')).toBe('aaron taylorjohnson');
    expect(exactMatch('the Eiffel Tower', 'Eiffel Tower')).toBe(true);
    expect(exactMatch(undefined, 'x')).toBe(false);
    expect(tokenF1('Aaron Johnson', 'Aaron Taylor-Johnson')).toBeCloseTo(0.5);
    expect(tokenF1('Taylor Johnson Aaron', 'Aaron Taylor Johnson')).toBe(1);
    expect(tokenF1('yes', 'no')).toBe(0);
    expect(tokenF1('no', 'no')).toBe(1);
    expect(tokenF1('something else', 'no')).toBe(0);
  });
});
