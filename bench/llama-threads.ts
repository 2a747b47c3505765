// Threads of the embedded model: one context with 1 vs 2 threads, and two
// contexts generating at once (a base and a trained policy, as in an
// evaluation of both) with node-llama-cpp's default thread cap vs swirl's cap
// at the core count (agents/llama-cpp-chat.ts). Each mode runs in its own
// process (the cap is per Llama instance); the ratios are printed side by side.
//
//   node --import tsx bench/llama-threads.ts [tokens=64] [model=gemma3-270m]
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaCompletion, type LlamaContext, type LlamaModel } from 'node-llama-cpp';
import { resolveModelPath } from '../agents/models.js';
import { packageRoot } from '../runtime/paths.js';

const PROMPT = '<start_of_turn>user\nNatalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether?<end_of_turn>\n<start_of_turn>model\n';

async function generate(model: LlamaModel, ctx: LlamaContext, tokens: number): Promise<string> {
  const seq = ctx.getSequence();
  try {
    return await new LlamaCompletion({ contextSequence: seq }).generateCompletion(model.tokenize(PROMPT, true), { maxTokens: tokens, temperature: 0 });
  } finally {
    seq.dispose();
  }
}

/** One measurement in this process: prints {ms, texts} as JSON. */
async function child(mode: string, tokens: number, file: string): Promise<void> {
  const cores = availableParallelism();
  const llama = await getLlama({ gpu: false, logLevel: 'error' as never, ...(mode === 'two-capped' ? { maxThreads: cores } : {}) });
  const model = await llama.loadModel({ modelPath: file });
  const contexts = await Promise.all(
    (mode.startsWith('two') ? [cores, cores] : [mode === 'one-1' ? 1 : cores]).map((threads) => model.createContext({ contextSize: 1024, threads })),
  );
  await generate(model, contexts[0]!, 4); // warm-up
  const t0 = performance.now();
  const texts = await Promise.all(contexts.map((c) => generate(model, c, tokens)));
  console.log(JSON.stringify({ ms: performance.now() - t0, texts }));
}

async function main(): Promise<void> {
  const [, , first, second, third] = process.argv;
  if (first === '--child') return child(second!, Number(third), process.argv[5]!);
  const tokens = Number(first ?? 64);
  const file = resolveModelPath(second ?? 'gemma3-270m', { modelsDir: path.join(packageRoot, '.swirl', 'models'), projectRoot: packageRoot });
  const self = fileURLToPath(import.meta.url);
  const run = (mode: string) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', self, '--child', mode, String(tokens), file], { encoding: 'utf8' }).trim().split('\n').pop()!) as { ms: number; texts: string[] };
  const r: Record<string, { ms: number; texts: string[] }> = {};
  // Interleaved twice, so a noisy moment does not land on one mode only.
  for (const round of [0, 1]) {
    for (const mode of ['one-1', 'one-cores', 'two-default', 'two-capped']) {
      const x = run(mode);
      const k = `${mode}#${round}`;
      r[k] = x;
    }
  }
  const best = (mode: string) => Math.min(r[`${mode}#0`]!.ms, r[`${mode}#1`]!.ms);
  const cores = availableParallelism();
  console.log(`${tokens} tokens, greedy, ${cores} cores, ${path.basename(file)}; best of 2 runs each`);
  console.log(`one context, 1 thread:          ${best('one-1').toFixed(0)} ms`);
  console.log(`one context, ${cores} threads:         ${best('one-cores').toFixed(0)} ms   (1 thread / ${cores} threads: ${(best('one-1') / best('one-cores')).toFixed(2)}x)`);
  console.log(`two contexts, default cap:      ${best('two-default').toFixed(0)} ms`);
  console.log(`two contexts, cap = ${cores} threads: ${best('two-capped').toFixed(0)} ms   (default / capped: ${(best('two-default') / best('two-capped')).toFixed(2)}x)`);
  const all = Object.values(r).flatMap((x) => x.texts);
  console.log(`same text in every mode and context: ${all.every((t) => t === all[0])}`);
}

await main();
