// The LLM call ledger: every model call is recorded under the sha256 of its
// canonical request (provider, model, parameters, messages, seed, sample key,
// adapter identity). A retried activity, a resumed run or a rerun finds the
// completed call here and reuses its response instead of calling (and paying)
// again. The ledger also records tokens, latency and cost per call, and every
// use of a call by a run and stage, which `swirl status` / `history` show.
//
// Tables (the SQLite implementation in ledger-sqlite.ts; MemoryLedger below
// keeps the same three lists):
//   calls        one row per key: the first completed response (the cache)
//   completions  append-only: one row per inner-model call that returned,
//                so a call paid twice would show as two rows for one key
//   attempts     one row per inner-model call that started (a request sent,
//                which a provider may bill), with its outcome once known:
//                answered, failed (an error came back), or none — still in
//                flight, or lost to a crash mid-flight and maybe billed
//   uses         append-only: one row per call a run asked for, reused or not
//   claims       one row per call in flight: who is making it, until when
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';

export type CallPurpose = 'rollout' | 'judge' | 'eval' | 'sample' | 'reward';

/** Everything that determines a model's answer. Only JSON values. */
export interface LedgerRequest {
  provider: string;
  model: string;
  /** Sampling and decoding parameters: temperature, maxTokens, topP, stop, tools, … (undefined values are dropped). */
  params: Record<string, unknown>;
  /** The conversation in a canonical JSON form (see agents/ledgered-model.ts). */
  messages: unknown[];
  seed?: number;
  /** Distinguishes samples that would otherwise send identical requests (e.g. `question#sample`). */
  sampleKey?: string;
  /** Identity (content hash) of a LoRA adapter or other weights on top of `model`. */
  adapter?: string;
}

/** Who asked: recorded with each use, never part of the key. */
export interface CallMeta {
  purpose: CallPurpose;
  runId?: string;
  stageId?: string;
}

export interface CompletedCall {
  key: string;
  provider: string;
  model: string;
  purpose: CallPurpose;
  runId?: string;
  stageId?: string;
  /** The model's answer as JSON (a LangChain StoredMessage for chat models). */
  response: unknown;
  inputTokens: number;
  outputTokens: number;
  latencyMs: number;
  costUsd: number;
  /** ISO time the call completed. */
  completedAt: string;
}

export interface UsageTotals {
  /** Calls this run made (paid for). */
  calls: number;
  /** Calls this run got from the ledger without calling the model. */
  reused: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  /** Sum of model latency of the calls made. */
  latencyMs: number;
}

/** Requests sent to a model for a run (one per attempt, retries and calls lost to crashes included). */
export interface AttemptTotals {
  /** Every request sent. */
  sent: number;
  /** Requests that came back with an answer. */
  answered: number;
  /** Requests that came back with an error (429, 5xx, a refused key …). */
  failed: number;
  /** Requests with no outcome yet whose process is alive. */
  inFlight: number;
  /** Requests with no outcome whose process died (a kill -9 mid-call): the provider may have billed them. */
  lost: number;
  /** What the lost requests may have cost: their estimated prompt tokens plus maxTokens, and that at the model's price. */
  lostTokens: number;
  lostCostUsd: number;
}

export interface LedgerStats extends UsageTotals {
  /** The same totals per stage id (`-` for calls without one). */
  byStage: Record<string, UsageTotals>;
  /** Requests sent for these calls (paid attempts, maybe billed = answered + in flight + lost). */
  attempts: AttemptTotals;
}

export function emptyAttempts(): AttemptTotals {
  return { sent: 0, answered: 0, failed: 0, inFlight: 0, lost: 0, lostTokens: 0, lostCostUsd: 0 };
}

/** What an attempt may cost if it is never answered (recorded when it starts). */
export interface AttemptEstimate {
  tokens: number;
  costUsd: number;
}

export type AttemptOutcome = 'answered' | 'failed';

