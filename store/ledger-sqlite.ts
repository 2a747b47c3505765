// The durable LLM call ledger: SQLite through better-sqlite3, in WAL mode so
// several worker processes can share one file (.swirl/ledger.db): readers do
// not block the writer, and each write is one short transaction with a busy
// timeout. Every write is synchronous and committed before the call returns,
// so a call recorded here survives a kill -9 of the worker a moment later.
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { swirlPaths } from '../runtime/paths.js';
import { addAttempt, claimIsStale, emptyAttempts, emptyTotals, type AttemptEstimate, type AttemptOutcome, type AuditCounts, type ClaimResult, type CallMeta, type CompletedCall, type LedgerStats, type LlmLedger } from './ledger.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  key TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  model TEXT NOT NULL,
  purpose TEXT NOT NULL,
  run_id TEXT,
  stage_id TEXT,
  response TEXT NOT NULL,
  input_tokens INTEGER NOT NULL,
  output_tokens INTEGER NOT NULL,
  latency_ms REAL NOT NULL,
  cost_usd REAL NOT NULL,
  completed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS completions (id INTEGER PRIMARY KEY, key TEXT NOT NULL, pid INTEGER NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS completions_key ON completions(key);
CREATE TABLE IF NOT EXISTS attempts (id INTEGER PRIMARY KEY, key TEXT NOT NULL, pid INTEGER NOT NULL, run_id TEXT, stage_id TEXT, at TEXT NOT NULL, outcome TEXT, est_tokens INTEGER NOT NULL DEFAULT 0, est_cost_usd REAL NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS attempts_run ON attempts(run_id);
CREATE TABLE IF NOT EXISTS uses (id INTEGER PRIMARY KEY, key TEXT NOT NULL, run_id TEXT, stage_id TEXT, purpose TEXT NOT NULL, reused INTEGER NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS uses_run ON uses(run_id);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at INTEGER NOT NULL);
`;

interface CallRow {
  key: string;
  provider: string;
  model: string;
  purpose: string;
  run_id: string | null;
  stage_id: string | null;
  response: string;
  input_tokens: number;
  output_tokens: number;
  latency_ms: number;
  cost_usd: number;
  completed_at: string;
}

function fromRow(r: CallRow): CompletedCall {
  return {
    key: r.key,
    provider: r.provider,
    model: r.model,
    purpose: r.purpose as CompletedCall['purpose'],
    ...(r.run_id !== null ? { runId: r.run_id } : {}),
    ...(r.stage_id !== null ? { stageId: r.stage_id } : {}),
    response: JSON.parse(r.response),
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    latencyMs: r.latency_ms,
    costUsd: r.cost_usd,
    completedAt: r.completed_at,
  };
}

/** Loads better-sqlite3, or says exactly what is missing. */
function loadDriver(): typeof BetterSqlite3 {
  const require = createRequire(import.meta.url);
  try {
    return require('better-sqlite3') as typeof BetterSqlite3;
  } catch (e) {
    throw new Error(`the LLM call ledger needs better-sqlite3 and its native build: ${(e as Error).message.split('\n')[0]} (run \`npm run setup\`, which rebuilds it)`);
  }
}

export class SqliteLedger implements LlmLedger {
  readonly kind = 'sqlite';
  private readonly db: BetterSqlite3.Database;
  private readonly st: Record<'lookup' | 'insertCall' | 'completion' | 'attempt' | 'finishAttempt' | 'use', BetterSqlite3.Statement>;
  private readonly completeTx: BetterSqlite3.Transaction<(call: CompletedCall) => CallRow>;
  private readonly claimTx: BetterSqlite3.Transaction<(key: string, owner: string, ttlMs: number) => ClaimResult>;

