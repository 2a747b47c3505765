// Which attempts of a train-loop activity count against the stage's `maxAttempts`
// (patch `train-attempts-v1`, workflows/train.ts).
//
// Temporal counts every attempt, so stopping a worker in the middle of a long
// sampling batch or trainer step (a deploy, a CI run, the end of a working
// session) spent one of the stage's attempts although nothing failed. Under the
// patch the workflow retries these activities without limit and the activity
// keeps its own count in a small JSON-lines log (one per activity and
// iteration, under the run's train folder):
//   - an attempt that ends with a retryable error counts;
//   - an attempt whose worker stopped gracefully (SIGINT/SIGTERM, `swirl worker`
//     stopped, `swirl run` interrupted) does not: the error it saw while its
//     worker was shutting down is recorded as an interruption;
//   - an attempt that left no end line (its worker was killed: kill -9, OOM, a
//     lost machine) counts, as a crash of its own may have caused it.
// The attempt that brings the count to the limit fails non-retryably with its own
// error; an attempt that starts with the limit already reached (the last counted
// one was a crash) fails with `RetriesExhausted` and the last error recorded. A
// hard cap of 100 × the limit guards against a log that cannot be written.
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { redact } from '../runtime/redact.js';

export interface AttemptLine {
  attempt: number;
  /** `start` when the attempt began; `done` / `error` / `interrupted` when it ended that way (a killed attempt writes no end). */
  event: 'start' | 'done' | 'error' | 'interrupted';
  error?: string;
}

export interface AttemptCount {
  /** Earlier attempts of this activity that count against the limit. */
  counted: number;
  /** Earlier attempts that were interrupted by a graceful worker stop. */
  interrupted: number;
  lastError?: string;
}

/** Counts the attempts before `current` recorded in `lines` (see the header for the rules). */
export function countAttempts(lines: readonly AttemptLine[], current: number): AttemptCount {
  const ends = new Map<number, AttemptLine>();
  const starts = new Set<number>();
  let latestStart = 0;
  for (const l of lines) {
    if (l.attempt >= current) continue;
    if (l.event === 'start') {
      starts.add(l.attempt);
      latestStart = Math.max(latestStart, l.attempt);
    } else if (l.attempt >= latestStart) ends.set(l.attempt, l);
    // An end written after a later attempt started (the server had given the attempt up, e.g. on
    // a heartbeat timeout, and the next one had counted it already): keep the count as it was.
  }
  let counted = 0;
  let interrupted = 0;
  let lastError: string | undefined;
  for (const a of [...new Set([...starts, ...ends.keys()])].sort((x, y) => x - y)) {
    const end = ends.get(a);
    // Finished, though its result never reached the server (killed right after): not a failure.
    if (end?.event === 'done') continue;
    if (end?.event === 'interrupted') {
      interrupted++;
      continue;
    }
    counted++;
    lastError = end?.error ?? `attempt ${a}: the worker stopped without a word (killed, or out of memory)`;
  }
  return { counted, interrupted, ...(lastError ? { lastError } : {}) };
}

function parseLines(text: string): AttemptLine[] {
  const out: AttemptLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as AttemptLine);
    } catch {
      // a line cut short by a crash
    }
  }
  return out;
}

// A worker of this process that polls the attempt's task queue and is shutting down makes the
// attempt's error an interruption. Checks of workers that have stopped answer false.
const stoppingChecks = new Map<string, Set<() => boolean>>();

/** Registers a check that says whether the worker polling `taskQueue` in this process is shutting down (worker.ts does, per worker). */
export function watchWorkerStop(taskQueue: string, isStopping: () => boolean): () => void {
  const set = stoppingChecks.get(taskQueue) ?? new Set();
  set.add(isStopping);
  stoppingChecks.set(taskQueue, set);
  return () => set.delete(isStopping);
}

export function workerStopping(taskQueue: string): boolean {
  for (const c of stoppingChecks.get(taskQueue) ?? []) if (c()) return true;
  return false;
}

/**
 * How long an attempt that failed waits before deciding whether its worker is stopping: a
 * SIGTERM to the process group reaches the trainer child too, and its exit can be seen before
 * this process's own signal handler has run.
 */
export const STOP_SETTLE_MS = 1500;

