// Batched sampling against llama.cpp itself (issue 18): for each model and batch
// size B, B requests of PP prompt tokens generating up to TG tokens each, run
// through swirl's runtime (LlamaCppChat: one context with B sequences, decoded
// together) and through llama.cpp's own `llama-batched-bench` built from the
// source node-llama-cpp ships (scripts/build-llama-tools.sh), same GGUF, same
// threads, measured side by side in one run, alternating, best of `--rounds`.
//
//   node --import tsx bench/llama-batched.ts [--models gemma3-270m,qwen2.5-coder-1.5b]
//        [--batches 1,4,8,16] [--pp 128] [--tg 64] [--threads N] [--rounds 2]
//        [--llama-bin DIR] [--json FILE]
//   node --import tsx bench/llama-batched.ts --child GGUF B [--threads N] [--contexts K]
//        (swirl's side alone; K contexts of B/K sequences and N/K threads each, the
//        requests split between them: one context with every thread vs several with one)
//
// Prompt tok/s = B·PP / time to the first token of every request; generation
// tok/s = tokens generated / the rest of the time (llama-batched-bench's S_PP and
// S_TG). llama-batched-bench decodes without sampling; swirl's runtime samples
// every token (greedy here) and stops at end of turn, so its generated count is
// what was actually produced (printed).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HumanMessage } from '@langchain/core/messages';
import { LlamaCppChat, runtimeStats } from '../agents/llama-cpp-chat.js';
import { resolveModelPath } from '../agents/models.js';
import { packageRoot } from '../runtime/paths.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
}
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

const MODELS = list(arg('models', 'gemma3-270m,qwen2.5-coder-1.5b'));
const BATCHES = list(arg('batches', '1,4,8,16')).map(Number);
const PP = Number(arg('pp', '128'));
const TG = Number(arg('tg', '64'));
const THREADS = Number(arg('threads', String(availableParallelism())));
const ROUNDS = Number(arg('rounds', '2'));
const BIN = path.resolve(arg('llama-bin', path.join(packageRoot, '.swirl', 'llama-tools', 'bin')));
const JSON_OUT = arg('json', '');
const CONTEXTS = Number(arg('contexts', '1'));

interface Speed {
  pp: number;
  tg: number;
  /** Tokens generated (swirl: what the model produced, ≤ B·TG). */
  generated: number;
}