  constructor(readonly file: string) {
    const Database = loadDriver();
    if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
    this.db = new Database(file, { timeout: 30_000 });
    this.db.pragma('journal_mode = WAL');
    // NORMAL is durable across process crashes in WAL mode (only a power cut can lose the last commits).
    this.db.pragma('synchronous = NORMAL');
    // Ledgers written before attempts had outcomes: add the columns (old rows have no outcome).
    if (this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempts'").get()) {
      const cols = new Set((this.db.prepare('PRAGMA table_info(attempts)').all() as Array<{ name: string }>).map((c) => c.name));
      if (!cols.has('outcome')) this.db.exec('ALTER TABLE attempts ADD COLUMN outcome TEXT; ALTER TABLE attempts ADD COLUMN est_tokens INTEGER NOT NULL DEFAULT 0; ALTER TABLE attempts ADD COLUMN est_cost_usd REAL NOT NULL DEFAULT 0;');
    }
    this.db.exec(SCHEMA);
    this.st = {
      lookup: this.db.prepare('SELECT * FROM calls WHERE key = ?'),
      insertCall: this.db.prepare(
        `INSERT OR IGNORE INTO calls (key, provider, model, purpose, run_id, stage_id, response, input_tokens, output_tokens, latency_ms, cost_usd, completed_at)
         VALUES (@key, @provider, @model, @purpose, @run_id, @stage_id, @response, @input_tokens, @output_tokens, @latency_ms, @cost_usd, @completed_at)`,
      ),
      completion: this.db.prepare('INSERT INTO completions (key, pid, at) VALUES (?, ?, ?)'),
      attempt: this.db.prepare('INSERT INTO attempts (key, pid, run_id, stage_id, at, est_tokens, est_cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      finishAttempt: this.db.prepare('UPDATE attempts SET outcome = ? WHERE id = ?'),
      use: this.db.prepare('INSERT INTO uses (key, run_id, stage_id, purpose, reused, at) VALUES (?, ?, ?, ?, ?, ?)'),
    };
    this.completeTx = this.db.transaction((call: CompletedCall) => {
      this.st.completion.run(call.key, process.pid, call.completedAt);
      this.st.insertCall.run({
        key: call.key,
        provider: call.provider,
        model: call.model,
        purpose: call.purpose,
        run_id: call.runId ?? null,
        stage_id: call.stageId ?? null,
        response: JSON.stringify(call.response),
        input_tokens: call.inputTokens,
        output_tokens: call.outputTokens,
        latency_ms: call.latencyMs,
        cost_usd: call.costUsd,
        completed_at: call.completedAt,
      });
      this.db.prepare('DELETE FROM claims WHERE key = ?').run(call.key);
      return this.st.lookup.get(call.key) as CallRow;
    });
    const getClaim = this.db.prepare('SELECT owner, expires_at FROM claims WHERE key = ?');
    const putClaim = this.db.prepare('INSERT INTO claims (key, owner, expires_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at');
    this.claimTx = this.db.transaction((key: string, owner: string, ttlMs: number): ClaimResult => {
      const c = getClaim.get(key) as { owner: string; expires_at: number } | undefined;
      if (c && c.owner !== owner && !claimIsStale(c.owner, c.expires_at)) return { claimed: false, owner: c.owner, expiresAt: c.expires_at };
      putClaim.run(key, owner, Date.now() + ttlMs);
      return { claimed: true };
    });
  }

  async claim(key: string, owner: string, ttlMs: number): Promise<ClaimResult> {
    return this.claimTx.immediate(key, owner, ttlMs);
  }

  async release(key: string, owner: string): Promise<void> {
    this.db.prepare('DELETE FROM claims WHERE key = ? AND owner = ?').run(key, owner);
  }

  async lookup(key: string): Promise<CompletedCall | undefined> {
    const r = this.st.lookup.get(key) as CallRow | undefined;
    return r && fromRow(r);
  }

  async recordAttempt(key: string, meta: CallMeta, estimate?: AttemptEstimate): Promise<number> {
    const r = this.st.attempt.run(key, process.pid, meta.runId ?? null, meta.stageId ?? null, new Date().toISOString(), Math.round(estimate?.tokens ?? 0), estimate?.costUsd ?? 0);
    return Number(r.lastInsertRowid);
  }

  async finishAttempt(id: number, outcome: AttemptOutcome): Promise<void> {
    this.st.finishAttempt.run(outcome, id);
  }

  async recordCompletion(call: CompletedCall): Promise<CompletedCall> {
    return fromRow(this.completeTx.immediate(call));
  }

  async recordUse(key: string, meta: CallMeta, reused: boolean): Promise<void> {
    this.st.use.run(key, meta.runId ?? null, meta.stageId ?? null, meta.purpose, reused ? 1 : 0, new Date().toISOString());
  }

  async stats(filter: { runId?: string } = {}): Promise<LedgerStats> {
    const rows = this.db
      .prepare(
        `SELECT u.stage_id AS stage, u.reused AS reused, COUNT(*) AS n,
                SUM(c.input_tokens) AS tin, SUM(c.output_tokens) AS tout, SUM(c.cost_usd) AS cost, SUM(c.latency_ms) AS lat
         FROM uses u LEFT JOIN calls c ON c.key = u.key
         ${filter.runId !== undefined ? 'WHERE u.run_id = ?' : ''}
         GROUP BY u.stage_id, u.reused`,
      )
      .all(...(filter.runId !== undefined ? [filter.runId] : [])) as Array<{ stage: string | null; reused: number; n: number; tin: number | null; tout: number | null; cost: number | null; lat: number | null }>;
    const s: LedgerStats = { ...emptyTotals(), byStage: {}, attempts: emptyAttempts() };
    const attempts = this.db
      .prepare(`SELECT outcome, pid, COUNT(*) AS n, SUM(est_tokens) AS tok, SUM(est_cost_usd) AS cost FROM attempts ${filter.runId !== undefined ? 'WHERE run_id = ?' : ''} GROUP BY outcome, pid`)
      .all(...(filter.runId !== undefined ? [filter.runId] : [])) as Array<{ outcome: AttemptOutcome | null; pid: number; n: number; tok: number | null; cost: number | null }>;
    for (const a of attempts) addAttempt(s.attempts, a.outcome, a.pid, a.tok ?? 0, a.cost ?? 0, a.n);
    for (const r of rows) {
      const stage = (s.byStage[r.stage ?? '-'] ??= emptyTotals());
      for (const t of [s, stage]) {
        if (r.reused) t.reused += r.n;
        else {
          t.calls += r.n;
          t.inputTokens += r.tin ?? 0;
          t.outputTokens += r.tout ?? 0;
          t.costUsd += r.cost ?? 0;
          t.latencyMs += r.lat ?? 0;
        }
      }
    }
    return s;
  }

  async audit(): Promise<AuditCounts> {
    const one = (sql: string) => (this.db.prepare(sql).get() as { n: number }).n;
    return {
      keys: one('SELECT COUNT(*) AS n FROM calls'),
      completions: one('SELECT COUNT(*) AS n FROM completions'),
      attempts: one('SELECT COUNT(*) AS n FROM attempts'),
      duplicated: (this.db.prepare('SELECT key FROM completions GROUP BY key HAVING COUNT(*) > 1').all() as Array<{ key: string }>).map((r) => r.key),
    };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

const opened = new Map<string, SqliteLedger>();

/** The worker's ledger (one connection per file per process), at SWIRL_LEDGER or <state>/ledger.db. */
export function defaultLedger(file = swirlPaths().ledger): SqliteLedger {
  let l = opened.get(file);
  if (!l) {
    l = new SqliteLedger(file);
    opened.set(file, l);
  }
  return l;
}
