// Measures the embedded models on the SWiRL tag protocol, to choose the default
// by numbers (issue 6): for each model, episodes on seeded GSM8K test questions
// (calculator, maxSteps 10 as pipelines/gsm8k.yaml) and HotPotQA dev questions
// (BM25 top-1 search over the dev split, maxSteps 5 as pipelines/hotpotqa.yaml),
// greedy decoding. Reports valid-action share, answered share, accuracy, turns,
// and a separate speed probe (prompt and generation tokens/s).
//
//   npx tsx bench/models.ts [--n 50] [--models a,b,c] [--threads 2] [--max-tokens 256]
//                           [--max-minutes M] [--speed-only] [--docs-only] [--resume] [--keep-speed]
//
// Each run stores a model's numbers in docs/models-results/<model>.json
// (replacing that model's previous file, so models can be measured by separate
// processes) and regenerates docs/models.md from all files there. --speed-only
// reruns only the speed probe of the named models (threads 1 and 2) and keeps
// their episode numbers. Questions are interleaved (GSM8K 1, HotPotQA 1, GSM8K 2, …)
// so that a run cut short by --max-minutes still covers both sets; the counts
// actually run are recorded and printed, never extrapolated.
// --resume keeps the episodes a model's stored file already holds when it was
// measured with the same settings (threads, context, maxTokens, seed, steps),
// runs only the missing ones, and saves the file after every episode, so a
// long measurement can be stopped and extended later (--max-minutes counts
// the new episodes only). --keep-speed reuses the stored speed probes.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaCompletion } from 'node-llama-cpp';
import { runEpisode, type EpisodeQuestion } from '../agents/episode.js';
import { detectTemplate, LlamaCppChat, renderPrompt } from '../agents/llama-cpp-chat.js';
import { EMBEDDED_MODELS } from '../agents/models.js';
import { instructionPrompt } from '../agents/protocol.js';
import type { Trajectory } from '../agents/types.js';
import { toQuestion, type Question } from '../activities/dataset-formats.js';
import { seededShuffle } from '../activities/rng.js';
import { makeTool } from '../tools/registry.js';
import { exactMatch as judgeExactMatch, normalizeText, tokenF1 as judgeTokenF1 } from '../agents/judges/matchers.js';
import { HumanMessage } from '@langchain/core/messages';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const resultsDir = path.join(root, 'docs', 'models-results');
const docFile = path.join(root, 'docs', 'models.md');
const modelsDir = path.resolve(process.env.SWIRL_MODELS_DIR ?? path.join(root, '.swirl', 'models'));

function arg(name: string, fallback?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const flag = (name: string) => process.argv.includes(`--${name}`);

const N = Number(arg('n', '50'));
const THREADS = Number(arg('threads', '2'));
const MAX_TOKENS = Number(arg('max-tokens', '256'));
const CONTEXT = Number(arg('context', '4096'));
const SEED = Number(arg('seed', '0'));
const MAX_MINUTES = arg('max-minutes') === undefined ? Infinity : Number(arg('max-minutes'));
const MODELS = (arg('models') ?? Object.keys(EMBEDDED_MODELS).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const PROBE_RUNS = Number(arg('probe-runs', '3'));
const PROBE_THREADS = (arg('probe-threads') ?? '1,2').split(',').map(Number);
const GSM_STEPS = 10;
const HOTPOT_STEPS = 5;

// ---------- matchers (small, bench-local; the official ones live with the judges) ----------

/** The last number in a text ("$1,234.50" → 1234.5), or undefined. */
export function lastNumber(text: string): number | undefined {
  const ms = text.replace(/(\d),(?=\d{3}\b)/g, '$1').match(/-?\d+(?:\.\d+)?/g);
  return ms ? Number(ms[ms.length - 1]) : undefined;
}

export function gsm8kCorrect(answer: string | undefined, gold: string): boolean {
  if (answer === undefined) return false;
  const a = lastNumber(answer);
  const g = Number(gold.replace(/,/g, ''));
  return a !== undefined && Number.isFinite(g) && Math.abs(a - g) < 1e-6 * Math.max(1, Math.abs(g));
}

/** HotPotQA's official normalization, exact match and token F1: the judges' matchers (agents/judges/matchers.ts). */
export const normalizeAnswer = normalizeText;

export function exactMatch(pred: string | undefined, gold: string): boolean {
  return pred !== undefined && judgeExactMatch(pred, [gold]);
}

export function tokenF1(pred: string | undefined, gold: string): number {
  return pred === undefined ? 0 : judgeTokenF1(pred, gold);
}

// ---------- data ----------

function loadQuestions(file: string, format: 'gsm8k' | 'hotpotqa', split: string | undefined, n: number): Question[] {
  const rel = path.relative(root, file);
  const rows: Question[] = [];
  let index = 0;
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (!line.trim()) return;
      const q = toQuestion(JSON.parse(line) as Record<string, unknown>, index, i + 1, { format, path: rel, ...(split ? { split } : {}) });
      if (q) rows.push(q);
      index++;
    });
  // The same seeded selection the dataset stage makes with `seed: 0`.
  return seededShuffle(rows, SEED).slice(0, n);
}