function llamaTool(): string {
  const tool = path.join(BIN, 'llama-batched-bench');
  if (!existsSync(tool)) {
    console.error(`llama-batched-bench not found in ${BIN}: building it (scripts/build-llama-tools.sh, ~10 min once)`);
    const r = spawnSync(path.join(packageRoot, 'scripts', 'build-llama-tools.sh'), { stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(tool)) throw new Error(`could not build llama-batched-bench (exit ${r.status}); see scripts/build-llama-tools.sh`);
  }
  return tool;
}

function llamaCpp(tool: string, file: string, b: number): Speed {
  const out = execFileSync(
    tool,
    ['-m', file, '-c', String(b * (PP + TG) + 64), '-b', '2048', '-ub', '512', '-npp', String(PP), '-ntg', String(TG), '-npl', String(b), '-t', String(THREADS), '-tb', String(THREADS), '--output-format', 'jsonl'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const row = JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as { speed_pp: number; speed_tg: number };
  return { pp: row.speed_pp, tg: row.speed_tg, generated: b * TG };
}

/** A user message that renders to about PP prompt tokens; `tag` makes each request's prompt distinct from its first tokens. */
function promptText(tag: string, words: string[]): string {
  return `Request ${tag}. Continue this list of numbers as far as you can, separated by commas: ${words.join(', ')}`;
}

let nonce = 0;
async function swirl(file: string, b: number): Promise<Speed> {
  // K contexts: distinct context sizes give each its own runtime (the size is padded to 256 cells anyway).
  const chats = Array.from({ length: CONTEXTS }, (_, k) => new LlamaCppChat({ modelPath: file, modelName: path.basename(file), sequences: Math.max(1, Math.ceil(b / CONTEXTS)), threads: Math.max(1, Math.floor(THREADS / CONTEXTS)), contextSize: PP + TG + 64 + k, temperature: 0, maxTokens: TG }));
  const chat = chats[0]!;
  for (const c of chats) await c.warmUp();
  const on = (i: number) => chats[i % CONTEXTS]!;
  // Grow the number list until the rendered prompt has PP tokens (measured on the real template).
  const words: string[] = [];
  const tokens = async (text: string) => (await chat.invoke([new HumanMessage(text)], { maxTokens: 1 })).usage_metadata!.input_tokens;
  // Binary search on the list's length (each probe is a call).
  let lo = 0;
  let hi = PP;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((await tokens(promptText('x', Array.from({ length: mid }, (_, i) => String(i + 1))))) < PP) lo = mid + 1;
    else hi = mid;
  }
  for (let i = 1; i <= lo; i++) words.push(String(i));
  const stats = async () => (await Promise.all(chats.map((c) => runtimeStats(c.params)))).reduce((a, x) => a + x.reusedTokens, 0);
  const before = await stats();
  const fresh = () => Array.from({ length: b }, () => [new HumanMessage(promptText(`${++nonce}`, words))]);
  // Time to first token of B requests at once (prompts distinct from their first words on: no KV reuse).
  let t0 = performance.now();
  await Promise.all(fresh().map((m, i) => on(i).invoke(m, { maxTokens: 1 })));
  const tPp = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const res = await Promise.all(fresh().map((m, i) => on(i).invoke(m, { maxTokens: TG })));
  const tAll = (performance.now() - t0) / 1000;
  const generated = res.reduce((a, r) => a + (r.usage_metadata?.output_tokens ?? 0), 0);
  const inTokens = res.reduce((a, r) => a + (r.usage_metadata?.input_tokens ?? 0), 0);
  const reused = (await stats()) - before;
  if (reused > b * 8) console.error(`warning: ${reused} prompt tokens came from the KV cache`);
  return { pp: inTokens / tPp, tg: Math.max(0, generated - b) / Math.max(1e-9, tAll - tPp), generated };
}

async function main(): Promise<void> {
  const tool = llamaTool();
  const rows: Array<{ model: string; b: number; swirl: Speed; llama: Speed }> = [];
  for (const model of MODELS) {
    let file: string;
    try {
      file = resolveModelPath(model, { modelsDir: path.join(packageRoot, '.swirl', 'models'), projectRoot: packageRoot });
    } catch (e) {
      console.error(`skipping ${model}: ${(e as Error).message}`);
      continue;
    }
    for (const b of BATCHES) {
      let best: { swirl?: Speed; llama?: Speed } = {};
      for (let r = 0; r < ROUNDS; r++) {
        // Alternate which goes first, so a noisy moment does not land on one side only.
        const order = r % 2 === 0 ? (['swirl', 'llama'] as const) : (['llama', 'swirl'] as const);
        for (const side of order) {
          const s = side === 'swirl' ? await runChild(file, b) : llamaCpp(tool, file, b);
          const prev = best[side];
          best = { ...best, [side]: prev && prev.tg >= s.tg ? prev : s };
        }
      }
      rows.push({ model, b, swirl: best.swirl!, llama: best.llama! });
      const x = rows[rows.length - 1]!;
      console.error(`${model} B=${b}: swirl pp ${x.swirl.pp.toFixed(0)} tg ${x.swirl.tg.toFixed(1)} | llama.cpp pp ${x.llama.pp.toFixed(0)} tg ${x.llama.tg.toFixed(1)}`);
    }
  }
  console.log(`PP ${PP}, TG ${TG}, ${THREADS} threads, best of ${ROUNDS} rounds each, alternating; llama.cpp: ${tool}`);
  console.log('| model | B | swirl prompt tok/s | llama.cpp prompt tok/s | ratio | swirl gen tok/s | llama.cpp gen tok/s | ratio | swirl tokens generated |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows)
    console.log(`| ${r.model} | ${r.b} | ${r.swirl.pp.toFixed(0)} | ${r.llama.pp.toFixed(0)} | ${(r.swirl.pp / r.llama.pp).toFixed(2)} | ${r.swirl.tg.toFixed(1)} | ${r.llama.tg.toFixed(1)} | ${(r.swirl.tg / r.llama.tg).toFixed(2)} | ${r.swirl.generated}/${r.b * TG} |`);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ pp: PP, tg: TG, threads: THREADS, rounds: ROUNDS, rows }, null, 2));
}

/** Each swirl measurement in its own process: a fresh context, as llama-batched-bench gets. */
async function runChild(file: string, b: number): Promise<Speed> {
  const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', file, String(b), '--pp', String(PP), '--tg', String(TG), '--threads', String(THREADS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop()!) as Speed;
}

const ci = process.argv.indexOf('--child');
if (ci >= 0) console.log(JSON.stringify(await swirl(process.argv[ci + 1]!, Number(process.argv[ci + 2]))));
else await main();
