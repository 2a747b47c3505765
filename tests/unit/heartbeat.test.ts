// The retry field a spec's maxAttempts becomes: 0 (unlimited) must not reach Temporal's SDK as 0.
import { compileRetryPolicy } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { attemptsField } from '../../workflows/heartbeat.js';

describe('attemptsField', () => {
  it('passes a positive maxAttempts and leaves 0 (unlimited) out', () => {
    expect(attemptsField(3)).toEqual({ maximumAttempts: 3 });
    expect(attemptsField(0)).toEqual({});
  });
  it('gives policies the SDK accepts (it refuses maximumAttempts 0)', () => {
    expect(() => compileRetryPolicy({ maximumAttempts: 0 })).toThrow(/positive integer/);
    expect(compileRetryPolicy({ ...attemptsField(0), initialInterval: 1000 }).maximumAttempts).toBeFalsy();
    expect(compileRetryPolicy({ ...attemptsField(5) }).maximumAttempts).toBe(5);
  });
});