// ---------- results ----------

interface EpisodeRecord {
  dataset: 'gsm8k' | 'hotpotqa';
  id: string;
  status: Trajectory['status'];
  turns: number;
  validTurns: number;
  toolCalls: number;
  answer?: string;
  gold: string;
  correct: boolean;
  f1?: number;
  seconds: number;
  /** CPU time of this process during the episode (user + system, all threads): about the wall time on an idle machine with `threads` cores. */
  cpuSeconds?: number;
  inputTokens: number;
  outputTokens: number;
}

interface SetSummary {
  n: number;
  turns: number;
  validTurns: number;
  validShare: number;
  answered: number;
  answeredShare: number;
  noAction: number;
  maxSteps: number;
  errors: number;
  accuracy: number;
  f1?: number;
  meanTurns: number;
  meanToolCalls: number;
  meanOutputTokensPerTurn: number;
  secondsPerEpisode: number;
  cpuSecondsPerEpisode?: number;
}

interface SpeedProbe {
  threads: number;
  measuredAt: string;
  /** 1-minute load average of the machine when the probe started (2 cores). */
  loadAverage?: number;
  promptTokens: number;
  promptTokensPerSecond: number;
  generatedTokens: number;
  generationTokensPerSecond: number;
  runs: number;
}

interface ModelResult {
  model: string;
  file: string;
  fileMB: number;
  measuredAt: string;
  command: string;
  machine: string;
  settings: Record<string, unknown>;
  requested: number;
  cutShort: boolean;
  gsm8k: SetSummary;
  hotpotqa: SetSummary;
  speed: SpeedProbe[];
  wallSeconds: number;
  episodes: EpisodeRecord[];
}

function summarize(eps: EpisodeRecord[]): SetSummary {
  const n = eps.length;
  const sum = (f: (e: EpisodeRecord) => number) => eps.reduce((a, e) => a + f(e), 0);
  const turns = sum((e) => e.turns);
  const validTurns = sum((e) => e.validTurns);
  const answered = eps.filter((e) => e.status === 'answered').length;
  const hasF1 = eps.some((e) => e.f1 !== undefined);
  return {
    n,
    turns,
    validTurns,
    validShare: turns ? validTurns / turns : 0,
    answered,
    answeredShare: n ? answered / n : 0,
    noAction: eps.filter((e) => e.status === 'no_action').length,
    maxSteps: eps.filter((e) => e.status === 'max_steps').length,
    errors: eps.filter((e) => e.status === 'error').length,
    accuracy: n ? eps.filter((e) => e.correct).length / n : 0,
    ...(hasF1 ? { f1: n ? sum((e) => e.f1 ?? 0) / n : 0 } : {}),
    meanTurns: n ? turns / n : 0,
    meanToolCalls: n ? sum((e) => e.toolCalls) / n : 0,
    meanOutputTokensPerTurn: turns ? sum((e) => e.outputTokens) / turns : 0,
    secondsPerEpisode: n ? sum((e) => e.seconds) / n : 0,
    ...(eps.length && eps.every((e) => e.cpuSeconds !== undefined) ? { cpuSecondsPerEpisode: sum((e) => e.cpuSeconds ?? 0) / n } : {}),
  };
}

// ---------- speed probe: prompt eval and generation timed apart ----------

