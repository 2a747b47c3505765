// What a Plan will cost before it runs: per stage the episodes, model calls,
// judge calls, tokens and time, and a total. Pure functions of the Plan, the
// dataset sizes and the models' speeds: `swirl plan` gathers those
// (cli/estimate-sources.ts), so the arithmetic is testable without I/O.
//
// Counts carry how sure they are. A dataset's rows are exact when counted;
// everything after a rollout depends on how long episodes run and what a
// filter keeps, so those are upper bounds (≤), with an expected value (what
// the time and tokens are planned with) from the model's measured turns per
// episode where there is one.
import type { Plan, PlanModel, PlanStage } from '../compiler/plan-types.js';
import { DEFAULT_EMBEDDED_MODEL } from '../compiler/model-files.js';

/** exact, about (≈), or at most (≤). */
export type Bound = 'exact' | 'approx' | 'upper';

export interface Count {
  /** The number, or its upper bound when `bound` is 'upper'; null when unknown. */
  n: number | null;
  /** What tokens and time are planned with (≤ n); null when unknown. */
  expected: number | null;
  bound: Bound;
}

/** How fast a model answers one call (one turn), one request at a time. */
export interface ModelSpeed {
  secondsPerCall: number;
  /** Mean generated tokens per call where it was measured. */
  outputTokensPerCall?: number;
  /** Mean prompt tokens per call (from the ledger; the bench does not record them). */
  inputTokensPerCall?: number;
  /** Generation tok/s: shortens a call whose `maxTokens` is below the measured mean output. */
  generationTokensPerSecond?: number;
  /** Mean model turns per episode measured (an episode stops early when the model answers). */
  turnsPerEpisode?: number;
  /** Cores of the machine it was measured on. */
  cores?: number;
  /** Where the numbers come from, said in the output. */
  source: string;
}

export interface EstimateInputs {
  /** Rows each dataset stage gives, by stage id (unknown when absent). */
  questions: Record<string, Count>;
  /** Speeds by model name (a PlanModel's `model`, e.g. `gemma3-270m`, `claude-haiku-4-5`). */
  speeds: Record<string, ModelSpeed>;
}

/** One model's part of a stage. */
export interface ModelUse {
  /** The spec's model name (`policy`, `judge`). */
  model: string;
  role: 'policy' | 'judge';
  calls: Count;
  tokens: Count;
  /** Planned seconds; null when the count is unknown. */
  seconds: number | null;
  /** USD, when the model has a `price`. */
  costUsd?: number | null;
  /** The model runs inside the worker (llama-cpp) and shares its cores. */
  embedded: boolean;
}

export interface StageEstimate {
  id: string;
  type: PlanStage['type'];
  /** What the stage produces, counted: questions, episodes, steps, states. */
  rows?: { what: string; count: Count };
  modelCalls: Count;
  judgeCalls: Count;
  tokens: Count;
  seconds: number | null;
  costUsd?: number | null;
  uses: ModelUse[];
  notes: string[];
}

export interface PlanEstimate {
  stages: StageEstimate[];
  total: { modelCalls: Count; judgeCalls: Count; tokens: Count; seconds: number | null; embeddedSeconds: number | null; costUsd?: number | null };
  /** One line per model used: its speed and where it comes from. */
  speeds: string[];
  notes: string[];
  warnings: string[];
}

/** Planned seconds per call of a llama-cpp model nobody measured: a guess, and said to be one. */
export const ROUGH_LOCAL_SECONDS = 10;
/** Seconds per call of a hosted model with no measurement. */
export const DEFAULT_HOSTED_SECONDS = 3;
/** Prompt tokens per call where none were measured (an instruction, a question and a few turns). */
export const ASSUMED_PROMPT_TOKENS = 600;
/** Output tokens per call when the model has no `maxTokens` and no measurement. */
const DEFAULT_MAX_TOKENS = 512;
/** Beyond this on the embedded model, `swirl plan` warns. */
export const EMBEDDED_WARN_SECONDS = 3600;

