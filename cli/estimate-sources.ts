// The inputs of `swirl plan`'s estimate (cli/estimate.ts), read from disk:
// how many rows each dataset stage gives, the models' speeds measured by
// bench/models.ts (docs/models-results/*.json), and, where this state dir's
// LLM call ledger has enough calls of a model, their median latency.
// Only reads: the ledger is opened read-only and never created.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Plan } from '../compiler/plan-types.js';
import { toQuestion, type DatasetFormat } from '../activities/dataset-formats.js';
import { atMost, exact, modelNameOf, unknown, type Count, type EstimateInputs, type ModelSpeed } from './estimate.js';

/** Data files up to this size are read to count their rows; larger ones are not (a plan should answer at once). */
export const MAX_COUNTED_BYTES = 64 * 1024 * 1024;
/** Fewer calls than this in the ledger say too little about a model's latency. */
export const MIN_LEDGER_CALLS = 20;

interface DatasetConfig {
  path: string;
  format: DatasetFormat;
  split?: string;
  levels?: string[];
  ids?: string;
  fields?: { id?: string; question: string; answer: string };
  offset?: number;
  limit?: number;
}

/** Rows of a data file the stage's format, split and levels keep, or null when it cannot be read quickly. */
function poolSize(projectRoot: string, cfg: DatasetConfig): Count | null {
  if (cfg.ids) {
    const file = path.join(projectRoot, cfg.ids);
    if (!existsSync(file)) return null;
    const ids = readFileSync(file, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    return exact(ids.length);
  }
  const file = path.join(projectRoot, cfg.path);
  if (!existsSync(file) || statSync(file).size > MAX_COUNTED_BYTES) return null;
  const lines = readFileSync(file, 'utf8').split('\n');
  let kept = 0;
  let index = 0;
  try {
    for (let i = 0; i < lines.length; i++) {
      const text = lines[i]!.trim();
      if (!text) continue;
      if (toQuestion(JSON.parse(text) as Record<string, unknown>, index, i + 1, cfg)) kept++;
      index++;
    }
  } catch {
    // A row the run would refuse (it fails there anyway): the file's rows are the most it can give.
    return atMost(lines.filter((l) => l.trim()).length);
  }
  return exact(kept);
}

/** The questions a dataset stage gives: its pool after offset and limit. */
export function datasetRows(projectRoot: string, cfg: DatasetConfig): Count {
  const offset = cfg.offset ?? 0;
  const pool = poolSize(projectRoot, cfg);
  if (!pool || pool.n === null) return cfg.limit !== undefined ? atMost(cfg.limit) : unknown();
  const n = Math.max(0, Math.min(pool.n - offset, cfg.limit ?? Infinity));
  return { n, expected: n, bound: pool.bound };
}

/** A bench/models.ts result file → the model's speed per call (one sequence, its threads). */
export function speedFromBench(j: Record<string, unknown>, file: string): ModelSpeed | undefined {
  type Section = { n?: number; turns?: number; meanOutputTokensPerTurn?: number; secondsPerEpisode?: number };
  const sections = [j.gsm8k, j.hotpotqa].filter((s): s is Section => {
    const x = s as Section | undefined;
    return !!x && (x.n ?? 0) > 0 && (x.turns ?? 0) > 0 && typeof x.secondsPerEpisode === 'number';
  });
  if (sections.length === 0) return undefined;
  const turns = sections.reduce((t, s) => t + s.turns!, 0);
  const episodes = sections.reduce((t, s) => t + s.n!, 0);
  const seconds = sections.reduce((t, s) => t + s.n! * s.secondsPerEpisode!, 0);
  const tokens = sections.reduce((t, s) => t + (s.meanOutputTokensPerTurn ?? 0) * s.turns!, 0);
  const settings = (j.settings ?? {}) as { threads?: number };
  const probes = Array.isArray(j.speed) ? (j.speed as Array<{ threads?: number; generationTokensPerSecond?: number }>) : [];
  const probe = probes.find((p) => p.threads === settings.threads) ?? probes[probes.length - 1];
  const cores = /(\d+) cores?/.exec(String(j.machine ?? ''))?.[1];
  return {
    secondsPerCall: seconds / turns,
    outputTokensPerCall: tokens / turns,
    turnsPerEpisode: turns / episodes,
    ...(probe?.generationTokensPerSecond ? { generationTokensPerSecond: probe.generationTokensPerSecond } : {}),
    ...(cores ? { cores: Number(cores) } : {}),
    source: `measured: ${file}${settings.threads ? ` (${settings.threads} thread${settings.threads === 1 ? '' : 's'}, one request at a time)` : ''}`,
  };
}

/** Speeds of every model with a result file in `dir` (docs/models-results), by model name. */
export function benchSpeeds(root: string): Record<string, ModelSpeed> {
  const dir = path.join(root, 'docs', 'models-results');
  const out: Record<string, ModelSpeed> = {};
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.json')).sort()) {
    try {
      const j = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Record<string, unknown>;
      const s = speedFromBench(j, `docs/models-results/${f}`);
      if (s && typeof j.model === 'string') out[j.model] = s;
    } catch {
      // A broken result file only costs its model the measured speed.
    }
  }
  return out;
}