async function speedProbe(file: string, prompt: string, threads: number): Promise<SpeedProbe> {
  const llama = await getLlama({ gpu: false, logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: file });
  const context = await model.createContext({ contextSize: CONTEXT, sequences: 1, threads });
  const seq = context.getSequence();
  const loadAverage = Math.round(os.loadavg()[0]! * 10) / 10;
  const runs: Array<{ pt: number; pps: number; gt: number; gps: number }> = [];
  try {
    for (let r = 0; r < PROBE_RUNS; r++) {
      await seq.clearHistory();
      const completion = new LlamaCompletion({ contextSequence: seq });
      const start = performance.now();
      let first = 0;
      let tokens = 0;
      await completion.generateCompletion(prompt, {
        maxTokens: 96,
        temperature: 0,
        onToken: (t) => {
          if (!first) first = performance.now();
          tokens += t.length;
        },
      });
      const end = performance.now();
      const pt = model.tokenize(prompt, true).length;
      // Time to the first token = prompt evaluation (+ one sampling step).
      runs.push({ pt, pps: pt / ((first - start) / 1000), gt: tokens, gps: tokens > 1 ? (tokens - 1) / ((end - first) / 1000) : 0 });
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
  const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    threads,
    measuredAt: new Date().toISOString(),
    loadAverage,
    promptTokens: runs[0]!.pt,
    promptTokensPerSecond: median(runs.map((r) => r.pps)),
    generatedTokens: median(runs.map((r) => r.gt)),
    generationTokensPerSecond: median(runs.map((r) => r.gps)),
    runs: runs.length,
  };
}

/** The probe prompt: the first turn of a real question, in the model's own turn format. */
async function speedProbes(file: string, q: Question, search: boolean): Promise<SpeedProbe[]> {
  const text = instructionPrompt({ question: q.question, tools: search ? ['search'] : ['calculator'], maxSteps: search ? HOTPOT_STEPS : GSM_STEPS });
  const { prompt } = renderPrompt([new HumanMessage(text)], await detectTemplate(file));
  const out: SpeedProbe[] = [];
  for (const threads of PROBE_THREADS) out.push(await speedProbe(file, prompt, threads));
  return out;
}

// ---------- one model ----------

/** The settings that decide an episode's outcome (not --max-minutes): episodes may be reused only across equal ones. */
function settingsKey(st: ModelResult['settings']): string {
  return JSON.stringify([st.threads, st.contextSize, st.maxTokens, st.temperature, st.seed, st.sequences, st.gsm8kMaxSteps, st.hotpotqaMaxSteps, st.searchTopK]);
}

function currentSettings(): ModelResult['settings'] {
  return { threads: THREADS, contextSize: CONTEXT, maxTokens: MAX_TOKENS, temperature: 0, seed: SEED, sequences: 1, gsm8kMaxSteps: GSM_STEPS, hotpotqaMaxSteps: HOTPOT_STEPS, searchTopK: 1, maxMinutes: Number.isFinite(MAX_MINUTES) ? MAX_MINUTES : null };
}

/** The stored episodes of a model a --resume run may keep, by `dataset/id`; throws when the settings differ. */
function resumable(prior: ModelResult | undefined): Map<string, EpisodeRecord> {
  const kept = new Map<string, EpisodeRecord>();
  if (!prior) return kept;
  if (settingsKey(prior.settings) !== settingsKey(currentSettings()))
    throw new Error(`--resume: ${prior.model} was measured with other settings (${settingsKey(prior.settings)} vs ${settingsKey(currentSettings())}); rerun without --resume to replace it`);
  for (const e of prior.episodes) kept.set(`${e.dataset}/${e.id}`, e);
  return kept;
}

async function measure(name: string, gsm: Question[], hotpot: Question[], prior?: ModelResult): Promise<ModelResult> {
  const fileName = EMBEDDED_MODELS[name];
  if (!fileName) throw new Error(`unknown embedded model ${name} (known: ${Object.keys(EMBEDDED_MODELS).join(', ')})`);
  const file = path.join(modelsDir, fileName);
  if (!existsSync(file)) throw new Error(`${name} is not installed (${file}); run: npm run setup -- --models ${name}`);
  const chat = new LlamaCppChat({ modelPath: file, modelName: name, threads: THREADS, contextSize: CONTEXT, sequences: 1, temperature: 0, maxTokens: MAX_TOKENS });
  await chat.warmUp();
  const calculator = makeTool('calculator', { kind: 'calculator' }, root).tool;
  const search = makeTool('search', { kind: 'search', corpus: 'data/hotpotqa/corpus.jsonl', split: 'dev', topK: 1 }, root).tool;

  const order: Array<{ q: Question; set: 'gsm8k' | 'hotpotqa' }> = [];
  for (let i = 0; i < Math.max(gsm.length, hotpot.length); i++) {
    if (gsm[i]) order.push({ q: gsm[i]!, set: 'gsm8k' });
    if (hotpot[i]) order.push({ q: hotpot[i]!, set: 'hotpotqa' });
  }
  const episodes: EpisodeRecord[] = [];
  const trajDir = path.join(root, '.swirl', 'bench');
  mkdirSync(trajDir, { recursive: true });
  const trajFile = path.join(trajDir, `models-${name}.jsonl`);
  const kept = resumable(prior);
  const trajectories: Trajectory[] = [];
  // A resumed run keeps the stored trajectories of the episodes it keeps.
  if (kept.size && existsSync(trajFile))
    for (const l of readFileSync(trajFile, 'utf8').split('\n'))
      if (l) {
        const t = JSON.parse(l) as Trajectory;
        if (kept.has(`${t.dataset}/${t.questionId}`)) trajectories.push(t);
      }
  const started = performance.now();
  let cutShort = false;
  let priorSeconds = 0;
  const snapshot = (speed: ModelResult['speed']): ModelResult => result(name, fileName, file, episodes, speed, cutShort, priorSeconds + (performance.now() - started) / 1000, prior);
  for (const { q, set } of order) {
    const old = kept.get(`${set}/${q.id}`);
    if (old) {
      episodes.push(old);
      priorSeconds += old.seconds;
      continue;
    }
    if ((performance.now() - started) / 60000 >= MAX_MINUTES) {
      cutShort = true;
      break;
    }
    const eq: EpisodeQuestion = { id: q.id, question: q.question, answer: q.answer, dataset: q.dataset };
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let traj: Trajectory;
    try {
      traj = await runEpisode(chat, eq, {
        tools: set === 'gsm8k' ? { calculator } : { search },
        maxSteps: set === 'gsm8k' ? GSM_STEPS : HOTPOT_STEPS,
        sample: 0,
        seed: SEED,
        temperature: 0,
        maxTokens: MAX_TOKENS,
        modelName: name,
      });
    } catch (err) {
      traj = { id: `${q.id}#0`, questionId: q.id, dataset: q.dataset, sample: 0, status: 'error', messages: [], steps: [], gold: q.answer, usage: { inputTokens: 0, outputTokens: 0, modelCalls: 0 }, model: name, lastText: String(err) };
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    trajectories.push(traj);
    const turns = traj.usage.modelCalls;
    const rec: EpisodeRecord = {
      dataset: set,
      id: q.id,
      status: traj.status,
      turns,
      validTurns: turns - (traj.status === 'no_action' || traj.status === 'error' ? Math.min(1, turns) : 0),
      toolCalls: traj.steps.filter((s) => s.observation !== undefined).length,
      ...(traj.answer !== undefined ? { answer: traj.answer } : {}),
      gold: q.answer,
      correct: set === 'gsm8k' ? gsm8kCorrect(traj.answer, q.answer) : exactMatch(traj.answer, q.answer),
      ...(set === 'hotpotqa' ? { f1: tokenF1(traj.answer, q.answer) } : {}),
      seconds,
      cpuSeconds,
      inputTokens: traj.usage.inputTokens,
      outputTokens: traj.usage.outputTokens,
    };
    episodes.push(rec);
    if (flag('resume')) {
      writeFileSync(trajFile, trajectories.map((t) => JSON.stringify(t)).join('\n') + '\n');
      saveResult({ ...snapshot(prior?.speed ?? []), cutShort: true });
    }
    process.stderr.write(`${name} ${set} ${episodes.length}/${order.length} ${rec.status} turns=${turns} ${rec.correct ? 'correct' : 'wrong'} ${seconds.toFixed(1)}s answer=${JSON.stringify(rec.answer ?? '').slice(0, 40)} gold=${JSON.stringify(q.answer).slice(0, 30)}\n`);
  }
  cutShort ||= episodes.length < order.length;
  writeFileSync(trajFile, trajectories.map((t) => JSON.stringify(t)).join('\n') + '\n');
  const speed = flag('keep-speed') && prior?.speed.length ? prior.speed : await speedProbes(file, hotpot[0] ?? gsm[0]!, hotpot[0] !== undefined);
  return snapshot(speed);
}

function result(name: string, fileName: string, file: string, episodes: EpisodeRecord[], speed: ModelResult['speed'], cutShort: boolean, wallSeconds: number, prior?: ModelResult): ModelResult {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const command = `npx tsx bench/models.ts ${process.argv.slice(2).join(' ')}`.trim();
  const reused = prior ? episodes.filter((e) => prior.episodes.includes(e)).length : 0;
  return {
    model: name,
    file: fileName,
    fileMB: Math.round(statSync(file).size / 1e6),
    measuredAt: new Date().toISOString(),
    command: reused ? `${command} (kept ${reused} episodes of the run of ${prior!.measuredAt.slice(0, 16).replace('T', ' ')} UTC: \`${prior!.command.replace(/ \(kept .*$/, '')}\`)` : command,
    machine: `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}${flag('quiet-machine') ? ', nothing else running' : ", shared with other engineers' test runs"}`,
    settings: currentSettings(),
    requested: N,
    cutShort,
    gsm8k: summarize(episodes.filter((e) => e.dataset === 'gsm8k')),
    hotpotqa: summarize(episodes.filter((e) => e.dataset === 'hotpotqa')),
    speed,
    wallSeconds,
    episodes,
  };
}

/**
 * Rebuilds a model's episode numbers from the trajectories a run stored
 * (.swirl/bench/models-NAME.jsonl, written before the speed probe) and the
 * per-episode wall times of its stderr log, for a run that was stopped during
 * its speed probe. Settings must be passed as the run had them.
 */
function salvage(name: string, logFile: string, command: string): ModelResult {
  const trajFile = path.join(root, '.swirl', 'bench', `models-${name}.jsonl`);
  const trajs = readFileSync(trajFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Trajectory);
  const secs = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.startsWith(`${name} `)).map((l) => Number(/ ([\d.]+)s answer=/.exec(l)?.[1]));
  if (secs.length !== trajs.length) throw new Error(`${logFile}: ${secs.length} episode lines for ${trajs.length} trajectories`);
  const episodes: EpisodeRecord[] = trajs.map((t, i) => {
    const set = t.dataset === 'gsm8k' ? 'gsm8k' : 'hotpotqa';
    const turns = t.usage.modelCalls;
    return {
      dataset: set,
      id: t.questionId,
      status: t.status,
      turns,
      validTurns: turns - (t.status === 'no_action' || t.status === 'error' ? Math.min(1, turns) : 0),
      toolCalls: t.steps.filter((st) => st.observation !== undefined).length,
      ...(t.answer !== undefined ? { answer: t.answer } : {}),
      gold: t.gold,
      correct: false,
      seconds: secs[i]!,
      inputTokens: t.usage.inputTokens,
      outputTokens: t.usage.outputTokens,
    };
  });
  const fileName = EMBEDDED_MODELS[name]!;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return {
    model: name,
    file: fileName,
    fileMB: Math.round(statSync(path.join(modelsDir, fileName)).size / 1e6),
    measuredAt: statSync(trajFile).mtime.toISOString(),
    command: `${command} (episodes rebuilt from the stored trajectories after the run was stopped during its speed probe)`,
    machine: `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.versions.node}, shared with other engineers' test runs`,
    settings: { threads: THREADS, contextSize: CONTEXT, maxTokens: MAX_TOKENS, temperature: 0, seed: SEED, sequences: 1, gsm8kMaxSteps: GSM_STEPS, hotpotqaMaxSteps: HOTPOT_STEPS, searchTopK: 1, maxMinutes: Number.isFinite(MAX_MINUTES) ? MAX_MINUTES : null },
    requested: N,
    cutShort: episodes.length < 2 * N,
    gsm8k: summarize(episodes.filter((e) => e.dataset === 'gsm8k')),
    hotpotqa: summarize(episodes.filter((e) => e.dataset === 'hotpotqa')),
    speed: [],
    wallSeconds: episodes.reduce((a, e) => a + e.seconds, 0),
    episodes,
  };
}

// ---------- report ----------

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
const f1 = (x: number) => x.toFixed(1);

function tables(results: ModelResult[]): string {
  const lines: string[] = [];
  lines.push('### GSM8K (test, calculator, maxSteps 10)', '');
  lines.push('| model | maxTokens | episodes | turns with a valid action | answered | no_action / max_steps / error | accuracy (numeric) | mean turns | mean tool calls | wall s / episode (CPU s) |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const s = r.gsm8k;
    lines.push(`| ${r.model} | ${String(r.settings.maxTokens)} | ${s.n} | ${pct(s.validShare)} (${s.validTurns}/${s.turns}) | ${pct(s.answeredShare)} (${s.answered}) | ${s.noAction} / ${s.maxSteps} / ${s.errors} | ${pct(s.accuracy)} (${Math.round(s.accuracy * s.n)}/${s.n}) | ${s.meanTurns.toFixed(2)} | ${s.meanToolCalls.toFixed(2)} | ${f1(s.secondsPerEpisode)}${s.cpuSecondsPerEpisode !== undefined ? ` (${f1(s.cpuSecondsPerEpisode)})` : ''} |`);
  }
  lines.push('', '### HotPotQA (dev, hard; BM25 top-1 search over the dev paragraphs, maxSteps 5)', '');
  lines.push('| model | maxTokens | episodes | turns with a valid action | answered | no_action / max_steps / error | exact match | token F1 | mean turns | mean tool calls | wall s / episode (CPU s) |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const s = r.hotpotqa;
    lines.push(`| ${r.model} | ${String(r.settings.maxTokens)} | ${s.n} | ${pct(s.validShare)} (${s.validTurns}/${s.turns}) | ${pct(s.answeredShare)} (${s.answered}) | ${s.noAction} / ${s.maxSteps} / ${s.errors} | ${pct(s.accuracy)} (${Math.round(s.accuracy * s.n)}/${s.n}) | ${(s.f1 ?? 0).toFixed(3)} | ${s.meanTurns.toFixed(2)} | ${s.meanToolCalls.toFixed(2)} | ${f1(s.secondsPerEpisode)}${s.cpuSecondsPerEpisode !== undefined ? ` (${f1(s.cpuSecondsPerEpisode)})` : ''} |`);
  }
  lines.push('', '### Speed (one sequence; median over the probe runs)', '');
  lines.push('| model | GGUF file | size | threads | probe runs | prompt tok/s | generation tok/s | probe prompt tokens | load average at probe | mean generated tokens per turn (episodes) |');
  lines.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of results) {
    const all = [...r.gsm8k.turns ? [r.gsm8k] : [], ...r.hotpotqa.turns ? [r.hotpotqa] : []];
    const turns = all.reduce((a, s) => a + s.turns, 0);
    const perTurn = turns ? all.reduce((a, s) => a + s.meanOutputTokensPerTurn * s.turns, 0) / turns : 0;
    for (const sp of r.speed) {
      lines.push(`| ${r.model} | ${r.file} | ${r.fileMB} MB | ${sp.threads} | ${sp.runs} | ${f1(sp.promptTokensPerSecond)} | ${f1(sp.generationTokensPerSecond)} | ${sp.promptTokens} | ${sp.loadAverage ?? '?'} | ${f1(perTurn)} |`);
    }
  }
  return lines.join('\n');
}

