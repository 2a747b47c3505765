// How long the server waits for an activity's next heartbeat before it takes
// the worker for dead and retries the activity elsewhere. Every swirl activity
// heartbeats at least every 2 s while it runs (activities/keep-alive.ts, and
// the progress timers of shards and train steps), so 10 s of silence means
// the process is gone (kill -9, OOM, a lost machine) — and a crash costs
// seconds rather than a stage's whole start-to-close timeout.
//
// Changing these values needs no patch marker: on replay the SDK matches a
// scheduled activity with its command by activity id and type only (sdk-core,
// activity_state_machine.rs `on_activity_task_scheduled`), never by its
// timeouts, so old histories replay; activities a running workflow schedules
// after an upgrade get the new timeout, which is what we want.
export const HEARTBEAT_TIMEOUT_MS = 10_000;

/** The heartbeat timeout for an activity with start-to-close timeout `startToCloseMs` (never longer than it). */
export function heartbeatTimeoutFor(startToCloseMs: number): number {
  return Math.min(startToCloseMs, HEARTBEAT_TIMEOUT_MS);
}

/**
 * A spec's `maxAttempts` as a retry policy field: 0 means unlimited, which Temporal writes as
 * no `maximumAttempts` at all (its SDK refuses 0 with a ValueError that failed the workflow task,
 * so a stage with `maxAttempts: 0` used to hang).
 */
export function attemptsField(maxAttempts: number): { maximumAttempts?: number } {
  return maxAttempts > 0 ? { maximumAttempts: maxAttempts } : {};
}