/** Where the activity's own count lives: state-dir/train/<run key>/attempts/<activity>-<iteration>.jsonl. */
export function attemptLogFile(trainFolder: string, activity: string, index: number): string {
  return path.join(trainFolder, 'attempts', `${activity}-${String(index).padStart(5, '0')}.jsonl`);
}

/** What the attempt's heartbeats carry for `swirl status` (counted failures and the limit). */
export interface AttemptNote {
  failures: number;
  limit: number;
}

const notes = new WeakMap<Context, AttemptNote>();

/** The current activity's counted failures, for its heartbeats (empty outside the patch). */
export function attemptNote(ctx: Context): { attempts?: AttemptNote } {
  const n = notes.get(ctx);
  return n ? { attempts: n } : {};
}

/**
 * Runs one attempt of a train-loop activity under the counting rules above. `limit` is the
 * stage's maxAttempts (> 0); `file` the activity's log (attemptLogFile).
 */
export async function countedAttempt<R>(file: string, limit: number, label: string, run: () => Promise<R>, settleMs = STOP_SETTLE_MS): Promise<R> {
  const ctx = Context.current();
  const attempt = ctx.info.attempt;
  // Before any file I/O: a log that cannot be written must not lift the limit.
  if (attempt > 100 * limit) throw ApplicationFailure.create({ message: `${label}: ${attempt - 1} attempts without finishing (the hard cap is 100 × maxAttempts)`, type: 'RetriesExhausted', nonRetryable: true });
  await mkdir(path.dirname(file), { recursive: true });
  let count: AttemptCount = { counted: 0, interrupted: 0 };
  if (attempt === 1) {
    // A new activity (a new iteration, or the same one scheduled again after a budget pause): a new count.
    await writeFile(file, '');
  } else {
    count = countAttempts(parseLines(await readFile(file, 'utf8').catch(() => '')), attempt);
    if (count.counted >= limit) {
      throw ApplicationFailure.create({
        message: `${label} failed ${count.counted} of ${limit} allowed attempts (${count.interrupted} more interrupted by worker stops); last error: ${count.lastError ?? 'none recorded'}`,
        type: 'RetriesExhausted',
        nonRetryable: true,
      });
    }
  }
  await appendFile(file, JSON.stringify({ attempt, event: 'start' } satisfies AttemptLine) + '\n');
  notes.set(ctx, { failures: count.counted, limit });
  // At once: until this attempt's first heartbeat the server shows the previous attempt's count.
  ctx.heartbeat(attemptNote(ctx));
  try {
    const result = await run();
    await appendFile(file, JSON.stringify({ attempt, event: 'done' } satisfies AttemptLine) + '\n').catch(() => undefined);
    return result;
  } catch (e) {
    // A non-retryable failure (bad config, a budget stop the workflow handles) passes through as it is.
    if (e instanceof ApplicationFailure && e.nonRetryable) throw e;
    const why = ctx.cancellationDetails;
    // Paused, reset or cancelled by a person or the workflow: not this attempt's failure.
    if (why?.paused || why?.reset || why?.cancelRequested) throw e;
    // The server gave this attempt up already (timed out, or it no longer knows it): its count was made by the next attempt.
    if (why?.timedOut || why?.notFound) throw e;
    const queue = ctx.info.taskQueue;
    if (!why?.workerShutdown && !workerStopping(queue)) await new Promise((r) => setTimeout(r, settleMs));
    if (why?.workerShutdown || workerStopping(queue)) {
      await appendFile(file, JSON.stringify({ attempt, event: 'interrupted' } satisfies AttemptLine) + '\n').catch(() => undefined);
      throw e;
    }
    const text = redact(errorText(e)).slice(0, 500);
    await appendFile(file, JSON.stringify({ attempt, event: 'error', error: text } satisfies AttemptLine) + '\n').catch(() => undefined);
    if (count.counted + 1 >= limit) {
      throw ApplicationFailure.create({
        message: `${label} failed ${count.counted + 1} of ${limit} allowed attempts (${count.interrupted} more interrupted by worker stops): ${text}`,
        type: e instanceof ApplicationFailure && e.type ? e.type : 'Error',
        nonRetryable: true,
        ...(e instanceof ApplicationFailure && e.details?.length ? { details: e.details } : {}),
      });
    }
    throw e;
  }
}

export function errorText(e: unknown): string {
  if (e instanceof ApplicationFailure && e.type) return `${e.type}: ${e.message}`;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