/** The native tool-calling probe (bench/tool-calls-probe.ts), hand-written like FINDINGS. */
const TOOL_CALLS = `## Native tool calling (protocol \`tool-calls\`, probe 2026-11-27)

\`LlamaCppChat.bindTools\` renders prompts with the GGUF's node-llama-cpp chat wrapper (gemma3-270m:
Gemma, smollm2-135m: ChatML, both Qwen models: Qwen) and parses calls in its syntax (Gemma and
ChatML: \`||call: calculator({"input": "…"})\`; Qwen: \`<tool_call>\\n{"name": …, "arguments": {…}}\\n</tool_call>\`).
Probe: \`node --import tsx bench/tool-calls-probe.ts\` (calculator, greedy, maxTokens 48–96, 1 thread,
2 questions per model unless noted; \`--ask\` replaces the protocol's instruction by one that asks
for the tool; \`--round-trip\` adds the Qwen templates' default system message). **No installed model
wrote a call in its wrapper's syntax, so no real call round trip was observed:**
- qwen2.5-coder-0.5b: with the protocol's instruction it copied the prompt's example
  (\`<answer>72</answer>\` for 1234 × 5678). With \`--ask\` it wrote the call as bare JSON,
  \`{"name": "calculator", "arguments": {"input": "1234 * 5678"}}\`, without the \`<tool_call>\` tags
  (2/2); with \`--round-trip\` the same JSON inside a \`\`\`\` \`\`\`json \`\`\`\` fence (1/1).
- qwen2.5-coder-1.5b (\`--ask\`, 1 question): the same fenced JSON, no tags.
- gemma3-270m: repeated the function documentation of its prompt (4/4). smollm2-135m: did the
  arithmetic itself, wrongly (4/4).

Such turns have no tool call, so the episode takes the text as its answer. The parser follows the
wrapper's syntax only (a looser reading of bare JSON would be a guess); the call, result and parse
paths are covered by unit tests with the wrappers (\`tests/unit/llama-cpp-tools.test.ts\`) and the
protocol by \`tests/integration/llama-tool-calls.test.ts\`.
`;

