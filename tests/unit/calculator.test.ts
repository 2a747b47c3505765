import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { calculate, evaluate, pythonFloat } from '../../tools/calculator.js';

describe('calculator', () => {
  it('computes like the paper shows', () => {
    expect(calculate('48 / 2')).toBe('24.0');
    expect(calculate('48+24')).toBe('72.0');
    expect(calculate('0.2 * 50')).toBe('10.0');
    expect(calculate('12/60')).toBe('0.2');
    expect(calculate('2^10')).toBe('1024.0');
    expect(calculate('2**3**2')).toBe('512.0');
    expect(calculate('-(3 + 4) * 2')).toBe('-14.0');
    expect(calculate('sqrt(16) + 1,500')).toBe('1504.0');
    expect(calculate('$12 * 3')).toBe('36.0');
    expect(calculate('7 % 3')).toBe('1.0');
    expect(calculate('round(2.345, 2)')).toBe('2.35');
  });

  it('returns errors as text, never throws', () => {
    expect(calculate('1/0')).toBe('Error: division by zero');
    expect(calculate('2 +')).toBe('Error: unexpected end of expression');
    expect(calculate('constructor')).toMatch(/^Error: unknown name/);
    expect(calculate('process.exit(1)')).toMatch(/^Error:/);
    expect(calculate('2^100000')).toBe('Error: exponent too large');
    expect(calculate('('.repeat(200) + '1' + ')'.repeat(200))).toBe('Error: too deeply nested');
    expect(calculate('1'.repeat(600))).toMatch(/longer than/);
  });

  it('formats floats like Python', () => {
    expect(pythonFloat(24)).toBe('24.0');
    expect(pythonFloat(-3)).toBe('-3.0');
    expect(pythonFloat(0.5)).toBe('0.5');
  });

  it('never throws on any input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'0123456789+-*/%^().,e $sqrtabmin'.split('')), maxLength: 60 }), (s) => {
        expect(typeof calculate(s)).toBe('string');
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with JavaScript on generated arithmetic', () => {
    const num = fc.integer({ min: 1, max: 999 }).map(String);
    const expr: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
      e: fc.oneof({ depthSize: 'small', withCrossShrink: true }, num, fc.tuple(tie('e'), fc.constantFrom('+', '-', '*'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`)),
    })).e;
    fc.assert(
      fc.property(expr, (e) => {
        // eslint-disable-next-line no-new-func -- the oracle only; the calculator itself never evaluates code
        const want = Function(`return ${e}`)() as number;
        expect(evaluate(e)).toBe(want);
      }),
      { numRuns: 300 },
    );
  });
});