// ---- counts ----

const ORDER: Bound[] = ['exact', 'approx', 'upper'];
const weaker = (a: Bound, b: Bound): Bound => ORDER[Math.max(ORDER.indexOf(a), ORDER.indexOf(b))]!;

export const exact = (n: number): Count => ({ n, expected: n, bound: 'exact' });
export const atMost = (n: number, expected = n): Count => ({ n, expected, bound: 'upper' });
export const unknown = (): Count => ({ n: null, expected: null, bound: 'upper' });
const zero = (): Count => exact(0);

/** c × k, with its own factor for the expected value (turns: at most maxSteps+1, expected fewer). */
function times(c: Count, k: number, expectedK = k, bound: Bound = c.bound): Count {
  return { n: c.n === null ? null : c.n * k, expected: c.expected === null ? null : c.expected * expectedK, bound: weaker(c.bound, bound) };
}

function plus(a: Count, b: Count): Count {
  return { n: a.n === null || b.n === null ? null : a.n + b.n, expected: a.expected === null || b.expected === null ? null : a.expected + b.expected, bound: weaker(a.bound, b.bound) };
}

/** The same count, now only an upper bound (a filter keeps some of its input). */
const upTo = (c: Count): Count => ({ ...c, bound: 'upper' });

function capped(c: Count, cap: number | undefined): Count {
  if (cap === undefined) return c;
  if (c.n === null) return atMost(cap);
  return { n: Math.min(c.n, cap), expected: Math.min(c.expected ?? cap, cap), bound: c.n > cap ? 'upper' : c.bound };
}

// ---- models ----

/** A judge or reward model ref as the Plan gives it: a model name, `{ model }`, or a matcher (no LLM). */
export function llmJudgeOf(ref: unknown): string | undefined {
  if (typeof ref === 'string') return ref;
  if (ref && typeof ref === 'object' && !('matcher' in ref) && typeof (ref as { model?: unknown }).model === 'string') return (ref as { model: string }).model;
  return undefined;
}

export function modelNameOf(m: PlanModel): string {
  return typeof m.model === 'string' ? m.model : m.provider === 'llama-cpp' ? DEFAULT_EMBEDDED_MODEL : '?';
}

interface CallCost {
  seconds: number;
  inputTokens: number;
  /** Expected and most output tokens per call. */
  outputTokens: number;
  maxOutputTokens: number;
  embedded: boolean;
  price?: { inputPerMTok: number; outputPerMTok: number };
}

/** What one call of model `m` costs, from its speed (or a labelled default). */
function callCost(m: PlanModel, speed: ModelSpeed | undefined): CallCost {
  const embedded = m.provider === 'llama-cpp';
  const maxOut = typeof m.maxTokens === 'number' ? m.maxTokens : DEFAULT_MAX_TOKENS;
  const p = m.price as { inputPerMTok?: unknown; outputPerMTok?: unknown } | undefined;
  const price = p && typeof p.inputPerMTok === 'number' && typeof p.outputPerMTok === 'number' ? { inputPerMTok: p.inputPerMTok, outputPerMTok: p.outputPerMTok } : undefined;
  const base = { embedded, maxOutputTokens: maxOut, inputTokens: speed?.inputTokensPerCall ?? ASSUMED_PROMPT_TOKENS, ...(price ? { price } : {}) };
  if (!speed) return { ...base, seconds: embedded ? ROUGH_LOCAL_SECONDS : DEFAULT_HOSTED_SECONDS, outputTokens: maxOut };
  const measured = speed.outputTokensPerCall ?? maxOut;
  const out = Math.min(maxOut, measured);
  // A spec capping output below what was measured spends less time generating.
  const saved = speed.generationTokensPerSecond ? (measured - out) / speed.generationTokensPerSecond : 0;
  return { ...base, seconds: Math.max(speed.secondsPerCall * 0.1, speed.secondsPerCall - saved), outputTokens: out };
}