/** What the numbers above mean, written after the runs listed under "Runs" (2026-11-27). Rewrite it when the numbers change. */
const REPRODUCIBLE = `## What is reproducible (batched sampling, KV reuse)

A llama-cpp model decodes up to \`parallel\` requests together (default 4; one context, one
sequence per request, one llama.cpp batch per step) and keeps each sequence's KV cache, so an
episode's next turn evaluates only the tool result and the new turn (\`kvReuse\`, default true).
What that means for getting the same text twice:

- **A resumed or rerun episode gets the same text as the first run**: every llama-cpp call goes
  through the LLM call ledger, which returns the recorded completion by key (the prompt, the
  decoding parameters, the per-turn seed, the adapter's hash). A worker killed mid-batch resumes
  without making any completed call again (\`tests/integration/ledger-crash.test.ts\`, batched).
- **A fresh run is not bit-reproducible in the batched mode.** A token's logits are float sums
  whose order depends on how the work was split: which other sequences shared the batch, how a
  prompt was cut into batches, how much of it came from the cache. Greedy decoding mostly gives
  the same text (all 4 GSM8K episodes identical to the isolated mode in the probe behind
  \`bench/episodes.ts\`), but a close call between two tokens can flip, and at temperature 1 a
  flipped token changes the rest of the episode. The same seed with the same batch layout gives
  the same text; a kill, a second worker or a different \`concurrency\` changes the layout.
- **The isolated mode is bit-reproducible**: \`parallel: 1, kvReuse: false\` evaluates every prompt
  from a cleared sequence, one request at a time (swirl before batching). Tests that compare two
  independent runs byte for byte use it (plan-crash, train-crash, llama-tool-calls).

A defect found on the way: node-llama-cpp 3.21.1 samples every sequence of a batch on its own
thread, and llama.cpp reorders a multi-sequence batch's output rows in place on first read;
concurrent sampling raced on it and sequences read each other's logits (greedy answers with words
from the other prompts, from the first token on). swirl samples one sequence at a time
(\`serializeSampling\` in \`agents/llama-cpp-chat.ts\`; \`tests/integration/llama-batched.test.ts\`
fails without it); on 2 cores that was also faster than sampling side by side.
`;

