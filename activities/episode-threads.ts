// Episode threads: the rollout processor's episodes on worker threads.
//
// Against a remote endpoint (openai-compatible, openai, anthropic, google) an
// episode's cost on the worker is CPU: LangChain messages, the SDK's request
// and response handling, the ledger's hashing and SQLite writes, the tag
// parser. On one thread that caps a worker at what one core can do, however
// fast the endpoint is. With `episodeThreads` > 0 (default: the machine's
// cores, at most 4; `SWIRL_EPISODE_THREADS` or `swirl worker
// --episode-threads N`) a shard hands each eligible episode to one of N
// threads and keeps the rest on the main thread: the activity, its scratch
// file and heartbeats, and every model's gate (concurrency, rate limits,
// retries, the breaker), so the limits stay per worker, not per thread.
//
// Per model call the thread asks the main thread's gate to run it: the gate
// decides when (and whether, and how often) the call goes, and for each
// attempt asks the thread to make it (`exec`); the thread answers with the
// tokens used or the error, already classified (limits.ts `classifyError`).
// The result itself stays in the thread. Each thread opens its own
// connection to the worker's SQLite ledger (WAL; claims are per thread, so
// two threads never pay for the same call twice).
//
// Eligible: a remote provider, tools that are all `calculator` or `search`,
// a file-backed ledger. Everything else — the embedded llama.cpp model (one
// copy in memory, its own native threads), MCP tools (one client per
// worker), in-memory ledgers of tests — runs on the main thread as before.
import { availableParallelism } from 'node:os';
import { SHARE_ENV, Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { budgetScope, type RunBudget } from '../agents/budget.js';
import { modelGate, type ClassifiedError, type GateLimits } from '../agents/limits.js';
import type { ItemContext, ItemOutcome, ItemProcessor } from './fanout.js';
import type { RolloutConfig } from './rollout.js';
import { redact, redactDeep, registerSecretEnv } from '../runtime/redact.js';

const REMOTE = new Set(['openai', 'openai-compatible', 'anthropic', 'google']);
const THREAD_TOOLS = new Set(['calculator', 'search']);

/** Threads by default: the machine's cores, at most 4; SWIRL_EPISODE_THREADS overrides (0 turns them off). */
export function defaultEpisodeThreads(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.SWIRL_EPISODE_THREADS;
  if (v !== undefined && v !== '') {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`SWIRL_EPISODE_THREADS must be a whole number ≥ 0, got ${JSON.stringify(v)}`);
    return n;
  }
  return Math.min(4, availableParallelism());
}

/** Whether a rollout item with this config may run on an episode thread. */
export function threadEligible(cfg: RolloutConfig): boolean {
  return REMOTE.has(cfg.model.provider) && !cfg.loraPath && Object.values(cfg.tools).every((t) => THREAD_TOOLS.has((t as { kind?: string }).kind ?? ''));
}

// --- errors across the thread boundary ---

export interface WireError {
  message: string;
  name?: string;
  stack?: string;
  /** Set for an ApplicationFailure. */
  failure?: { type?: string | null; nonRetryable: boolean; details?: unknown[]; nextRetryDelay?: unknown };
  classified?: ClassifiedError;
}

/**
 * An error as a structured-clone-safe object (details that cannot be cloned
 * become their JSON), redacted: a thread redacts with the keys it resolved
 * itself, before anything leaves it.
 */
export function toWire(e: unknown, classified?: ClassifiedError): WireError {
  const err = e instanceof Error ? e : new Error(String(e));
  const w: WireError = { message: redact(err.message), name: err.name, ...(err.stack ? { stack: redact(err.stack) } : {}), ...(classified ? { classified } : {}) };
  if (e instanceof ApplicationFailure) {
    let details: unknown[] | undefined = e.details ? redactDeep([...e.details]) : undefined;
    try {
      structuredClone(details);
    } catch {
      details = details && JSON.parse(JSON.stringify(details));
    }
    w.failure = { type: e.type, nonRetryable: e.nonRetryable === true, ...(details ? { details } : {}), ...(e.nextRetryDelay != null ? { nextRetryDelay: e.nextRetryDelay } : {}) };
  }
  return w;
}

/** The error again: an ApplicationFailure with its type, retryability and details, else an Error with its name and message. */
export function fromWire(w: WireError): Error {
  let e: Error;
  if (w.failure) {
    e = ApplicationFailure.create({
      message: w.message,
      ...(w.failure.type ? { type: w.failure.type } : {}),
      nonRetryable: w.failure.nonRetryable,
      ...(w.failure.details ? { details: w.failure.details } : {}),
      ...(w.failure.nextRetryDelay != null ? { nextRetryDelay: w.failure.nextRetryDelay as number } : {}),
    });
  } else {
    e = new Error(w.message);
    if (w.name) e.name = w.name;
  }
  if (w.stack) e.stack = w.stack;
  if (w.classified) (e as { swirlClassified?: ClassifiedError }).swirlClassified = w.classified;
  return e;
}