/** Requests of one stage to one model that run at once: the embedded model shares the worker's cores (measured one at a time). */
function parallelism(stage: PlanStage, m: PlanModel): number {
  if (m.provider === 'llama-cpp') return 1;
  return Math.max(1, Math.min(stage.concurrency, typeof m.concurrency === 'number' ? m.concurrency : stage.concurrency));
}

function use(plan: Plan, stage: PlanStage, name: string, role: ModelUse['role'], calls: Count, inputs: EstimateInputs): ModelUse {
  const m = plan.models[name] ?? { provider: 'unknown' };
  const c = callCost(m, inputs.speeds[modelNameOf(m)]);
  const tokens: Count = { n: calls.n === null ? null : calls.n * (c.inputTokens + c.maxOutputTokens), expected: calls.expected === null ? null : calls.expected * (c.inputTokens + c.outputTokens), bound: 'approx' };
  const seconds = calls.expected === null ? null : (calls.expected * c.seconds) / parallelism(stage, m);
  const u: ModelUse = { model: name, role, calls, tokens, seconds, embedded: c.embedded };
  if (c.price) u.costUsd = calls.expected === null ? null : (calls.expected * (c.inputTokens * c.price.inputPerMTok + c.outputTokens * c.price.outputPerMTok)) / 1e6;
  return u;
}

// ---- stages ----

/** What a stage hands on: questions, trajectories and their steps, as counts. */
interface Flow {
  questions?: Count;
  trajectories?: Count;
  steps?: Count;
  /** The dataset stage whose size most of this stage's work scales with (for the warning's hint). */
  root?: string;
  /** The steps went through a filter: their count is only an upper bound. */
  filtered?: boolean;
}

function inputFlow(stage: PlanStage, flows: Map<string, Flow>, key: 'questions' | 'trajectories' | 'steps'): { count: Count; root?: string } {
  for (const id of stage.inputs) {
    const f = flows.get(id);
    if (f?.[key]) return { count: f[key]!, ...(f.root ? { root: f.root } : {}) };
  }
  return { count: unknown() };
}

const num = (v: unknown, d: number): number => (typeof v === 'number' ? v : d);

interface StageWork {
  flow: Flow;
  rows?: StageEstimate['rows'];
  uses: ModelUse[];
  notes: string[];
}

/** Episodes of a rollout or evaluate stage: questions × samples, at most maxSteps+1 model calls each. */
function episodes(plan: Plan, stage: PlanStage, samples: number, inputs: EstimateInputs, flows: Map<string, Flow>): StageWork & { eps: Count; steps: Count } {
  const q = inputFlow(stage, flows, 'questions');
  const policy = String(stage.config.model);
  const maxTurns = num(stage.config.maxSteps, 5) + 1;
  const measured = inputs.speeds[modelNameOf(plan.models[policy] ?? { provider: '?' })]?.turnsPerEpisode;
  const eps = times(q.count, samples);
  const calls = times(eps, maxTurns, Math.min(maxTurns, measured ?? maxTurns), 'upper');
  return { eps, steps: calls, flow: { trajectories: eps, steps: calls, ...(q.root ? { root: q.root } : {}) }, rows: { what: 'episodes', count: eps }, uses: [use(plan, stage, policy, 'policy', calls, inputs)], notes: [] };
}