const FINDINGS = `## What the runs showed (2026-11-27 and 28)

- **Only qwen2.5-coder-1.5b follows the protocol.** On HotPotQA every one of its 61 turns held a
  valid tag and it answered 49 of 50 questions (3 exact matches, token F1 0.108); it searched in 7
  episodes (11 searches), one of which repeated its search until maxSteps. On GSM8K it reasons step by step and
  often runs out of its 256 tokens before a tag (38 of 50 episodes ended \`no_action\`); the 12 it
  answered held 6 correct answers (12% of all 50); it used the calculator in 4 episodes, 3 of them
  correct. Its first 9 episodes ran under \`nice -n 10\` beside other test runs (36 s to 13 min
  of wall time each); the other 91 on a quieter machine, resumed with \`--resume\`.
- **qwen2.5-coder-0.5b writes a tag about half the time and never uses a tool.** GSM8K: 17 of 50
  episodes answered (one correct), 33 ended \`no_action\` after 256 tokens of Markdown reasoning;
  HotPotQA: 31 of 50 answered directly (2 exact matches), without a single search. Its first 25
  episodes ran on the shared machine (2026-11-27), the other 75 on a quiet one (3.6–25.2 s each).
- **smollm2-135m never wrote a tag** (0 of 100 episodes). It answers in plain text ("The answer is 6.")
  and then keeps generating invented "Question: … Answer: …" pairs until maxTokens.
- **gemma3-270m** is the base model (the GGUF has no chat template). Its 100% valid-action share is
  an artefact: in the 2026-11-28 runs (50 + 50 episodes, 2 threads) every turn was the same
  well-formed tag with the input \`and\` — \`<math_exp>and</math_exp>\` on GSM8K (the calculator answers
  \`Error: unknown name 'and'\`) and \`<search_query>and</search_query>\` on HotPotQA — until maxSteps; it
  never answered. The share counts the tags' form, not their use. (On 2026-11-27, before the
  special-token fix, it wrote no tag on GSM8K at all.) The word came from the instructions, which
  said "between <math_exp> and </math_exp>": since 2026-12-05 they show only a worked example
  (\`<math_exp>48 / 2</math_exp>\`), and gemma3-270m now copies that example in every turn instead
  (8 of 8 GSM8K episodes in \`bench/episodes.ts\`, 10 steps each, none answered). The tables
  below are from before the change and have not been re-measured yet.
- **maxTokens matters for the instruct models:** the quickstart's 96 tokens cut qwen2.5-coder-1.5b's
  step-by-step reasoning before its tag (its first GSM8K episode at 96 tokens ended \`no_action\`; the
  same question at 256 tokens ended with an answer), so the Qwen rows use 256.
- **Threads:** on the shared machine (2026-11-27, load average ~5) node-llama-cpp with 2 threads was
  10–50× slower at generation than with 1 (gemma3-270m 0.5 vs 23.0 tok/s; smollm2-135m 2.3 vs
  20.4 tok/s): with the second core busy, every step waits for the slower thread. The Qwen and
  smollm2 episodes therefore ran with 1 thread. On a quiet machine 2 threads are faster for every
  model (speed table, probes of 2026-11-28 08:16–08:19 UTC: 3 runs per model and thread count, the
  models one after another in one process, nothing else running but an editor; the load average
  in the table includes the probe itself).
- Chat formats: smollm2-135m and both Qwen models carry ChatML templates (\`<|im_start|>\`) in their
  GGUF metadata and are detected as \`chatml\`; gemma3-270m has none and is detected as \`gemma\`
  by its architecture. Both Qwen templates (and SmolLM2's) insert a default system message when a
  conversation has none ("You are Qwen, created by Alibaba Cloud…"); swirl's renderer does not.
`;