// --- messages ---

export interface ItemMessage {
  t: 'item';
  id: number;
  item: unknown;
  ctx: Omit<ItemContext, 'signal'>;
  /** The worker's SQLite ledger file: the thread opens its own connection to it (once per file). */
  ledgerFile: string;
  budget?: { runId: string; budget: RunBudget };
}
export type ToThread = ItemMessage | { t: 'abort'; id: number } | { t: 'exec'; call: number; attempt: number } | { t: 'gateDone'; call: number; error?: WireError; fromAttempt?: number };
export type FromThread =
  | { t: 'result'; id: number; outcome: ItemOutcome }
  | { t: 'error'; id: number; error: WireError }
  | { t: 'gate'; id: number; call: number; gate: string; limits: GateLimits; label?: string; estimateTokens?: number }
  | { t: 'execDone'; call: number; attempt: number; tokens?: number; error?: WireError };

// --- the pool (main thread) ---

interface Pending {
  resolve(o: ItemOutcome): void;
  reject(e: unknown): void;
  signal: AbortSignal;
  thread: Thread;
}

interface Thread {
  /** Tells threads apart in `execs` (call numbers are per thread). */
  n: number;
  worker: Worker;
  inFlight: number;
  dead: boolean;
  idle?: NodeJS.Timeout;
}

export interface EpisodeThreadOptions {
  threads: number;
  modelsDir: string;
  /** An idle thread ends after this long (default 10 min); the next item starts a new one. */
  idleMs?: number;
}

const bootFile = fileURLToPath(new URL('./episode-thread-boot.mjs', import.meta.url));

/** A pool of episode threads for one worker; threads start on first use and do not keep the process alive. */
export class EpisodeThreads {
  private readonly threads: Thread[] = [];
  private readonly pending = new Map<number, Pending>();
  /** Attempts the main thread's gates asked a thread to make. */
  private readonly execs = new Map<string, { resolve(tokens: number): void; reject(e: unknown): void }>();
  private nextId = 1;
  private nextThread = 1;
  private closed = false;
  /** Items finished on threads (tests and benches read it). */
  readonly counters = { items: 0, calls: 0 };

  constructor(readonly opts: EpisodeThreadOptions) {}

