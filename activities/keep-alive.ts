// Heartbeats for activities that do not report progress themselves. Every
// activity is scheduled with a short heartbeat timeout (workflows/heartbeat.ts),
// so a worker killed in the middle of one is noticed within seconds and the
// activity retried elsewhere — instead of after its whole start-to-close
// timeout (10 minutes and more). The beat is a timer on the worker's event
// loop: it says "this process is alive and still running the activity", which
// is exactly what the server cannot tell without it.
import { Context } from '@temporalio/activity';

/** How often a kept-alive activity heartbeats; the SDK throttles what reaches the server to 80 % of the heartbeat timeout. */
export const KEEP_ALIVE_EVERY_MS = 1_000;

/** The activity context when `fn` runs as an activity; undefined when called directly (unit tests, scripts). */
function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Wraps an activity so that it heartbeats every `everyMs` while its promise is pending. */
export function keepAlive<A extends unknown[], R>(fn: (...args: A) => Promise<R>, everyMs = KEEP_ALIVE_EVERY_MS): (...args: A) => Promise<R> {
  return async (...args: A): Promise<R> => {
    const ctx = currentContext();
    if (!ctx) return fn(...args);
    ctx.heartbeat();
    const beat = setInterval(() => ctx.heartbeat(), everyMs);
    try {
      return await fn(...args);
    } finally {
      clearInterval(beat);
    }
  };
}

type AsyncFns = Record<string, (...args: never[]) => Promise<unknown>>;

/**
 * Every activity of `acts` kept alive, except those named in `selfReporting`:
 * they heartbeat with progress details (shown by `swirl status`) on their own
 * timer, and a bare keep-alive beat would replace those details.
 */
export function keepAliveAll<T extends AsyncFns>(acts: T, selfReporting: ReadonlyArray<keyof T>): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) out[name] = selfReporting.includes(name) ? fn : keepAlive(fn as (...args: unknown[]) => Promise<unknown>);
  return out as T;
}
