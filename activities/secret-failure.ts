// The activity boundary of secret hygiene: every error an activity throws
// becomes the failure Temporal records in history (and the SDK logs as
// "Activity failed") only after passing through here. Its message, stack,
// details and cause chain are redacted (runtime/redact.ts); an error that
// says the endpoint refused the key (401 / 403) is not retried.
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { classifyError } from '../agents/limits.js';
import { redact, redactDeep, redactError } from '../runtime/redact.js';

/** The error an activity may throw, with nothing secret left in it. */
export function secretSafeError(e: unknown): unknown {
  if (!(e instanceof Error)) return typeof e === 'string' ? redact(e) : e;
  // Cancellation keeps its class (the SDK reports it as cancelled, not failed).
  if (e instanceof CancelledFailure || e.name === 'AbortError') return redactError(e);
  if (e instanceof ApplicationFailure) {
    const f = ApplicationFailure.create({
      message: redact(e.message),
      ...(e.type ? { type: e.type } : {}),
      nonRetryable: e.nonRetryable === true,
      ...(e.details ? { details: redactDeep([...e.details]) } : {}),
      ...(e.nextRetryDelay != null ? { nextRetryDelay: e.nextRetryDelay } : {}),
      ...(e.category ? { category: e.category } : {}),
      ...(e.cause ? { cause: secretSafeError(e.cause) as Error } : {}),
    });
    if (e.stack) f.stack = redact(e.stack);
    return f;
  }
  // A provider's refusal that reached the activity without the model's gate (activities/judge.ts, a tool): not retried either.
  const c = classifyError(e);
  if (c.kind === 'auth') {
    return ApplicationFailure.create({ message: `the endpoint refused the API key (${c.status ?? 'auth'}): ${redact(e.message)}`, type: 'ModelAuthFailed', nonRetryable: true, details: ['check the API key variable of the model in the worker\'s environment'] });
  }
  // Anything else keeps its class and retryability; only its text changes.
  return redactError(e);
}

/** The worker interceptor that applies `secretSafeError` to every activity of the worker. */
export const secretSafeActivities: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      try {
        return await next(input);
      } catch (e) {
        throw secretSafeError(e);
      }
    },
  },
});
