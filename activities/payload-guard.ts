// Only references travel through workflow history. An activity input or
// result above MAX_PAYLOAD_BYTES is a bug in swirl, not a retryable failure.
import { ApplicationFailure } from '@temporalio/common';
import { MAX_PAYLOAD_BYTES } from '../store/artifact-ref.js';

export function guardPayload<T>(what: string, value: T, limit = MAX_PAYLOAD_BYTES): T {
  const size = Buffer.byteLength(JSON.stringify(value) ?? '');
  if (size > limit) {
    throw ApplicationFailure.nonRetryable(`${what} is ${size} bytes, over the ${limit}-byte limit for workflow history; large data must travel as an artifact reference`, 'PayloadTooLarge');
  }
  return value;
}

/**
 * Inputs that carry bounded summaries rather than references (a train curve
 * of up to 1,000 points, a Plan's stages with their stats) may be larger than
 * MAX_PAYLOAD_BYTES; they stay far below Temporal's 2 MB payload limit.
 */
export const SUMMARY_PAYLOAD_BYTES = 1024 * 1024;

type AnyActivity = (...args: never[]) => Promise<unknown>;

/**
 * Wraps every activity so that each argument and the result pass
 * `guardPayload`: applied once where activities are created
 * (createActivities), so a new activity cannot forget it.
 */
export function guardActivities<T extends Record<string, AnyActivity>>(activities: T, inputLimits: Partial<Record<keyof T, number>> = {}): T {
  const guarded: Record<string, AnyActivity> = {};
  for (const [name, fn] of Object.entries(activities)) {
    const limit = inputLimits[name as keyof T] ?? MAX_PAYLOAD_BYTES;
    guarded[name] = async (...args: never[]) => {
      args.forEach((a, i) => guardPayload(`${name} input${args.length > 1 ? ` ${i + 1}` : ''}`, a, limit));
      return guardPayload(`${name} result`, await fn(...args));
    };
  }
  return guarded as T;
}