function stageWork(plan: Plan, stage: PlanStage, inputs: EstimateInputs, flows: Map<string, Flow>): StageWork {
  const cfg = stage.config;
  switch (stage.type) {
    case 'dataset': {
      const count = inputs.questions[stage.id] ?? unknown();
      return { flow: { questions: count, root: stage.id }, rows: { what: 'questions', count }, uses: [], notes: [] };
    }
    case 'rollout':
      return episodes(plan, stage, num(cfg.samples, 5), inputs, flows);
    case 'evaluate': {
      const w = episodes(plan, stage, 1, inputs, flows);
      const outcome = llmJudgeOf(cfg.judge);
      const process = llmJudgeOf(cfg.processJudge);
      if (outcome) w.uses.push(use(plan, stage, outcome, 'judge', w.eps, inputs));
      if (process) w.uses.push(use(plan, stage, process, 'judge', w.steps, inputs));
      return { ...w, flow: { ...(w.flow.root ? { root: w.flow.root } : {}) } };
    }
    case 'decompose': {
      const t = inputFlow(stage, flows, 'trajectories');
      const s = inputFlow(stage, flows, 'steps');
      return { flow: { trajectories: t.count, steps: s.count, ...(s.root ? { root: s.root } : {}) }, rows: { what: 'steps', count: s.count }, uses: [], notes: [] };
    }
    case 'filter': {
      const t = inputFlow(stage, flows, 'trajectories');
      const s = inputFlow(stage, flows, 'steps');
      const mode = String(cfg.mode ?? 'process');
      const uses: ModelUse[] = [];
      const process = mode.includes('process') ? llmJudgeOf(cfg.processJudge) : undefined;
      // Trajectories dropped for their status, or by the process check, are not judged further.
      if (process) uses.push(use(plan, stage, process, 'judge', upTo(s.count), inputs));
      const agreement = llmJudgeOf((cfg.agreement as { judge?: unknown } | undefined)?.judge);
      if (agreement && process) uses.push(use(plan, stage, agreement, 'judge', upTo(s.count), inputs));
      const outcome = mode.includes('outcome') ? llmJudgeOf(cfg.outcomeJudge) : undefined;
      if (outcome) uses.push(use(plan, stage, outcome, 'judge', upTo(t.count), inputs));
      const kept = upTo(s.count);
      return { flow: { trajectories: upTo(t.count), steps: kept, filtered: true, ...(s.root ? { root: s.root } : {}) }, rows: { what: 'steps', count: kept }, uses, notes: [] };
    }
    case 'train': {
      const s = inputFlow(stage, flows, 'steps');
      const epochs = num(cfg.epochs, 1);
      const cap = typeof cfg.maxSteps === 'number' ? cfg.maxSteps * num(cfg.batchStates, 64) : undefined;
      const states = capped(times(s.count, epochs), cap);
      const flow = { ...(s.root ? { root: s.root } : {}) };
      const notes = ['training compute (forward/backward passes) is not estimated'];
      if (flows.get(stage.inputs[0] ?? '')?.filtered) notes.unshift('a train stage after a filter is planned as if the filter kept every step (an upper bound)');
      if ((cfg.objective ?? 'swirl') !== 'swirl') return { flow, rows: { what: 'states', count: states }, uses: [], notes };
      const samples = times(states, num(cfg.samplesPerState, 4));
      const uses = [use(plan, stage, String(cfg.model), 'policy', samples, inputs)];
      const reward = llmJudgeOf(cfg.rewardModel);
      if (reward) uses.push(use(plan, stage, reward, 'judge', samples, inputs));
      return { flow, rows: { what: 'states', count: states }, uses, notes };
    }
    default:
      return { flow: {}, uses: [], notes: [] };
  }
}

function sumCounts(cs: Count[]): Count {
  return cs.reduce(plus, zero());
}

function sumNullable(xs: Array<number | null | undefined>): number | null {
  let t = 0;
  for (const x of xs) {
    if (x === null) return null;
    t += x ?? 0;
  }
  return t;
}