function renderDoc(results: ModelResult[]): string {
  const runs = results
    .map((r) => `- **${r.model}**: ${r.measuredAt.slice(0, 16).replace('T', ' ')} UTC, \`${r.command}\`, ${r.gsm8k.n} GSM8K + ${r.hotpotqa.n} HotPotQA episodes of ${r.requested} + ${r.requested} requested${r.cutShort ? ` (**cut short** by --max-minutes ${String(r.settings.maxMinutes)}: only these episodes were run; nothing is extrapolated)` : ''}, ${Math.round(r.wallSeconds)} s of episodes. Machine: ${r.machine}.`)
    .join('\n');
  const s = results[0]?.settings ?? {};
  return `# Embedded models, measured

Generated by \`bench/models.ts\` from \`docs/models-results/*.json\`; do not edit by hand (rerun the bench,
or \`npx tsx bench/models.ts --docs-only\` to regenerate this page from the stored numbers).

Every model runs the SWiRL tag protocol exactly as the rollout stage does (\`agents/episode.ts\`
\`runEpisode\`, the default prompt of \`agents/protocol.ts\`, the model's own chat format from
\`agents/llama-cpp-chat.ts\`): GSM8K test questions with the calculator and maxSteps 10
(as \`pipelines/gsm8k.yaml\`), HotPotQA dev questions with BM25 top-1 search over the dev
paragraphs and maxSteps 5 (as \`pipelines/hotpotqa.yaml\`). The questions are the first N of
each set after the dataset stage's seeded shuffle with seed ${String(s.seed ?? 0)} (the same rows a
\`dataset\` stage with \`seed: 0\` selects), taken interleaved. Decoding is greedy (temperature 0),
maxTokens per turn as in the tables, context ${String(s.contextSize)}, one sequence; threads per model as in each command under "Runs" below.

- *Turns with a valid action*: model turns whose text holds a complete action tag
  (\`<math_exp>\`, \`<search_query>\` or \`<answer>\`); a turn without one ends the episode as \`no_action\`.
- *Answered*: episodes that end with \`<answer>\`. *max_steps*: the model kept calling tools past maxSteps.
- *Accuracy* counts every episode (unanswered = wrong). GSM8K: the last number in the answer equals
  the gold \`#### N\`. HotPotQA: SQuAD-normalized exact match and token F1 (bench-local matchers;
  the official judges live under \`agents/judges/\`).
- *wall s / episode (CPU s)*: wall time of one episode, including the tool calls; CPU seconds of the
  process during it (about the time on an idle core) where the run recorded them (not the 2026-11-27 runs).
- *Speed*: a separate probe per model on a real first-turn prompt: prompt tok/s = prompt tokens ÷ time
  to the first generated token; generation tok/s = further tokens ÷ the time after the first
  (96 tokens at most, greedy), on the 2-core machine described under "Runs" below, with
  no other bench or test running (2026-11-28 08:16–08:19 UTC).

## The default: gemma3-270m for the quickstart, qwen2.5-coder-1.5b by name

No installed model both follows the protocol and fits the quickstart's 10 minutes on 2 cores:

- **qwen2.5-coder-1.5b** is the only one whose tags mean something (the tables below). At its
  measured 6.6–11.2 tok/s a GSM8K episode took ~64 s; the quickstart's 12 rollout and 8 evaluation
  episodes alone would take ~13–21 minutes before its 1.5B-parameter training steps. It is the
  model to name for runs that must learn something: \`npm run setup -- --models qwen2.5-coder-1.5b\`,
  then \`model: qwen2.5-coder-1.5b\` in the spec's llama-cpp model.
- **qwen2.5-coder-0.5b** is 2× faster but never called a tool in 100 episodes and got 1 of 50
  GSM8K questions right: no better signal than the default at a larger training cost.
- **smollm2-135m** never wrote a tag.
- **gemma3-270m** (the default, installed by \`npm run setup\`) is the smallest model the whole loop
  runs with in budget: the quickstart, rollouts to trained evaluation and report, took 245–401 s in
  the clean-clone CI runs of sessions 2–6 (NOTES.md). With the quickstart's one-shot prompt (\`pipelines/prompts/gsm8k-one-shot.txt\`) it
  writes a valid action in about half its turns (probe of 2026-11-27: 8 valid actions in 14 turns,
  2 of 8 episodes answered, none correct); with the default zero-shot prompt it only repeats the instruction's example (below). Its rewards
  are ~0, so the quickstart shows the machinery, not learning (docs/results.md).

## Results

${tables(results)}
${results.some((r) => r.speed.length === 0) ? `\nNo speed row for ${results.filter((r) => r.speed.length === 0).map((r) => r.model).join(', ')}: the probe did not finish in the time available.\n` : ''}
${FINDINGS}

${REPRODUCIBLE}
${TOOL_CALLS}
## Runs

${runs}

Speed rows: \`npx tsx bench/models.ts --speed-only --models gemma3-270m,smollm2-135m,qwen2.5-coder-0.5b,qwen2.5-coder-1.5b --probe-runs 3 --probe-threads 1,2\`
(one process, the models one after another; 2026-11-28 08:16 UTC).
`;
}

