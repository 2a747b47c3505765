// The GGUF file behind a llama-cpp model, resolved at compile time so the
// Plan pins it: an embedded name maps to a file setup installs (its sha256 is
// pinned here, as in trainer/swirl_trainer/models.py, so a machine without
// the models still compiles the same Plan); anything else is a path relative
// to the spec, confined to the project like every other path (plan.ts hashes it).
// A LoRA adapter (`adapter:`) is always such a path, checked the same way.
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { didYouMean } from './errors.js';
import { resolveSpecPath } from './files.js';

export interface EmbeddedModel {
  file: string;
  sha256: string;
}

/** Embedded GGUF models by the name specs use. Keep in step with MODELS in trainer/swirl_trainer/models.py. */
export const EMBEDDED_MODEL_FILES: Readonly<Record<string, EmbeddedModel>> = {
  'gemma3-270m': { file: 'gemma-3-270m-q4_k_m.gguf', sha256: 'a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818' },
  'smollm2-135m': { file: 'SmolLM2-135M-Instruct.Q4_1.gguf', sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53' },
  'qwen2.5-coder-0.5b': { file: 'qwen2.5-coder-0.5b-instruct-q4_k_m.gguf', sha256: '1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32' },
  'qwen2.5-coder-1.5b': { file: 'qwen2.5-coder-1.5b-instruct-q4_k_m.gguf', sha256: 'cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046' },
};

/** The model a llama-cpp entry without `model` runs. */
export const DEFAULT_EMBEDDED_MODEL = 'gemma3-270m';

export type ModelFile =
  | { embedded: string; sha256: string }
  /** A GGUF file inside the project (the caller hashes it). */
  | { abs: string }
  | { error: 'E_PATH_ESCAPE' | 'E_MODEL_NOT_FOUND' | 'E_MODEL_INVALID'; detail: string; hint: string };

function isGguf(abs: string): boolean {
  const fd = openSync(abs, 'r');
  try {
    const head = Buffer.alloc(4);
    return readSync(fd, head, 0, 4, 0) === 4 && head.toString('latin1') === 'GGUF';
  } finally {
    closeSync(fd);
  }
}

/** Resolves a llama-cpp model (`model:` of the spec, or the default) to the file it runs. */
export function resolveModelFile(value: string | undefined, ctx: { specDir: string; projectRoot: string }): ModelFile {
  const name = value ?? DEFAULT_EMBEDDED_MODEL;
  const embedded = EMBEDDED_MODEL_FILES[name];
  if (embedded) return { embedded: name, sha256: embedded.sha256 };
  const names = Object.keys(EMBEDDED_MODEL_FILES);
  const r = resolveSpecPath(name, ctx);
  if ('error' in r) {
    if (r.error === 'E_PATH_ESCAPE') return { error: 'E_PATH_ESCAPE', detail: `model ${r.detail}`, hint: 'a GGUF model path is relative to the spec file and must stay inside the project' };
    const guess = didYouMean(name, names);
    const pathLike = /[/\\]|\.gguf$/i.test(name);
    return {
      error: 'E_MODEL_NOT_FOUND',
      detail: pathLike ? `model file ${r.detail}` : `\`${name}\` is neither an embedded model nor a file`,
      hint: guess && !pathLike ? `did you mean \`${guess}\`? Embedded models: ${names.join(', ')}` : `name an embedded model (${names.join(', ')}) or a .gguf file relative to the spec file`,
    };
  }
  if (!isGguf(r.abs)) return { error: 'E_MODEL_INVALID', detail: `\`${name}\` is not a GGUF model file (it does not start with the GGUF magic bytes)`, hint: 'llama-cpp loads .gguf files; convert the model with llama.cpp\'s convert_hf_to_gguf.py' };
  return { abs: r.abs };
}

export type AdapterFile = { abs: string } | { error: 'E_PATH_ESCAPE' | 'E_PATH_NOT_FOUND' | 'E_ADAPTER_INVALID'; detail: string; hint: string };

/** Resolves a llama-cpp model's `adapter:` (a LoRA GGUF) with the rules of a model path: inside the project, existing, GGUF. */
export function resolveAdapterFile(value: string, ctx: { specDir: string; projectRoot: string }): AdapterFile {
  const r = resolveSpecPath(value, ctx);
  if ('error' in r) {
    if (r.error === 'E_PATH_ESCAPE') return { error: 'E_PATH_ESCAPE', detail: `adapter ${r.detail}`, hint: 'an adapter path is relative to the spec file and must stay inside the project' };
    return { error: 'E_PATH_NOT_FOUND', detail: `adapter file ${r.detail}`, hint: 'an adapter path is relative to the folder of the spec file, e.g. ../results/RUN/adapter.gguf' };
  }
  if (!isGguf(r.abs)) {
    return {
      error: 'E_ADAPTER_INVALID',
      detail: `adapter \`${value}\` is not a GGUF file (it does not start with the GGUF magic bytes)`,
      hint: 'llama-cpp applies LoRA adapters as .gguf files (a train stage writes one per trained policy); convert a PEFT adapter folder with llama.cpp\'s convert_lora_to_gguf.py',
    };
  }
  return { abs: r.abs };
}

export type HfFolder = { abs: string } | { error: 'E_PATH_NOT_FOUND' | 'E_HF_INVALID'; detail: string; hint: string };

/** Weight files transformers loads from a folder (single file or shards with their index). */
export function hfWeightFiles(files: readonly string[]): string[] {
  return files.filter((f) => /\.(safetensors|bin)$/.test(f) && !/^training_args\.bin$/.test(f) && !/^optimizer/.test(f)).sort();
}

/**
 * Resolves a model's `hf:` folder (a Hugging Face causal LM: config.json, a tokenizer, weights).
 * Relative paths are taken from the spec's folder; absolute paths may lie outside the project:
 * model folders live where the GPU box keeps them (/models/…), and they are not copied.
 */
export function resolveHfFolder(value: string, ctx: { specDir: string }): HfFolder {
  const abs = path.resolve(ctx.specDir, value);
  let entries: string[];
  try {
    if (!statSync(abs).isDirectory()) return { error: 'E_HF_INVALID', detail: `\`hf: ${value}\` is a file, not a model folder`, hint: 'point `hf` at a Hugging Face model folder (config.json, tokenizer, *.safetensors), e.g. the one the server was started with' };
    entries = readdirSync(abs);
  } catch {
    return { error: 'E_PATH_NOT_FOUND', detail: `model folder \`${value}\` does not exist or cannot be read (looked for ${abs})`, hint: 'download the model to a folder this worker can read (huggingface-cli download ORG/MODEL --local-dir DIR) and point `hf` at it' };
  }
  if (!entries.includes('config.json')) return { error: 'E_HF_INVALID', detail: `model folder \`${value}\` has no config.json`, hint: 'point `hf` at a Hugging Face model folder (config.json, tokenizer, *.safetensors)' };
  if (hfWeightFiles(entries).length === 0) return { error: 'E_HF_INVALID', detail: `model folder \`${value}\` has no weights (*.safetensors or *.bin)`, hint: 'the download is incomplete: fetch the weight files too (huggingface-cli download ORG/MODEL --local-dir DIR), not only the config and tokenizer' };
  if (!entries.some((f) => f === 'tokenizer.json' || f === 'tokenizer_config.json')) return { error: 'E_HF_INVALID', detail: `model folder \`${value}\` has no tokenizer (tokenizer.json / tokenizer_config.json)`, hint: 'save the tokenizer into the folder too (tokenizer.save_pretrained(DIR))' };
  return { abs };
}

/**
 * What the Plan pins of an `hf` folder: the content of its small files (config, tokenizer,
 * chat template) and the names and sizes of its weight files. Hashing gigabytes of weights at
 * every compile would cost minutes; the trainer checksums the full content for its checkpoints.
 */
export function hfFingerprint(abs: string): string {
  const h = createHash('sha256');
  const entries = readdirSync(abs).sort();
  const weights = new Set(hfWeightFiles(entries));
  for (const f of entries) {
    const p = path.join(abs, f);
    const st = statSync(p);
    if (!st.isFile()) continue;
    if (weights.has(f)) h.update(`${f}\0size:${st.size}\0`);
    else if (st.size < 64 << 20) h.update(`${f}\0${createHash('sha256').update(readFileSync(p)).digest('hex')}\0`);
    else h.update(`${f}\0size:${st.size}\0`);
  }
  return h.digest('hex');
}