/** The cost of running `plan`, stage by stage. */
export function estimatePlan(plan: Plan, inputs: EstimateInputs): PlanEstimate {
  const flows = new Map<string, Flow>();
  const stages: StageEstimate[] = [];
  const secondsByRoot = new Map<string, number>();
  for (const stage of plan.stages) {
    const w = stageWork(plan, stage, inputs, flows);
    flows.set(stage.id, w.flow);
    const pick = (role: ModelUse['role']) => sumCounts(w.uses.filter((u) => u.role === role).map((u) => u.calls));
    const priced = w.uses.filter((u) => u.costUsd !== undefined);
    const seconds = sumNullable(w.uses.map((u) => u.seconds));
    const embedded = w.uses.filter((u) => u.embedded).reduce((s, u) => s + (u.seconds ?? 0), 0);
    if (w.flow.root && embedded > 0) secondsByRoot.set(w.flow.root, (secondsByRoot.get(w.flow.root) ?? 0) + embedded);
    stages.push({
      id: stage.id,
      type: stage.type,
      ...(w.rows ? { rows: w.rows } : {}),
      modelCalls: pick('policy'),
      judgeCalls: pick('judge'),
      tokens: sumCounts(w.uses.map((u) => u.tokens)),
      seconds,
      ...(priced.length ? { costUsd: sumNullable(priced.map((u) => u.costUsd)) } : {}),
      uses: w.uses,
      notes: w.notes,
    });
  }
  const uses = stages.flatMap((s) => s.uses);
  const priced = uses.filter((u) => u.costUsd !== undefined);
  const embeddedSeconds = sumNullable(uses.filter((u) => u.embedded).map((u) => u.seconds));
  const total = {
    modelCalls: sumCounts(stages.map((s) => s.modelCalls)),
    judgeCalls: sumCounts(stages.map((s) => s.judgeCalls)),
    tokens: sumCounts(stages.map((s) => s.tokens)),
    seconds: sumNullable(stages.map((s) => s.seconds)),
    embeddedSeconds,
    ...(priced.length ? { costUsd: sumNullable(priced.map((u) => u.costUsd)) } : {}),
  };
  return { stages, total, speeds: speedLines(plan, uses, inputs), notes: [...new Set(stages.flatMap((s) => s.notes))], warnings: warnings(plan, total.embeddedSeconds, secondsByRoot, inputs) };
}

function speedLines(plan: Plan, uses: ModelUse[], inputs: EstimateInputs): string[] {
  const names = [...new Set(uses.map((u) => u.model))];
  return names.map((name) => {
    const m = plan.models[name] ?? { provider: 'unknown' };
    const model = modelNameOf(m);
    const s = inputs.speeds[model];
    const c = callCost(m, s);
    const what = `${name} (${m.provider} ${model})`;
    const prompt = s?.inputTokensPerCall === undefined ? `, ${ASSUMED_PROMPT_TOKENS} prompt tokens per call assumed` : '';
    const price = c.price ? `, $${c.price.inputPerMTok}/$${c.price.outputPerMTok} per M tokens in/out` : '';
    if (!s) {
      const why = c.embedded ? `rough default ${ROUGH_LOCAL_SECONDS} s per call (no measurement for ${model})` : `default latency ${DEFAULT_HOSTED_SECONDS} s per call, up to the stage's concurrency at once`;
      return `${what}: ${why}, up to ${c.maxOutputTokens} tokens per call${prompt}${price}`;
    }
    // Turns per episode matter only to a policy; a judge answers in one call.
    const turns = s.turnsPerEpisode !== undefined && uses.some((u) => u.model === name && u.role === 'policy') ? `, ${round1(s.turnsPerEpisode)} turns per episode` : '';
    return `${what}: ${round1(c.seconds)} s per call, ${Math.round(c.outputTokens)} tokens per call${turns}${prompt}${price} — ${s.source}`;
  });
}