export interface LedgerSample {
  latencyMs: number;
  inputTokens: number;
  outputTokens: number;
}

/** A model's speed from its calls in the ledger: median latency, mean tokens. */
export function speedFromLedger(rows: LedgerSample[], base: ModelSpeed | undefined): ModelSpeed | undefined {
  if (rows.length < MIN_LEDGER_CALLS) return undefined;
  const lat = rows.map((r) => r.latencyMs).sort((a, b) => a - b);
  const mid = lat.length >> 1;
  const median = lat.length % 2 ? lat[mid]! : (lat[mid - 1]! + lat[mid]!) / 2;
  const mean = (f: (r: LedgerSample) => number) => rows.reduce((t, r) => t + f(r), 0) / rows.length;
  return {
    ...(base ?? {}),
    secondsPerCall: median / 1000,
    inputTokensPerCall: mean((r) => r.inputTokens),
    outputTokensPerCall: mean((r) => r.outputTokens),
    source: `ledger: median latency of the last ${rows.length} calls of this model${base ? ` (turns per episode: ${base.source})` : ''}`,
  };
}

/** The last calls of each model in the ledger at `file`, by model name; {} when there is no ledger or it cannot be read. */
function ledgerSamples(file: string, models: string[]): Record<string, LedgerSample[]> {
  const out: Record<string, LedgerSample[]> = {};
  if (!existsSync(file) || models.length === 0) return out;
  try {
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      // llama-cpp calls are recorded as `NAME@FILE:SIZE`, hosted ones under the name the API serves.
      const q = db.prepare("SELECT latency_ms AS latencyMs, input_tokens AS inputTokens, output_tokens AS outputTokens FROM calls WHERE model = ? OR model LIKE ? ESCAPE '\\' ORDER BY completed_at DESC LIMIT 1000");
      for (const m of models) out[m] = q.all(m, `${m.replace(/[\\%_]/g, (c) => `\\${c}`)}@%`) as LedgerSample[];
    } finally {
      db.close();
    }
  } catch {
    // A ledger another version wrote, or one locked mid-migration: the bench numbers stand.
  }
  return out;
}

/** Everything the estimate of `plan` needs, read from the project, the package and the ledger. */
export function estimateInputs(plan: Plan, projectRoot: string, opts: { packageRoot: string; ledger?: string }): EstimateInputs {
  const questions: Record<string, Count> = {};
  for (const s of plan.stages) if (s.type === 'dataset') questions[s.id] = datasetRows(projectRoot, s.config as unknown as DatasetConfig);
  const speeds = benchSpeeds(opts.packageRoot);
  if (opts.ledger) {
    const names = [...new Set(Object.values(plan.models).map(modelNameOf))];
    for (const [m, rows] of Object.entries(ledgerSamples(opts.ledger, names))) {
      const s = speedFromLedger(rows, speeds[m]);
      if (s) speeds[m] = s;
    }
  }
  return { questions, speeds };
}
