// Throughput and back-pressure for model calls, per model name and shared by
// every activity in a worker process:
//   - concurrency: most requests in flight;
//   - requestsPerMinute / tokensPerMinute: sliding one-minute windows;
//   - retries of 429 / 408 / 5xx / timeouts / connection errors / malformed
//     bodies with exponential backoff and jitter, honouring Retry-After (which
//     also holds back the model's other requests on this worker);
//   - a circuit breaker (closed → open → half-open → closed): after
//     `breakerThreshold` failed attempts in a row the model is considered down
//     for `breakerCooldownMs` (open): calls fail at once with a ModelUnavailable
//     error whose details say `{ breaker: 'open', model, until }`. After the
//     cooldown the breaker is half-open: one probe call goes through, the others
//     wait for its outcome; a success closes the breaker, a failure opens it
//     again for another cooldown. A fan-out shard turns that error into a
//     `ModelBreakerOpen` failure and the fan-out workflow pauses the stage until
//     `until` (activities/fanout.ts, workflows/fanout.ts) instead of burning
//     retries against a dead endpoint.
// The limits are per process: with N workers, a model sees up to N× the rate.
// (Small and hand-written: the token window and the Retry-After pause are not
// things p-limit or bottleneck model directly.)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';

export interface GateLimits {
  concurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Attempts per call, the first included (default 6). */
  maxAttempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Longest Retry-After honoured inside the activity; longer waits fail the attempt (retryable) for Temporal to schedule. */
  maxRetryAfterMs?: number;
  breakerThreshold?: number;
  breakerCooldownMs?: number;
}

export type FailureKind = 'rate_limit' | 'server' | 'timeout' | 'connection' | 'malformed' | 'client' | 'auth' | 'abort' | 'internal' | 'other';

export interface ClassifiedError {
  kind: FailureKind;
  retryable: boolean;
  status?: number;
  retryAfterMs?: number;
}

function headerOf(e: unknown, name: string): string | undefined {
  const h = (e as { headers?: unknown; response?: { headers?: unknown } })?.headers ?? (e as { response?: { headers?: unknown } })?.response?.headers;
  if (!h) return undefined;
  if (typeof (h as Headers).get === 'function') return (h as Headers).get(name) ?? undefined;
  const rec = h as Record<string, string | undefined>;
  return rec[name] ?? rec[name.toLowerCase()];
}

/**
 * Google's Retry-After: the Gemini API answers 429 with a `google.rpc.RetryInfo`
 * detail (`retryDelay: "37s"`) in the body, and its SDK keeps only the body's
 * details (`errorDetails`), not the headers.
 */
function retryInfoMs(e: unknown): number | undefined {
  const details = (e as { errorDetails?: unknown })?.errorDetails;
  if (!Array.isArray(details)) return undefined;
  for (const d of details as Array<Record<string, unknown>>) {
    if (typeof d?.['@type'] !== 'string' || !d['@type'].endsWith('google.rpc.RetryInfo')) continue;
    const m = /^\s*(\d+(?:\.\d+)?)s\s*$/.exec(String(d.retryDelay ?? ''));
    if (m) return Number(m[1]) * 1000;
  }
  return undefined;
}

