// Serving the policy just trained from an inference server that loads LoRA adapters at run
// time (`provider: openai-compatible`, `lora: runtime`; docs/gpu.md). After each training step
// the adapter is published to a folder the server reads, loaded under a versioned name
// (`<run>-<stage>-step-<n>`), and checked: the server's log-probs of a fixed probe must match
// the trainer's for the new adapter, and be nearer to it than to the previous one. A server
// that kept serving an older adapter after the reload fails the iteration with E_STALE_POLICY,
// non-retryably (a retry would sample from the same stale weights).
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { HumanMessage } from '@langchain/core/messages';
import type { PlanModel } from '../compiler/plan-types.js';
import { renderPrompt, type ChatTemplate } from '../agents/llama-cpp-chat.js';
import { apiKeyOf } from '../agents/models.js';
import { judgeProbe, RuntimeLoraServer, staleMessage, type Completion, type CompleteRequest } from '../agents/providers/runtime-lora.js';
import { ledgerKey, type CallMeta, type LlmLedger } from '../store/ledger.js';
import { parseDuration } from '../compiler/duration.js';
import { swirlPaths } from '../runtime/paths.js';
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { readPolicy } from './policy.js';

/** What the trainer reports of the probe (trainer/CONTRACT.md `probe`). */
export interface TrainerProbe {
  /** Prompt ids then continuation ids, as the trainer tokenized them. */
  ids: number[];
  /** Index of the first continuation id. */
  start: number;
  /** Log-prob of each continuation token under the previous adapter (or the base). */
  before: number[];
  /** ... and under the adapter this step wrote. */
  after: number[];
}

/** The check after a load, as the curve and the report record it. */
export interface ProbeCheck {
  /** The name the server serves the adapter under (the `model` of sampling requests). */
  served: string;
  ok: boolean;
  /** Mean |server - trainer(new adapter)| per continuation token, nats. */
  meanAbsNew: number;
  /** Mean |server - trainer(previous adapter)|. */
  meanAbsOld: number;
  /** Whether the update moved the probe by more than the tolerance (else a stale adapter cannot be told apart). */
  distinguishable: boolean;
  tolerance: number;
}

export const DEFAULT_PROBE_TOLERANCE = 0.05;

/** The probe: one fixed state (a user turn) and a continuation, rendered with the model's chat template. */
export function probeText(template: ChatTemplate): { prompt: string; continuation: string } {
  const { prompt } = renderPrompt([new HumanMessage('Natalia sold 48 clips in April and half as many in May. How many clips did she sell in all?')], template);
  return { prompt, continuation: 'She sold 48/2 = 24 in May.\n<math_exp>48+24</math_exp>' };
}

export function isRuntimeLora(model: PlanModel): boolean {
  return model.provider === 'openai-compatible' && model.lora === 'runtime';
}

/** The chat template family of a Hugging Face folder (its tokenizer_config.json or chat_template.jinja). */
export function hfTemplate(folder: string): ChatTemplate {
  let tpl = '';
  try {
    const cfg = JSON.parse(readFileSync(path.join(folder, 'tokenizer_config.json'), 'utf8')) as { chat_template?: unknown };
    const t = cfg.chat_template;
    tpl = typeof t === 'string' ? t : Array.isArray(t) ? t.map((x) => String((x as { template?: unknown }).template ?? '')).join('\n') : '';
  } catch {
    /* no tokenizer_config.json: try the .jinja file */
  }
  if (!tpl && existsSync(path.join(folder, 'chat_template.jinja'))) tpl = readFileSync(path.join(folder, 'chat_template.jinja'), 'utf8');
  if (tpl.includes('<|im_start|>')) return 'chatml';
  if (tpl.includes('<start_of_turn>')) return 'gemma';
  throw ApplicationFailure.nonRetryable(
    `the chat template of ${folder} is neither ChatML nor Gemma's: swirl renders training prompts itself and would render this one wrongly`,
    'ConfigError',
    'use a model with a ChatML (Qwen, SmolLM) or Gemma chat template; other templates are not supported yet',
  );
}