const resultFile = (model: string) => path.join(resultsDir, `${model}.json`);

/** Stored results, with correctness and summaries recomputed by the current matchers. */
function loadResults(): Record<string, ModelResult> {
  const out: Record<string, ModelResult> = {};
  for (const m of Object.keys(EMBEDDED_MODELS)) {
    if (!existsSync(resultFile(m))) continue;
    const r = JSON.parse(readFileSync(resultFile(m), 'utf8')) as ModelResult;
    for (const e of r.episodes) {
      e.correct = e.dataset === 'gsm8k' ? gsm8kCorrect(e.answer, e.gold) : exactMatch(e.answer, e.gold);
      if (e.dataset === 'hotpotqa') e.f1 = tokenF1(e.answer, e.gold);
    }
    r.gsm8k = summarize(r.episodes.filter((e) => e.dataset === 'gsm8k'));
    r.hotpotqa = summarize(r.episodes.filter((e) => e.dataset === 'hotpotqa'));
    out[m] = r;
  }
  return out;
}

function saveResult(r: ModelResult): void {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(resultFile(r.model), JSON.stringify(r, null, 1) + '\n');
}

function writeDoc(all: Record<string, ModelResult>): void {
  const ordered = Object.keys(EMBEDDED_MODELS)
    .filter((m) => all[m])
    .map((m) => all[m]!);
  writeFileSync(docFile, renderDoc(ordered));
}

async function main(): Promise<void> {
  const all = loadResults();
  if (flag('docs-only')) {
    writeDoc(all);
    console.log(tables(Object.values(all)));
    return;
  }
  const gsm = loadQuestions(path.join(root, 'data/gsm8k/test.jsonl'), 'gsm8k', undefined, N);
  const hotpot = loadQuestions(path.join(root, 'data/hotpotqa/questions.jsonl'), 'hotpotqa', 'dev', N);
  const measured: ModelResult[] = [];
  for (const name of MODELS) {
    let r: ModelResult;
    if (arg('salvage-log')) {
      r = salvage(name, arg('salvage-log')!, arg('salvage-command') ?? 'npx tsx bench/models.ts');
    } else if (flag('speed-only')) {
      const old = all[name];
      if (!old) throw new Error(`no stored results for ${name}; run its episodes first`);
      // Probes for other thread counts are kept.
      const fresh = await speedProbes(path.join(modelsDir, old.file), hotpot[0]!, true);
      r = { ...old, speed: [...old.speed.filter((sp) => !PROBE_THREADS.includes(sp.threads)), ...fresh].sort((a, b) => a.threads - b.threads) };
    } else {
      r = await measure(name, gsm, hotpot, flag('resume') ? all[name] : undefined);
    }
    measured.push(r);
    saveResult(r);
    writeDoc(loadResults());
  }
  console.log(tables(measured));
  console.log(`\nwrote ${path.relative(root, resultsDir)}/ and ${path.relative(root, docFile)}`);
  process.exit(0);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