export interface AuditCounts {
  /** Distinct keys with a completed call. */
  keys: number;
  /** Inner-model calls that returned (over all processes). */
  completions: number;
  /** Inner-model calls that started. */
  attempts: number;
  /** Keys whose model call completed more than once (should be empty). */
  duplicated: string[];
}

/** Who holds a call in flight: `host:pid` (liveness of a local holder is checked with its pid). */
export type ClaimResult = { claimed: true } | { claimed: false; owner: string; expiresAt: number };

export interface LlmLedger {
  /** 'sqlite' | 'memory' | … */
  readonly kind: string;
  lookup(key: string): Promise<CompletedCall | undefined>;
  /**
   * Takes (or renews) the right to call the model for `key` for `ttlMs`. Fails
   * while another owner's lease is valid: a live process elsewhere is making
   * the same call (two attempts of one shard after a heartbeat timeout), and
   * waiting for its result is cheaper than paying twice. A lease of a dead
   * local process, or an expired one, is taken over.
   */
  claim(key: string, owner: string, ttlMs: number): Promise<ClaimResult>;
  release(key: string, owner: string): Promise<void>;
  /** An inner-model call is about to start; returns the attempt's id for `finishAttempt`. */
  recordAttempt(key: string, meta: CallMeta, estimate?: AttemptEstimate): Promise<number>;
  /** The attempt came back (an answer or an error). An attempt never finished was lost in flight. */
  finishAttempt(id: number, outcome: AttemptOutcome): Promise<void>;
  /** Stores a completed call and returns what the ledger holds for the key (the first completion wins). */
  recordCompletion(call: CompletedCall): Promise<CompletedCall>;
  /** A run used a call: `reused` when it came from the ledger. */
  recordUse(key: string, meta: CallMeta, reused: boolean): Promise<void>;
  /** Totals, for one run or for everything. */
  stats(filter?: { runId?: string }): Promise<LedgerStats>;
  /** Exactly-once evidence: completions and attempts per key. */
  audit(): Promise<AuditCounts>;
  close(): void;
}

/** JSON with sorted keys and undefined dropped: equal requests give equal text. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(sortDeep(v));
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : sortDeep(x)));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortDeep(x);
    }
    return out;
  }
  return v;
}

/** The ledger key of a request (version-prefixed so a format change cannot collide with old keys). */
export function ledgerKey(req: LedgerRequest): string {
  return createHash('sha256').update(canonicalJson({ v: 1, ...req })).digest('hex');
}

export interface ModelPrice {
  /** USD per million input tokens. */
  inputPerMTok: number;
  /** USD per million output tokens. */
  outputPerMTok: number;
}

export function callCost(price: ModelPrice | undefined, inputTokens: number, outputTokens: number): number {
  if (!price) return 0;
  return (inputTokens * price.inputPerMTok + outputTokens * price.outputPerMTok) / 1e6;
}

export function emptyTotals(): UsageTotals {
  return { calls: 0, reused: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, latencyMs: 0 };
}

/** Adds attempts to totals: answered, failed, or with no outcome (in flight while `pid` lives, lost after). */
export function addAttempt(t: AttemptTotals, outcome: AttemptOutcome | null, pid: number, estTokens: number, estCostUsd: number, n = 1): void {
  t.sent += n;
  if (outcome === 'answered') t.answered += n;
  else if (outcome === 'failed') t.failed += n;
  else if (processAlive(pid)) t.inFlight += n;
  else {
    t.lost += n;
    t.lostTokens += estTokens;
    t.lostCostUsd += estCostUsd;
  }
}

/** Whether a process of this machine lives (the ledger is a local file: its writers are local). */
function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Adds one use to totals (tokens and cost count only for calls made). */
export function addUse(t: UsageTotals, call: Pick<CompletedCall, 'inputTokens' | 'outputTokens' | 'costUsd' | 'latencyMs'> | undefined, reused: boolean): void {
  if (reused) {
    t.reused++;
    return;
  }
  t.calls++;
  if (!call) return;
  t.inputTokens += call.inputTokens;
  t.outputTokens += call.outputTokens;
  t.costUsd += call.costUsd;
  t.latencyMs += call.latencyMs;
}