export function serverOf(modelName: string, model: PlanModel): RuntimeLoraServer {
  if (typeof model.baseUrl !== 'string') throw ApplicationFailure.nonRetryable(`model ${modelName}: provider openai-compatible needs a baseUrl`, 'ConfigError', 'add `baseUrl: http://HOST:PORT/v1` to the model');
  const apiKey = apiKeyOf(modelName, model, process.env);
  const timeoutMs = typeof model.requestTimeout === 'string' ? parseDuration(model.requestTimeout) : undefined;
  return new RuntimeLoraServer({ baseUrl: model.baseUrl, ...(apiKey ? { apiKey } : {}), ...(timeoutMs ? { timeoutMs } : {}) });
}

/** `<run>-<stage>-step-<n>`, with characters a server accepts in a model name. */
export function adapterName(runKey: string, step: number): string {
  return `${runKey.replace(/[^A-Za-z0-9._-]+/g, '-')}-step-${step}`;
}

/** The Plan keeps `hf` and `loraDir` project-relative when they lie inside the project (so Plans compare across checkouts). */
export function planPath(value: string, projectRoot: string): string {
  return path.resolve(projectRoot, value);
}

export function hfFolderOf(model: PlanModel, projectRoot: string): string {
  return planPath(String(model.hf), projectRoot);
}

export function loraDirOf(model: PlanModel, projectRoot: string): string {
  return typeof model.loraDir === 'string' ? planPath(model.loraDir, projectRoot) : path.join(swirlPaths().state, 'lora-published');
}

/** Copies a PEFT checkpoint folder to `<loraDir>/<name>` (atomically: a server never reads half a folder). */
export function publishAdapter(checkpoint: string, loraDir: string, name: string): string {
  const target = path.join(loraDir, name);
  if (existsSync(path.join(target, 'adapter_config.json'))) return target;
  if (!existsSync(path.join(checkpoint, 'adapter_config.json'))) throw ApplicationFailure.nonRetryable(`checkpoint ${checkpoint} holds no PEFT adapter (adapter_config.json)`, 'ConfigError', 'rerun the train stage on a worker that shares the state folder');
  mkdirSync(loraDir, { recursive: true });
  const tmp = path.join(loraDir, `.${name}.${process.pid}.tmp`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  for (const f of readdirSync(checkpoint)) if (f.startsWith('adapter_')) cpSync(path.join(checkpoint, f), path.join(tmp, f));
  try {
    renameSync(tmp, target);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(path.join(target, 'adapter_config.json'))) throw err;
  }
  return target;
}

export interface ServeInput {
  runKey: string;
  projectRoot: string;
  modelName: string;
  model: PlanModel;
  /** The step that wrote the adapter (its version in the name). */
  step: number;
  checkpoint: string;
  probe?: TrainerProbe;
}

/**
 * Publishes and loads the adapter of `step`, checks the probe, and unloads older versions of
 * this run's stage. Returns the name to sample with and the check.
 */