  /** Runs one rollout item on the least busy thread, with its model calls in `ledgerFile`. */
  run(item: unknown, ctx: ItemContext, ledgerFile: string): Promise<ItemOutcome> {
    if (this.closed) return Promise.reject(new Error('episode threads are closed'));
    ctx.signal.throwIfAborted();
    const thread = this.pick();
    const id = this.nextId++;
    const scope = budgetScope();
    const { signal, ...plain } = ctx;
    return new Promise<ItemOutcome>((resolve, reject) => {
      const onAbort = () => thread.worker.postMessage({ t: 'abort', id } satisfies ToThread);
      signal.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        if (--thread.inFlight === 0 && !thread.dead) {
          thread.idle = setTimeout(() => this.retire(thread), this.opts.idleMs ?? 600_000);
          thread.idle.unref();
        }
      };
      this.pending.set(id, {
        resolve: (o) => {
          done();
          this.counters.items++;
          resolve(o);
        },
        reject: (e) => {
          done();
          reject(e);
        },
        signal,
        thread,
      });
      thread.inFlight++;
      clearTimeout(thread.idle);
      thread.worker.postMessage({ t: 'item', id, item, ctx: plain, ledgerFile, ...(scope ? { budget: scope } : {}) } satisfies ToThread);
    });
  }

  /** Stops every thread; items in flight fail (their shard is retried and resumes from its scratch file). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.threads) clearTimeout(t.idle);
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.threads.length = 0;
  }

  get size(): number {
    return this.threads.filter((t) => !t.dead).length;
  }

  private retire(thread: Thread): void {
    if (thread.inFlight > 0 || thread.dead) return;
    thread.dead = true;
    const i = this.threads.indexOf(thread);
    if (i >= 0) this.threads.splice(i, 1);
    void thread.worker.terminate();
  }

  private pick(): Thread {
    for (let i = this.threads.length - 1; i >= 0; i--) if (this.threads[i]!.dead) this.threads.splice(i, 1);
    if (this.threads.length < this.opts.threads) this.spawn();
    return this.threads.reduce((a, b) => (b.inFlight < a.inFlight ? b : a));
  }

  private spawn(): Thread {
    const worker = new Worker(bootFile, {
      workerData: { modelsDir: this.opts.modelsDir },
      // API keys are read from the worker's environment when a model is built: share it, do not copy it.
      env: SHARE_ENV,
      execArgv: [],
      stdout: false,
      stderr: false,
    });
    const thread: Thread = { n: this.nextThread++, worker, inFlight: 0, dead: false };
    worker.on('message', (m: FromThread) => this.onMessage(thread, m));
    const fail = (why: string) => {
      if (thread.dead) return;
      thread.dead = true;
      const err = () => new Error(`episode thread ${why}; the shard will be retried`);
      for (const [, p] of this.pending) if (p.thread === thread) p.reject(err());
      // Attempts the gates wait for from this thread end too (an abort: not retried, the slot freed).
      for (const [k, x] of this.execs)
        if (k.startsWith(`${thread.n}:`)) {
          this.execs.delete(k);
          x.reject(Object.assign(err(), { swirlClassified: { kind: 'abort', retryable: false } }));
        }
    };
    worker.on('error', (e) => fail(`failed: ${e.message}`));
    worker.on('exit', (code) => fail(`exited (${code})`));
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.threads.push(thread);
    return thread;
  }

  private onMessage(thread: Thread, m: FromThread): void {
    switch (m.t) {
      case 'result':
        this.pending.get(m.id)?.resolve(m.outcome);
        return;
      case 'error':
        this.pending.get(m.id)?.reject(fromWire(m.error));
        return;
      case 'execDone': {
        const k = `${thread.n}:${m.call}:${m.attempt}`;
        const x = this.execs.get(k);
        this.execs.delete(k);
        if (m.error) {
          const e = fromWire(m.error);
          (e as { swirlAttempt?: number }).swirlAttempt = m.attempt;
          x?.reject(e);
        }
        else x?.resolve(m.tokens ?? 0);
        return;
      }
      case 'gate': {
        // One model call of an episode, under this worker's gate of that model.
        const gate = modelGate(m.gate, m.limits, m.label);
        const signal = this.pending.get(m.id)?.signal;
        let attempt = 0;
        this.counters.calls++;
        gate
          .run(
            () =>
              new Promise<number>((resolve, reject) => {
                attempt++;
                this.execs.set(`${thread.n}:${m.call}:${attempt}`, { resolve, reject });
                thread.worker.postMessage({ t: 'exec', call: m.call, attempt } satisfies ToThread);
              }),
            { ...(signal ? { signal } : {}), ...(m.estimateTokens !== undefined ? { estimateTokens: m.estimateTokens } : {}), tokensUsed: (n) => n },
          )
          .then(
            () => thread.worker.postMessage({ t: 'gateDone', call: m.call, fromAttempt: attempt } satisfies ToThread),
            (e: unknown) => {
              // The attempt's own error (not retryable, or aborted) goes back as the thread's original error; the gate's own failures (gave up, breaker open) as themselves.
              const own = (e as { swirlAttempt?: number }).swirlAttempt;
              thread.worker.postMessage({ t: 'gateDone', call: m.call, ...(own ? { fromAttempt: own } : { error: toWire(e) }) } satisfies ToThread);
            },
          );
        return;
      }
    }
  }
}

const pools = new Map<string, EpisodeThreads>();

/** The process's pool for these options (the workers of one process share their threads, whatever their ledgers). */
export function episodeThreadsFor(opts: EpisodeThreadOptions): EpisodeThreads {
  const key = JSON.stringify([opts.threads, opts.modelsDir]);
  let p = pools.get(key);
  if (!p) {
    p = new EpisodeThreads(opts);
    pools.set(key, p);
  }
  return p;
}

/**
 * The rollout processor with eligible items on episode threads (the others on
 * `inline`). `threads` 0 returns `inline` itself.
 */
export function threadedRolloutProcessor(inline: ItemProcessor, pool: EpisodeThreads | undefined, ledgerFile: string | (() => string)): ItemProcessor {
  if (!pool || pool.opts.threads <= 0) return inline;
  return (item, ctx) => {
    const cfg = ctx.config as unknown as RolloutConfig;
    if (!threadEligible(cfg)) return inline(item, ctx);
    // The thread reads the key (shared environment); this thread must know it too, to redact what the shard reports.
    if (cfg.model.apiKeyEnv) registerSecretEnv(cfg.model.apiKeyEnv);
    return pool.run(item, ctx, typeof ledgerFile === 'function' ? ledgerFile() : ledgerFile);
  };
}
