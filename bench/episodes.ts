// GSM8K episodes per hour on the embedded runtime, before and after batched
// sampling with KV reuse (issue 18's user-visible figure), on the same questions,
// side by side in one process:
//   isolated: one sequence, every prompt evaluated from a cleared sequence, one
//             episode at a time (swirl before issue 18; `parallel: 1, kvReuse: false`);
//   batched:  P sequences decoded together, each turn reusing its episode's KV
//             cache, P episodes at a time (`parallel: P`, the default). Several
//             values of P (`--parallel 4,8`) each get their own context.
// Settings of pipelines/gsm8k.yaml (calculator, maxSteps 10, maxTokens 512, its
// default prompt) with greedy decoding as its evaluate stages use. Questions go
// in blocks of the largest P; each block runs in every mode, rotating which goes first.
//
//   node --import tsx bench/episodes.ts [--model gemma3-270m] [--n 50] [--parallel 4[,8,…]]
//        [--threads N] [--max-tokens 512] [--prompt FILE] [--json FILE]
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { runEpisode } from '../agents/episode.js';
import { LlamaCppChat, runtimeStats } from '../agents/llama-cpp-chat.js';
import { resolveModelPath } from '../agents/models.js';
import type { Trajectory } from '../agents/types.js';
import { toQuestion, type Question } from '../activities/dataset-formats.js';
import { seededShuffle } from '../activities/rng.js';
import { packageRoot } from '../runtime/paths.js';
import { makeTool } from '../tools/registry.js';
import { gsm8kCorrect } from './models.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const MODEL = arg('model', 'gemma3-270m');
const N = Number(arg('n', '50'));
const PS = arg('parallel', '4').split(',').map(Number);
const P = Math.max(...PS);
const THREADS = Number(arg('threads', String(availableParallelism())));
const MAX_TOKENS = Number(arg('max-tokens', '512'));
const PROMPT = arg('prompt', '');
const JSON_OUT = arg('json', '');
const CONTEXT = 8192;

function questions(): Question[] {
  const file = path.join(packageRoot, 'data', 'gsm8k', 'test.jsonl');
  const rows: Question[] = [];
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .forEach((l, i) => {
      const q = toQuestion(JSON.parse(l) as Record<string, unknown>, rows.length, i + 1, { format: 'gsm8k', path: 'data/gsm8k/test.jsonl' });
      if (q) rows.push(q);
    });
  return seededShuffle(rows, 0).slice(0, N);
}

interface Mode {
  name: string;
  chat: LlamaCppChat;
  lanes: number;
  seconds: number;
  trajectories: Trajectory[];
}

async function main(): Promise<void> {
  const file = resolveModelPath(MODEL, { modelsDir: path.join(packageRoot, '.swirl', 'models'), projectRoot: packageRoot });
  const common = { modelPath: file, modelName: MODEL, threads: THREADS, contextSize: CONTEXT, temperature: 0, maxTokens: MAX_TOKENS };
  const modes: Mode[] = [
    { name: 'isolated', chat: new LlamaCppChat({ ...common, sequences: 1, kvReuse: false }), lanes: 1, seconds: 0, trajectories: [] },
    ...PS.map((p) => ({ name: `batched (parallel ${p})`, chat: new LlamaCppChat({ ...common, sequences: p, kvReuse: true }), lanes: p, seconds: 0, trajectories: [] as Trajectory[] })),
  ];
  for (const m of modes) await m.chat.warmUp();
  const calculator = makeTool('calculator', { kind: 'calculator' }, packageRoot).tool;
  const template = PROMPT ? readFileSync(path.resolve(PROMPT), 'utf8') : undefined;
  const qs = questions();
  const run = async (m: Mode, block: Question[]) => {
    const out: Trajectory[] = new Array(block.length);
    let next = 0;
    const lane = async () => {
      while (next < block.length) {
        const i = next++;
        const q = block[i]!;
        out[i] = await runEpisode(m.chat, { id: q.id, question: q.question, answer: q.answer, dataset: 'gsm8k' }, { tools: { calculator }, maxSteps: 10, sample: 0, seed: 0, temperature: 0, maxTokens: MAX_TOKENS, modelName: MODEL, ...(template ? { template } : {}) });
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: m.lanes }, lane));
    m.seconds += (performance.now() - t0) / 1000;
    m.trajectories.push(...out);
  };
  for (let b = 0, k = 0; b < qs.length; b += P, k++) {
    const block = qs.slice(b, b + P);
    // Rotate the order block by block, so a noisy moment does not land on one mode only.
    for (let j = 0; j < modes.length; j++) await run(modes[(j + k) % modes.length]!, block);
    console.error(`${Math.min(qs.length, b + P)}/${qs.length}: ${modes.map((m) => `${m.name} ${m.seconds.toFixed(0)} s`).join(', ')}`);
  }
  const summary = await Promise.all(
    modes.map(async (m) => {
      const t = m.trajectories;
      const stats = await runtimeStats(m.chat.params);
      return {
        mode: m.name,
        parallel: m.lanes,
        episodes: t.length,
        seconds: m.seconds,
        episodesPerHour: (t.length / m.seconds) * 3600,
        correct: t.filter((x) => gsm8kCorrect(x.answer, x.gold)).length,
        answered: t.filter((x) => x.status === 'answered').length,
        modelCalls: t.reduce((a, x) => a + x.usage.modelCalls, 0),
        outputTokens: t.reduce((a, x) => a + x.usage.outputTokens, 0),
        promptTokens: stats.promptTokens,
        promptTokensFromCache: stats.reusedTokens,
      };
    }),
  );
  const iso = summary[0]!;
  const same = (m: Mode) => modes[0]!.trajectories.filter((t, i) => t.lastText === m.trajectories[i]!.lastText && t.answer === m.trajectories[i]!.answer).length;
  console.log(`${MODEL}, ${qs.length} GSM8K test questions (seed 0), calculator, maxSteps 10, maxTokens ${MAX_TOKENS}, greedy, ${THREADS} threads, ${PROMPT || 'default prompt'}`);
  console.log('| mode | episodes/hour | correct | answered | model calls | generated tokens | prompt tokens (from KV cache) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const s of summary)
    console.log(`| ${s.mode} | ${s.episodesPerHour.toFixed(0)} | ${s.correct}/${s.episodes} | ${s.answered}/${s.episodes} | ${s.modelCalls} | ${s.outputTokens} | ${s.promptTokens} (${s.promptTokensFromCache}) |`);
  const sameLast = modes.slice(1).map(same);
  summary.slice(1).forEach((s, i) => console.log(`${s.mode} / isolated: ${(s.episodesPerHour / iso.episodesPerHour).toFixed(2)}x episodes per hour; ${sameLast[i]}/${qs.length} episodes ended with the same last turn as isolated`));
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ model: MODEL, n: qs.length, threads: THREADS, maxTokens: MAX_TOKENS, prompt: PROMPT || null, summary, sameLastTurn: sameLast }, null, 2));
}

await main();