export async function serveAdapter(input: ServeInput): Promise<ProbeCheck> {
  const server = serverOf(input.modelName, input.model);
  const name = adapterName(input.runKey, input.step);
  const dir = publishAdapter(input.checkpoint, loraDirOf(input.model, input.projectRoot), name);
  await server.loadAdapter(name, dir);
  const tolerance = typeof input.model.probeTolerance === 'number' ? input.model.probeTolerance : DEFAULT_PROBE_TOLERANCE;
  if (!input.probe) throw ApplicationFailure.nonRetryable(`the trainer reported no probe for step ${input.step}: the served adapter cannot be checked`, 'ConfigError', 'update the trainer (npm run setup): trainer contract 2 with `probe`');
  const p = input.probe;
  const all = await server.promptLogprobs(name, p.ids);
  // all[k] is the log-prob of ids[k + 1] given ids[0..k].
  const sampler = all.slice(p.start - 1, p.ids.length - 1);
  const verdict = judgeProbe({ sampler, before: p.before, after: p.after, tolerance });
  const check: ProbeCheck = { served: name, ok: verdict.ok, meanAbsNew: verdict.meanAbsNew, meanAbsOld: verdict.meanAbsOld, distinguishable: verdict.distinguishable, tolerance };
  if (!verdict.ok) throw ApplicationFailure.nonRetryable(staleMessage(name, verdict, tolerance), 'E_STALE_POLICY', 'the server is not serving the adapter it was just given: restart it, check that it reads the published folder (loraDir) and that nothing else loads adapters under these names; docs/gpu.md');
  // Older versions of this stage are not needed any more (a rerun loads them again).
  const prefix = `${input.runKey.replace(/[^A-Za-z0-9._-]+/g, '-')}-step-`;
  for (const { id } of await server.listModels()) {
    if (id !== name && id.startsWith(prefix)) await server.unloadAdapter(id);
  }
  return check;
}

/** An evaluate stage's trained policy on a runtime-LoRA server: loads its final adapter, checks it, returns what to evaluate. */
export async function servePolicy(store: ArtifactStore, input: { policy: ArtifactRef; modelName: string; model: PlanModel; projectRoot: string }): Promise<ProbeCheck> {
  const p = await readPolicy(store, input.policy);
  if (!p.runKey) throw ApplicationFailure.nonRetryable(`the policy of model ${p.model} was not trained for a runtime-LoRA server (no runKey in its artifact)`, 'ConfigError', 'evaluate it with the model it was trained on, or retrain with `lora: runtime`');
  return serveAdapter({ runKey: p.runKey, projectRoot: input.projectRoot, modelName: input.modelName, model: input.model, step: p.iterations, checkpoint: p.checkpoint, ...(p.probe ? { probe: p.probe } : {}) });
}

/**
 * A runtime-LoRA server's completion through the LLM call ledger: a retried or resumed sampling
 * activity gets the samples it drew before (so the batch file, and with it the trainer step's
 * hash, stays the same) and pays for no request twice. The key holds the served base (URL, name,
 * `hf` fingerprint), the adapter by content (its checkpoint folder is named by its hash), the
 * rendered prompt, the sampling parameters, the seed and the sample key.
 */
export async function ledgeredCompletion(
  ledger: LlmLedger,
  model: PlanModel,
  adapterCheckpoint: string | undefined,
  req: CompleteRequest & { seed: number },
  meta: CallMeta & { sampleKey: string },
  call: () => Promise<Completion>,
): Promise<Completion> {
  const { prompt, model: served, seed, ...params } = req;
  const key = ledgerKey({
    provider: 'openai-compatible',
    model: `${String(model.baseUrl)}#${String(model.model)}#${String(model.hfFingerprint ?? '')}`,
    params: { endpoint: 'completions', served, ...params },
    messages: [prompt],
    seed,
    sampleKey: meta.sampleKey,
    ...(adapterCheckpoint ? { adapter: path.basename(adapterCheckpoint) } : {}),
  });
  const use: CallMeta = { purpose: meta.purpose, ...(meta.runId ? { runId: meta.runId } : {}), ...(meta.stageId ? { stageId: meta.stageId } : {}) };
  const hit = await ledger.lookup(key);
  if (hit) {
    await ledger.recordUse(key, use, true);
    return hit.response as Completion;
  }
  const started = Date.now();
  const out = await call();
  const stored = await ledger.recordCompletion({
    key,
    provider: 'openai-compatible',
    model: String(model.model),
    ...use,
    response: out,
    inputTokens: 0,
    outputTokens: out.tokens.length,
    latencyMs: Date.now() - started,
    costUsd: 0,
    completedAt: new Date().toISOString(),
  });
  await ledger.recordUse(key, use, false);
  return stored.response as Completion;
}