/** This process (and thread: episode threads claim apart from the main thread) as a claim owner: `host:pid` or `host:pid/thread`. */
export const LOCAL_OWNER = `${hostname()}:${process.pid}${threadId ? `/${threadId}` : ''}`;

/** A claim by `owner` can be taken over when it expired or its (local) process is gone. */
export function claimIsStale(owner: string, expiresAt: number, now = Date.now()): boolean {
  if (expiresAt <= now) return true;
  const at = owner.lastIndexOf(':');
  if (owner.slice(0, at) !== hostname()) return false;
  const pid = Number(owner.slice(at + 1).split('/')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** The in-memory ledger: same behaviour, nothing durable (tests, one-off tools). */
export class MemoryLedger implements LlmLedger {
  readonly kind = 'memory';
  private readonly calls = new Map<string, CompletedCall>();
  private readonly completions: Array<{ key: string }> = [];
  private readonly attempts: Array<{ key: string; meta: CallMeta; estimate?: AttemptEstimate; outcome?: AttemptOutcome; pid: number }> = [];
  private readonly uses: Array<{ key: string; meta: CallMeta; reused: boolean }> = [];
  private readonly claims = new Map<string, { owner: string; expiresAt: number }>();

  async claim(key: string, owner: string, ttlMs: number): Promise<ClaimResult> {
    const c = this.claims.get(key);
    if (c && c.owner !== owner && !claimIsStale(c.owner, c.expiresAt)) return { claimed: false, owner: c.owner, expiresAt: c.expiresAt };
    this.claims.set(key, { owner, expiresAt: Date.now() + ttlMs });
    return { claimed: true };
  }

  async release(key: string, owner: string): Promise<void> {
    if (this.claims.get(key)?.owner === owner) this.claims.delete(key);
  }

  async lookup(key: string): Promise<CompletedCall | undefined> {
    const c = this.calls.get(key);
    return c && structuredClone(c);
  }

  async recordAttempt(key: string, meta: CallMeta, estimate?: AttemptEstimate): Promise<number> {
    this.attempts.push({ key, meta: { ...meta }, pid: process.pid, ...(estimate ? { estimate } : {}) });
    return this.attempts.length;
  }

  async finishAttempt(id: number, outcome: AttemptOutcome): Promise<void> {
    const a = this.attempts[id - 1];
    if (a) a.outcome = outcome;
  }

  async recordCompletion(call: CompletedCall): Promise<CompletedCall> {
    this.completions.push({ key: call.key });
    this.claims.delete(call.key);
    if (!this.calls.has(call.key)) this.calls.set(call.key, structuredClone(call));
    return structuredClone(this.calls.get(call.key)!);
  }

  async recordUse(key: string, meta: CallMeta, reused: boolean): Promise<void> {
    this.uses.push({ key, meta: { ...meta }, reused });
  }

  async stats(filter: { runId?: string } = {}): Promise<LedgerStats> {
    const s: LedgerStats = { ...emptyTotals(), byStage: {}, attempts: emptyAttempts() };
    for (const u of this.uses) {
      if (filter.runId !== undefined && u.meta.runId !== filter.runId) continue;
      const c = this.calls.get(u.key);
      addUse(s, c, u.reused);
      addUse((s.byStage[u.meta.stageId ?? '-'] ??= emptyTotals()), c, u.reused);
    }
    for (const a of this.attempts) {
      if (filter.runId !== undefined && a.meta.runId !== filter.runId) continue;
      addAttempt(s.attempts, a.outcome ?? null, a.pid, a.estimate?.tokens ?? 0, a.estimate?.costUsd ?? 0);
    }
    return s;
  }

  async audit(): Promise<AuditCounts> {
    const per = new Map<string, number>();
    for (const c of this.completions) per.set(c.key, (per.get(c.key) ?? 0) + 1);
    return { keys: this.calls.size, completions: this.completions.length, attempts: this.attempts.length, duplicated: [...per].filter(([, n]) => n > 1).map(([k]) => k) };
  }

  close(): void {}
}