function warnings(plan: Plan, embeddedSeconds: number | null, byRoot: Map<string, number>, inputs: EstimateInputs): string[] {
  if (embeddedSeconds === null || embeddedSeconds <= EMBEDDED_WARN_SECONDS) return [];
  const cores = Object.values(inputs.speeds).find((s) => s.cores !== undefined)?.cores;
  const on = cores ? ` (speeds measured on ${cores} cores)` : '';
  // The hint: shrink the dataset most of the time goes to, so the rest fits in the hour.
  const [root, secs] = [...byRoot.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
  const q = root ? inputs.questions[root]?.expected : undefined;
  let hint = 'lower samples/limit';
  if (root && secs && q) {
    // What that dataset's share may take so the whole run fits the hour; if the rest alone
    // takes longer, the share is given an hour of its own (and the rest still needs cutting).
    const others = embeddedSeconds - secs;
    const room = others < EMBEDDED_WARN_SECONDS ? EMBEDDED_WARN_SECONDS - others : EMBEDDED_WARN_SECONDS;
    const limit = Math.floor((q * room) / secs);
    if (limit >= 1 && limit < q) hint = `lower samples/limit or use --set stages.${root}.limit=${limit}${others >= EMBEDDED_WARN_SECONDS ? ` (the other stages take ${formatSeconds(others)} more)` : ''}`;
  }
  return [`about ${formatSeconds(embeddedSeconds)} on the embedded model${on} — ${hint}`];
}

// ---- printing ----

const round1 = (x: number): number => Math.round(x * 10) / 10;
const MARK: Record<Bound, string> = { exact: '', approx: '≈', upper: '≤' };

function formatNumber(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatCompact(n: number): string {
  if (n >= 1e9) return `${round1(n / 1e9)}B`;
  if (n >= 1e6) return `${round1(n / 1e6)}M`;
  if (n >= 1e4) return `${Math.round(n / 1e3)}k`;
  return formatNumber(n);
}

export function formatCount(c: Count): string {
  return c.n === null ? '?' : `${MARK[c.bound]}${formatNumber(c.n)}`;
}

/** Tokens are planned with the expected calls: always an estimate. */
function formatTokens(c: Count): string {
  return c.expected === null ? '?' : c.expected === 0 ? '0' : `≈${formatCompact(c.expected)}`;
}

export function formatSeconds(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${round1(s / 3600)} h`;
  return `${round1(s / 86400)} days`;
}

function formatTime(s: number | null, calls: number): string {
  if (calls === 0) return '-';
  return s === null ? '?' : `≈${formatSeconds(s)}`;
}

function sourceOf(st: StageEstimate, inputs: EstimateInputs, plan: Plan): string {
  const kinds = new Set(
    st.uses.map((u) => {
      const m = plan.models[u.model];
      const s = m ? inputs.speeds[modelNameOf(m)] : undefined;
      if (!s) return 'default';
      return s.source.startsWith('ledger') ? 'ledger' : 'measured';
    }),
  );
  return [...kinds].join('+');
}

/** The estimate as lines of text: a table, the total, the speeds used, notes and warnings. */
export function formatEstimate(plan: Plan, est: PlanEstimate, inputs: EstimateInputs): string[] {
  const head = ['STAGE', 'ROWS', 'MODEL CALLS', 'JUDGE CALLS', 'TOKENS', 'EST. TIME', 'SOURCE'];
  const calls = (st: Pick<StageEstimate, 'modelCalls' | 'judgeCalls'>) => (st.modelCalls.n ?? 1) + (st.judgeCalls.n ?? 1);
  const rows = est.stages.map((st) => [
    st.id,
    st.rows ? `${formatCount(st.rows.count)} ${st.rows.what}` : '-',
    formatCount(st.modelCalls),
    formatCount(st.judgeCalls),
    formatTokens(st.tokens),
    formatTime(st.seconds, calls(st)),
    st.uses.length ? sourceOf(st, inputs, plan) : '-',
  ]);
  const t = est.total;
  rows.push(['total', '', formatCount(t.modelCalls), formatCount(t.judgeCalls), formatTokens(t.tokens), formatTime(t.seconds, calls(t)), '']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const lines = ['', 'estimate (≤ at most, ≈ about; time and tokens planned with the expected calls)'];
  for (const r of [head, ...rows]) lines.push(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  if (t.costUsd !== undefined) lines.push(`cost: ${t.costUsd === null ? '?' : `≈$${t.costUsd.toFixed(2)}`} (models with a price)`);
  for (const s of est.speeds) lines.push(`speed: ${s}`);
  for (const n of est.notes) lines.push(`note: ${n}`);
  for (const w of est.warnings) lines.push(`warning: ${w}`);
  return lines;
}