/** Retry-After (seconds or an HTTP date), retry-after-ms, or Google's RetryInfo, in ms. */
export function retryAfterMs(e: unknown, now = Date.now()): number | undefined {
  const info = retryInfoMs(e);
  if (info !== undefined) return info;
  const ms = headerOf(e, 'retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const v = headerOf(e, 'retry-after');
  if (!v) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.max(0, Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** swirl's own source folder (this file is in <root>/agents/). */
const swirlRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..') + path.sep;

/**
 * A bug in swirl's own code: a TypeError, ReferenceError or RangeError whose
 * innermost stack frame is a swirl source file (not a dependency under
 * node_modules, where a provider SDK's TypeError on a malformed body is the
 * provider's fault). Retrying cannot fix it.
 */
export function isProgrammingError(e: unknown): boolean {
  if (!(e instanceof TypeError || e instanceof ReferenceError || e instanceof RangeError)) {
    // An error rebuilt from another thread keeps its name and stack, not its class.
    const name = (e as { name?: unknown } | undefined)?.name;
    if (name !== 'TypeError' && name !== 'ReferenceError' && name !== 'RangeError') return false;
  }
  const stack = String((e as { stack?: unknown }).stack ?? '');
  const frame = stack.split('\n').find((l) => /^\s+at /.test(l));
  if (!frame) return false;
  const m = /\(?(?:file:\/\/)?(\/[^():]+):\d+:\d+\)?\s*$/.exec(frame);
  const file = m ? decodeURIComponent(m[1]!) : '';
  return file.startsWith(swirlRoot) && !file.slice(swirlRoot.length).split(path.sep).includes('node_modules');
}

/** Which failures of a model call are worth another attempt. */
export function classifyError(e: unknown): ClassifiedError {
  // An error classified where it happened (an episode thread's model call, agents/episode-threads.ts).
  const pre = (e as { swirlClassified?: ClassifiedError } | undefined)?.swirlClassified;
  if (pre) return pre;
  if (isProgrammingError(e)) return { kind: 'internal', retryable: false };
  const err = e as { status?: unknown; name?: string; message?: string; code?: string; cause?: { code?: string; name?: string } };
  const status = typeof err?.status === 'number' ? err.status : undefined;
  const name = err?.name ?? '';
  const msg = err?.message ?? String(e);
  if (name === 'AbortError' || /aborted/i.test(msg) && /user|signal/i.test(msg)) return { kind: 'abort', retryable: false };
  if (status !== undefined) {
    const ra = retryAfterMs(e);
    const extra = ra !== undefined ? { retryAfterMs: ra } : {};
    if (status === 429) return { kind: 'rate_limit', retryable: true, status, ...extra };
    if (status === 408 || status === 409 || status >= 500) return { kind: 'server', retryable: true, status, ...extra };
    if (status === 401 || status === 403) return { kind: 'auth', retryable: false, status };
    return { kind: 'client', retryable: false, status };
  }
  if (/timeout|timed out/i.test(name) || /timeout|timed out/i.test(msg)) return { kind: 'timeout', retryable: true };
  if (/connection|ECONNRESET|ECONNREFUSED|EPIPE|socket|fetch failed|network/i.test(`${name} ${msg} ${err?.code ?? ''} ${err?.cause?.code ?? ''}`)) return { kind: 'connection', retryable: true };
  // A provider SDK reading a malformed body fails with a TypeError inside node_modules (swirl's own are caught above).
  if (name === 'SyntaxError' || /JSON|Unexpected token|malformed|invalid response|Cannot read properties of undefined/i.test(msg)) return { kind: 'malformed', retryable: true };
  return { kind: 'other', retryable: false };
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(t);
      reject(signal!.reason ?? new Error('aborted'));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What a breaker-open failure carries (ApplicationFailure details[0]). */
export interface BreakerOpenDetails {
  breaker: 'open';
  model: string;
  /** Epoch ms when the breaker becomes half-open (a probe call may go). */
  until: number;
}

export interface GateEvent {
  model: string;
  attempt: number;
  error: ClassifiedError;
  waitMs: number;
}

/** What a model call needs from a gate: run one call under the model's limits (ModelGate, or its proxy in an episode thread). */
export interface GateRunner {
  run<T>(fn: () => Promise<T>, opts?: GateRunOptions<T>): Promise<T>;
}

export interface GateRunOptions<T> {
  signal?: AbortSignal;
  /** Counts against tokensPerMinute before the call. */
  estimateTokens?: number;
  /** Corrects the estimate after the call. */
  tokensUsed?: (r: T) => number;
}

/** One model's limits on this worker. Get it with `modelGate(name, limits)`. */
export class ModelGate implements GateRunner {
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly starts: number[] = [];
  private readonly tokens: Array<{ at: number; n: number }> = [];
  private pausedUntil = 0;
  private consecutiveFailures = 0;
  private openUntil = 0;
  /** Half-open: the one probe call in flight (others wait for it). */
  private probe: Promise<void> | undefined;
  /** Counters for tests and status: attempts, retries, waits honoured. */
  readonly counters = { attempts: 0, retries: 0, retryAfterWaits: 0, breakerOpened: 0 };
  onRetry?: (e: GateEvent) => void;

  constructor(
    readonly model: string,
    readonly limits: GateLimits = {},
    /** The name shown to users (the spec's model name); defaults to `model`. */
    readonly label: string = model,
  ) {}

  /** Runs one call under the limits, retrying what can succeed later. `estimateTokens` counts against tokensPerMinute before the call; `tokensUsed` corrects it after. */
  async run<T>(fn: () => Promise<T>, opts: GateRunOptions<T> = {}): Promise<T> {
    const maxAttempts = this.limits.maxAttempts ?? 6;
    for (let attempt = 1; ; attempt++) {
      // Half-open and a probe is out: wait for its outcome, then look again.
      while (this.probe) await this.probe;
      this.checkBreaker();
      let endProbe: (() => void) | undefined;
      if (this.breakerState() === 'half-open') this.probe = new Promise<void>((r) => (endProbe = r));
      try {
        const r = await this.attemptOnce(fn, opts, attempt, maxAttempts);
        if (r.done) return r.value;
      } finally {
        if (endProbe) {
          this.probe = undefined;
          endProbe();
        }
      }
    }
  }

  /** closed: calls go; open: calls fail at once until the cooldown ends; half-open: one probe call decides. */
  breakerState(now = Date.now()): BreakerState {
    if (this.openUntil > now) return 'open';
    return this.consecutiveFailures >= (this.limits.breakerThreshold ?? 10) ? 'half-open' : 'closed';
  }

  /** When an open breaker becomes half-open (epoch ms); 0 when it never opened. */
  get reopensAt(): number {
    return this.openUntil;
  }

  private async attemptOnce<T>(fn: () => Promise<T>, opts: GateRunOptions<T>, attempt: number, maxAttempts: number): Promise<{ done: true; value: T } | { done: false }> {
    await this.acquire(opts.signal, opts.estimateTokens ?? 0);
    let tokenEntry: { at: number; n: number } | undefined;
    if (this.limits.tokensPerMinute) {
      tokenEntry = { at: Date.now(), n: opts.estimateTokens ?? 0 };
      this.tokens.push(tokenEntry);
    }
    this.counters.attempts++;
    let failure: unknown;
    try {
      const r = await fn();
      if (tokenEntry && opts.tokensUsed) tokenEntry.n = opts.tokensUsed(r);
      this.consecutiveFailures = 0;
      this.openUntil = 0;
      return { done: true, value: r };
    } catch (e) {
      failure = e;
    } finally {
      this.release();
    }
    const e = failure;
    const c = classifyError(e);
    if (opts.signal?.aborted || c.kind === 'abort' || !c.retryable) throw e;
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= (this.limits.breakerThreshold ?? 10)) {
      this.openUntil = Date.now() + (this.limits.breakerCooldownMs ?? 30_000);
      this.counters.breakerOpened++;
      this.checkBreaker(e);
    }
    if (attempt >= maxAttempts) throw unavailable(this.label, `gave up after ${attempt} attempts: ${describe(c, e)}`, c.retryAfterMs);
    let wait = Math.min(this.limits.maxDelayMs ?? 20_000, (this.limits.baseDelayMs ?? 500) * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
    if (c.retryAfterMs !== undefined) {
      if (c.retryAfterMs > (this.limits.maxRetryAfterMs ?? 60_000)) throw unavailable(this.label, `asked to wait ${Math.round(c.retryAfterMs / 1000)} s: ${describe(c, e)}`, c.retryAfterMs);
      wait = Math.max(wait, c.retryAfterMs);
      this.counters.retryAfterWaits++;
      // The endpoint asked this client to hold back: the model's other calls wait too.
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + c.retryAfterMs);
    }
    this.counters.retries++;
    this.onRetry?.({ model: this.model, attempt, error: c, waitMs: wait });
    await sleep(wait, opts.signal);
    return { done: false };
  }

  private checkBreaker(cause?: unknown): void {
    const left = this.openUntil - Date.now();
    if (left > 0) {
      const details: BreakerOpenDetails = { breaker: 'open', model: this.label, until: this.openUntil };
      throw unavailable(this.label, `circuit open after ${this.consecutiveFailures} failed attempts in a row${cause ? ` (last: ${(cause as Error).message ?? cause})` : ''}; retrying in ${Math.ceil(left / 1000)} s`, left, details);
    }
  }

  private async acquire(signal: AbortSignal | undefined, tokens: number): Promise<void> {
    const cap = this.limits.concurrency ?? Infinity;
    while (this.inFlight >= cap) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    try {
      for (;;) {
        const now = Date.now();
        let wait = this.pausedUntil - now;
        while (this.starts.length && this.starts[0]! <= now - 60_000) this.starts.shift();
        while (this.tokens.length && this.tokens[0]!.at <= now - 60_000) this.tokens.shift();
        const rpm = this.limits.requestsPerMinute;
        if (rpm && this.starts.length >= rpm) wait = Math.max(wait, this.starts[this.starts.length - rpm]! + 60_000 - now);
        const tpm = this.limits.tokensPerMinute;
        if (tpm && this.tokens.length) {
          const used = this.tokens.reduce((a, t) => a + t.n, 0);
          // A single call larger than the budget still runs, alone in its window.
          if (used + tokens > tpm) wait = Math.max(wait, this.tokens[0]!.at + 60_000 - now);
        }
        if (wait <= 0) break;
        await sleep(wait, signal);
      }
      this.starts.push(Date.now());
    } catch (e) {
      this.release();
      throw e;
    }
  }

  private release(): void {
    this.inFlight--;
    this.waiting.shift()?.();
  }
}

function describe(c: ClassifiedError, e: unknown): string {
  return `${c.kind}${c.status ? ` ${c.status}` : ''}: ${((e as Error).message ?? String(e)).slice(0, 300)}`;
}

/** A retryable activity failure: Temporal retries the shard (after `delayMs` when known). */
function unavailable(model: string, message: string, delayMs?: number, details?: BreakerOpenDetails): ApplicationFailure {
  return ApplicationFailure.create({
    message: `model ${model} unavailable: ${message}`,
    type: 'ModelUnavailable',
    nonRetryable: false,
    ...(delayMs !== undefined && delayMs > 0 ? { nextRetryDelay: Math.ceil(delayMs) } : {}),
    ...(details ? { details: [details] } : {}),
  });
}

/** The breaker details of an error thrown by an open breaker (through any `cause` chain), else undefined. */
export function breakerOpenOf(e: unknown): BreakerOpenDetails | undefined {
  for (let cur = e, depth = 0; cur && depth < 8; cur = (cur as { cause?: unknown }).cause, depth++) {
    const d = (cur as { type?: string; details?: unknown[] }).type === 'ModelUnavailable' ? (cur as { details?: unknown[] }).details?.[0] : undefined;
    if (d && typeof d === 'object' && (d as BreakerOpenDetails).breaker === 'open') return d as BreakerOpenDetails;
  }
  return undefined;
}

const gates = new Map<string, ModelGate>();

/** The process-wide gate of a model (by spec model name); limits given first win until `resetGates()`. */
export function modelGate(name: string, limits: GateLimits = {}, label?: string): ModelGate {
  let g = gates.get(name);
  if (!g) {
    g = new ModelGate(name, limits, label);
    gates.set(name, g);
  }
  return g;
}

let runnerFactory: ((name: string, limits: GateLimits, label?: string) => GateRunner) | undefined;

/**
 * The gate model calls go through: the process-wide `modelGate`, unless this
 * is an episode thread, whose calls go through the worker's gates on the main
 * thread (agents/episode-threads.ts sets the factory there).
 */
export function gateRunner(name: string, limits: GateLimits = {}, label?: string): GateRunner {
  return runnerFactory ? runnerFactory(name, limits, label) : modelGate(name, limits, label);
}

export function setGateRunnerFactory(f: typeof runnerFactory): void {
  runnerFactory = f;
}

export function resetGates(): void {
  gates.clear();
}
