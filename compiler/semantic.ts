// Checks a schema-valid spec cannot express: unique ids, existing inputs,
// an acyclic graph, compatible input kinds, existing model/tool references,
// and file paths (model files included) that exist and stay inside the project.
import type { Document, LineCounter } from 'yaml';
import { didYouMean, type SpecError } from './errors.js';
import { positionOf, toPointer } from './positions.js';
import { STAGE_KINDS, type StageType } from './stage-kinds.js';
import { isServerUrl } from './tool-server.js';
import { resolveSpecPath } from './files.js';
import { resolveAdapterFile, resolveHfFolder, resolveModelFile } from './model-files.js';
import { JUDGE_FIELDS, judgeAt } from './stage-refs.js';
import { scrubKeys } from '../runtime/redact.js';
import type { RawModel, RawSpec, RawStage } from './spec-types.js';

export { resolveSpecPath } from './files.js';

export interface SemanticContext {
  doc: Document;
  lc: LineCounter;
  file: string;
  /** Folder of the spec file; relative paths resolve from here. */
  specDir: string;
  /** Files must stay inside this folder. */
  projectRoot: string;
}

export function stageInputs(stage: RawStage): string[] {
  const i = stage.input;
  return i === undefined ? [] : Array.isArray(i) ? i : [i];
}

/** Providers whose answers carry per-token log-probs (a `score: probability` judge needs them). */
const LOGPROB_PROVIDERS: readonly string[] = ['openai', 'openai-compatible'];

/** Matchers that compare a final answer with the key; they have no view on a tool call. */
const ANSWER_MATCHERS: readonly string[] = ['exact', 'numeric', 'f1'];

/**
 * An answer matcher where steps are judged (a filter's or evaluation's
 * `processJudge`, a filter's `agreement.judge`, a train stage's `rewardModel`)
 * would call every tool step GOOD: as a reward, the policy learns that a tool
 * call always pays and never answers; as a filter or process score, any tool
 * step passes. Only `gsm8k-reference` and LLM judges judge tool steps.
 */
function answerMatcherAsProcessJudge(stageType: string, field: readonly string[], matcher: unknown): { message: string; hint: string } | undefined {
  if (typeof matcher !== 'string' || !ANSWER_MATCHERS.includes(matcher)) return undefined;
  const name = field.join('.');
  if (name !== 'processJudge' && name !== 'rewardModel' && name !== 'agreement.judge') return undefined;
  const instead = 'use `{matcher: gsm8k-reference}` for GSM8K calculator tasks, which checks every step against the worked solution, or an LLM judge: the name of a model';
  if (name === 'rewardModel') {
    return {
      message: `\`rewardModel: {matcher: ${matcher}}\` judges answers only, so every tool call would score GOOD (reward 1): RL would learn that a tool call always pays and never to answer`,
      hint: instead,
    };
  }
  const what = `\`${name}: {matcher: ${matcher}}\` judges answers only, so every tool step would count as GOOD`;
  if (name === 'agreement.judge') return { message: `${what}: the agreement would be measured against a judge that passes any tool step`, hint: instead };
  if (stageType === 'filter') return { message: `${what}: the filter would keep any tool step`, hint: `${instead}; when only the final answer matters, use \`mode: outcome\` with \`outcomeJudge: {matcher: ${matcher}}\`` };
  return { message: `${what}: the process score would count any tool call as good`, hint: `${instead}, or drop \`processJudge\`: the stage's \`judge\` already scores the answer` };
}

/** The file-path fields of a spec, as [pointer, value] pairs. */
export function filePaths(spec: RawSpec): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  spec.stages.forEach((s, i) => {
    for (const key of ['path', 'prompt', 'ids'] as const) {
      const v = (s as Record<string, unknown>)[key];
      if (typeof v === 'string') out.push([toPointer(['stages', i, key]), v]);
    }
    for (const judge of JUDGE_FIELDS) {
      const j = judgeAt(s as Record<string, unknown>, judge);
      if (j && typeof j === 'object' && typeof (j as { prompt?: unknown }).prompt === 'string') out.push([toPointer(['stages', i, ...judge, 'prompt']), (j as { prompt: string }).prompt]);
    }
  });
  for (const [name, tool] of Object.entries(spec.tools ?? {})) if (tool.kind !== 'mcp' && typeof tool.corpus === 'string') out.push([toPointer(['tools', name, 'corpus']), tool.corpus]);
  return out;
}

/**
 * A stage whose policy model has an `adapter` but would apply another one: a
 * train stage samples from (and trains) the adapter of its current step, and
 * an evaluate stage with a `policy` input applies the trained adapter. One
 * context takes one adapter here, so which one applies would be a guess.
 */
function policyAdapterConflict(stage: RawStage, model: RawModel | undefined, inputKinds: readonly string[]): { message: string; hint: string } | undefined {
  if (typeof model?.adapter !== 'string' || model.provider !== 'llama-cpp') return undefined;
  const name = String(stage.model);
  if (stage.type === 'train') {
    return {
      message: `stage \`${stage.id}\` trains model \`${name}\`, which has \`adapter: ${model.adapter}\`: training continues from a base model only, not from an adapter`,
      hint: `give the train stage a model without \`adapter\` (define a second model for the stages that use the adapter)`,
    };
  }
  if (stage.type === 'evaluate' && inputKinds.includes('policy')) {
    return {
      message: `stage \`${stage.id}\` applies the trained policy of its \`policy\` input to model \`${name}\`, which has \`adapter: ${model.adapter}\` too: one adapter applies per model`,
      hint: `to evaluate the trained policy, use a model without \`adapter\`; to evaluate \`${model.adapter}\`, drop the \`policy\` input`,
    };
  }
  return undefined;
}

/**
 * What a train stage can train: a llama-cpp GGUF (the trainer dequantizes it; llama.cpp samples
 * with the GGUF adapter), or an openai-compatible server with `lora: runtime` and the `hf`
 * folder of the weights it serves (the trainer's base; the server samples with each new adapter),
 * or an openai-compatible model with `hf` whose stage has `sampler: trainer` (the trainer samples
 * from its own weights; the server, if any, serves only rollouts and evaluations).
 * Any other model has no weights the trainer can load, or no way to serve the adapter it trains.
 */
function trainModelConflict(stage: RawStage, model: RawModel | undefined): { message: string; hint: string } | undefined {
  if (!model || model.provider === 'llama-cpp') return undefined;
  if (model.provider === 'openai-compatible' && model.lora === 'runtime') return undefined;
  const name = String(stage.model);
  if (model.provider === 'openai-compatible' && stage.sampler === 'trainer') return undefined; // trainerSamplerConflict checks `hf`
  if (model.provider === 'openai-compatible') {
    return {
      message: `stage \`${stage.id}\` trains model \`${name}\`, an openai-compatible server without \`lora: runtime\`: the server could not sample from the adapters the stage trains`,
      hint: 'add `lora: runtime` and `hf: /path/to/the/served/model` (start vLLM with --enable-lora and VLLM_ALLOW_RUNTIME_LORA_UPDATING=True; docs/gpu.md), or train a llama-cpp model',
    };
  }
  return {
    message: `stage \`${stage.id}\` trains model \`${name}\` (provider ${model.provider}): swirl trains LoRA adapters on weights it can load, and ${model.provider} serves none`,
    hint: 'train a llama-cpp model (a GGUF) or an openai-compatible server with `lora: runtime` and its `hf` folder (docs/gpu.md)',
  };
}

/**
 * `sampler: trainer`: the trainer samples with transformers' generate on the model's `hf` folder,
 * so only an openai-compatible model with `hf` qualifies. A llama-cpp model samples with its GGUF
 * adapter already (and has no `hf`); hosted models are E_TRAIN_MODEL anyway.
 */
function trainerSamplerConflict(stage: RawStage, model: RawModel | undefined): { message: string; hint: string } | undefined {
  if (stage.sampler !== 'trainer' || !model) return undefined;
  const name = String(stage.model);
  if (model.provider === 'llama-cpp') {
    return {
      message: `stage \`${stage.id}\` has \`sampler: trainer\` but model \`${name}\` is a llama-cpp GGUF: the trainer samples from a Hugging Face folder (\`hf\`), which llama-cpp models do not have`,
      hint: 'drop `sampler: trainer` (llama.cpp samples with the trained GGUF adapter), or train an openai-compatible model with `hf: /path/to/model` (docs/gpu.md)',
    };
  }
  if (model.provider === 'openai-compatible' && model.hf === undefined) {
    return {
      message: `stage \`${stage.id}\` has \`sampler: trainer\` but model \`${name}\` has no \`hf\`: the trainer samples from the model's Hugging Face folder`,
      hint: `add \`hf: /path/to/model\` to model \`${name}\` (the weights the server serves), or drop \`sampler: trainer\``,
    };
  }
  return undefined;
}

/**
 * An evaluate stage applies its `policy` input (a trained LoRA) through llama.cpp (the GGUF
 * adapter) or a runtime-LoRA server (which loads the PEFT adapter). Any other model would answer
 * with its base weights and the evaluation would silently score the untrained model; since
 * `sampler: trainer` trains openai-compatible models without `lora: runtime`, that can happen.
 */
function evaluatePolicyConflict(stage: RawStage, model: RawModel | undefined, inputKinds: readonly string[]): { message: string; hint: string } | undefined {
  if (stage.type !== 'evaluate' || !inputKinds.includes('policy') || !model) return undefined;
  if (model.provider === 'llama-cpp' || (model.provider === 'openai-compatible' && model.lora === 'runtime')) return undefined;
  return {
    message: `stage \`${stage.id}\` evaluates a trained policy with model \`${String(stage.model)}\` (provider ${model.provider}${model.provider === 'openai-compatible' ? ', without `lora: runtime`' : ''}), which cannot apply the trained adapter: it would evaluate the base model`,
    hint: model.provider === 'openai-compatible' ? 'add `lora: runtime` and `hf` to the model (the server loads the trained adapter; docs/gpu.md), or drop the `policy` input to evaluate the base' : 'evaluate the policy with the model it was trained on (llama-cpp, or openai-compatible with `lora: runtime`)',
  };
}

/** Providers that need an API key, with the variable their docs use. */
const RUNTIME_LORA_FIELDS = ['hf', 'lora', 'loraDir', 'probeTolerance'];
const HOSTED_KEY_VARS: Record<string, string> = { openai: 'OPENAI_API_KEY', anthropic: 'ANTHROPIC_API_KEY', google: 'GOOGLE_API_KEY' };
const HOSTED_EXAMPLE_MODELS: Record<string, string> = { openai: 'gpt-4o-mini', anthropic: 'claude-haiku-4-5', google: 'gemini-2.5-flash' };

export function checkSemantics(spec: RawSpec, ctx: SemanticContext): SpecError[] {
  const errors: SpecError[] = [];
  const at = (pointer: string, key = false) => ({ path: pointer, file: ctx.file, ...positionOf(ctx.doc, ctx.lc, pointer, { key }) });
  const ids = new Map<string, number>();

  spec.stages.forEach((s, i) => {
    const first = ids.get(s.id);
    if (first !== undefined) {
      errors.push({ code: 'E_DUPLICATE_ID', message: `stage id \`${s.id}\` is already used by stage #${first + 1}`, ...at(toPointer(['stages', i, 'id'])), hint: 'give every stage a unique id' });
    } else ids.set(s.id, i);
  });
  const byId = new Map(spec.stages.map((s) => [s.id, s] as const));
  const allIds = [...ids.keys()];
  const models = Object.keys(spec.models ?? {});
  const tools = Object.keys(spec.tools ?? {});

  // Tool fields belong to kinds: an MCP tool needs its server and the action it serves; built-in kinds take no MCP fields.
  const MCP_FIELDS = ['server', 'tool', 'action', 'input', 'description', 'env', 'headers', 'timeout'];
  for (const [name, t] of Object.entries(spec.tools ?? {})) {
    const ptr = toPointer(['tools', name]);
    if (t.kind === 'mcp') {
      for (const f of ['server', 'action']) {
        if (t[f] === undefined)
          errors.push({
            code: 'E_MISSING_FIELD',
            message: `MCP tool \`${name}\` needs \`${f}\``,
            ...at(ptr, true),
            hint: f === 'server' ? 'a command line such as `node server.js`, or an http(s) URL' : 'which action it serves: `search` (<search_query>) or `calculator` (<math_exp>)',
          });
      }
      for (const f of ['corpus', 'split', 'topK']) if (t[f] !== undefined) errors.push({ code: 'E_FIELD_NOT_FOR_KIND', message: `\`${f}\` is for search tools, not MCP tools`, ...at(toPointer(['tools', name, f]), true), hint: 'the MCP server owns its data; remove the field' });
      if (typeof t.server === 'string' && isServerUrl(t.server) && t.env !== undefined) errors.push({ code: 'E_FIELD_NOT_FOR_KIND', message: '`env` is for servers started as a command, not reached by URL', ...at(toPointer(['tools', name, 'env']), true), hint: 'send credentials in `headers`' });
      if (typeof t.server === 'string' && !isServerUrl(t.server) && t.headers !== undefined) errors.push({ code: 'E_FIELD_NOT_FOR_KIND', message: '`headers` is for servers reached by URL, not started as a command', ...at(toPointer(['tools', name, 'headers']), true), hint: 'pass settings in `env`' });
    } else {
      for (const f of MCP_FIELDS) if (t[f] !== undefined) errors.push({ code: 'E_FIELD_NOT_FOR_KIND', message: `\`${f}\` is for MCP tools, not ${t.kind} tools`, ...at(toPointer(['tools', name, f]), true), hint: 'remove it, or use `kind: mcp`' });
    }
  }

  // Hosted providers need the served model's name and a key; the key's value is read on the worker when an activity runs.
  for (const [name, m] of Object.entries(spec.models ?? {})) {
    const keyVar = HOSTED_KEY_VARS[m.provider];
    if (!keyVar) continue;
    const ptr = toPointer(['models', name]);
    if (m.model === undefined) errors.push({ code: 'E_MISSING_FIELD', message: `model \`${name}\` (provider ${m.provider}) needs \`model\`, the name the API serves`, ...at(ptr, true), hint: `add \`model: ${HOSTED_EXAMPLE_MODELS[m.provider]}\`` });
    if (m.apiKey === undefined) errors.push({ code: 'E_MISSING_FIELD', message: `model \`${name}\` (provider ${m.provider}) needs \`apiKey\``, ...at(ptr, true), hint: `add \`apiKey: \${env:${keyVar}}\` and export ${keyVar} on the worker` });
  }

  // A llama-cpp model runs a GGUF file on the worker: an embedded name, or a file inside the project that exists now.
  for (const [name, m] of Object.entries(spec.models ?? {})) {
    if (m.provider !== 'llama-cpp') continue;
    const r = resolveModelFile(typeof m.model === 'string' ? m.model : undefined, ctx);
    if ('error' in r) errors.push({ code: r.error, message: r.detail, ...at(toPointer(['models', name, ...(m.model === undefined ? [] : ['model'])]), m.model === undefined), hint: r.hint });
  }

  // A LoRA adapter is applied by llama-cpp on the worker; hosted providers serve their own weights.
  for (const [name, m] of Object.entries(spec.models ?? {})) {
    if (typeof m.adapter !== 'string') continue;
    const ptr = toPointer(['models', name, 'adapter']);
    if (m.provider !== 'llama-cpp') {
      errors.push({ code: 'E_FIELD_NOT_FOR_KIND', message: `\`adapter\` is for llama-cpp models, not provider ${m.provider} (model \`${name}\`)`, ...at(ptr, true), hint: 'serve the adapter with the endpoint (vLLM and llama-server load LoRA adapters) and name what it serves in `model`, or use `provider: llama-cpp`' });
      continue;
    }
    const r = resolveAdapterFile(m.adapter, ctx);
    if ('error' in r) errors.push({ code: r.error, message: r.detail, ...at(ptr), hint: r.hint });
  }

  // Runtime LoRA (docs/gpu.md): an openai-compatible server that loads each trained adapter, and the HF folder it serves.
  for (const [name, m] of Object.entries(spec.models ?? {})) {
    const ptr = (f: string) => toPointer(['models', name, f]);
    const set = RUNTIME_LORA_FIELDS.filter((f) => m[f] !== undefined);
    if (m.provider !== 'openai-compatible') {
      for (const f of set) errors.push({ code: 'E_FIELD_NOT_FOR_KIND', message: `\`${f}\` is for openai-compatible models (a server that loads LoRA adapters at run time), not provider ${m.provider} (model \`${name}\`)`, ...at(ptr(f), true), hint: m.provider === 'llama-cpp' ? 'llama-cpp applies the trained GGUF adapter itself: remove the field' : 'remove it' });
      continue;
    }
    if (m.lora === 'runtime' && m.hf === undefined) errors.push({ code: 'E_MISSING_FIELD', message: `model \`${name}\` has \`lora: runtime\` and needs \`hf\`: the Hugging Face folder of the weights the server serves (the trainer's base, and the chat template of its prompts)`, ...at(ptr('lora'), true), hint: 'add `hf: /path/to/model` (the folder vLLM was started with)' });
    if (m.lora !== 'runtime') for (const f of ['loraDir', 'probeTolerance']) if (m[f] !== undefined) errors.push({ code: 'E_FIELD_NOT_FOR_KIND', message: `\`${f}\` applies only with \`lora: runtime\` (model \`${name}\`)`, ...at(ptr(f), true), hint: 'add `lora: runtime` or remove the field' });
    if (typeof m.hf === 'string') {
      const r = resolveHfFolder(m.hf, ctx);
      if ('error' in r) errors.push({ code: r.error, message: r.detail, ...at(ptr('hf')), hint: r.hint });
    }
  }

  spec.stages.forEach((s, i) => {
    const info = STAGE_KINDS[s.type as StageType] as (typeof STAGE_KINDS)[StageType] | undefined;
    if (!info) return; // the schema reports unknown types; nothing more to check here
    const inputs = stageInputs(s);
    const inputPtr = (j: number) => (Array.isArray(s.input) ? toPointer(['stages', i, 'input', j]) : toPointer(['stages', i, 'input']));
    if (info.accepts.length === 0 && inputs.length > 0) {
      errors.push({ code: 'E_INPUT_KIND', message: `a \`${s.type}\` stage takes no input`, ...at(toPointer(['stages', i, 'input'])), hint: 'remove `input`' });
    }
    const kinds: string[] = [];
    let kindError = false;
    inputs.forEach((inp, j) => {
      const src = byId.get(inp);
      if (!src) {
        const guess = didYouMean(inp, allIds);
        errors.push({ code: 'E_UNKNOWN_INPUT', message: `input \`${inp}\` is not a stage id`, ...at(inputPtr(j)), hint: guess ? `did you mean \`${guess}\`?` : `stage ids: ${allIds.join(', ')}` });
        return;
      }
      if (inp === s.id) return; // reported as a cycle
      const kind = STAGE_KINDS[src.type as StageType]?.output;
      if (!kind) return;
      kinds.push(kind);
      if (info.accepts.length > 0 && !info.accepts.includes(kind)) {
        kindError = true;
        const hint =
          kind === 'policy' && (s.type === 'rollout' || s.type === 'train')
            ? `${s.type} stages start from the base model: sampling from or training on top of a trained policy is not supported yet (only an evaluate or report stage takes a policy input)`
            : `${/^[aeiou]/.test(s.type) ? 'an' : 'a'} ${s.type} stage accepts ${info.accepts.join(' or ')}`;
        errors.push({ code: 'E_INPUT_KIND', message: `stage \`${s.id}\` (${s.type}) cannot take \`${inp}\`, which produces ${kind}`, ...at(inputPtr(j)), hint });
      }
    });
    const missing = info.needs.filter((k) => !kinds.includes(k));
    if (missing.length > 0 && !kindError && inputs.every((x) => byId.has(x) && x !== s.id)) {
      errors.push({ code: 'E_INPUT_REQUIRED', message: `stage \`${s.id}\` (${s.type}) needs an input that produces ${missing.join(' and ')}`, ...at(toPointer(['stages', i, inputs.length ? 'input' : 'id']), inputs.length === 0), hint: `add \`input: <id of a stage producing ${missing[0]}>\`` });
    }

    const refModel = (ptr: (string | number)[], name: unknown) => {
      if (typeof name !== 'string' || models.includes(name)) return;
      const guess = didYouMean(name, models);
      errors.push({ code: 'E_UNKNOWN_MODEL', message: `model \`${name}\` is not defined under \`models\``, ...at(toPointer(ptr)), hint: guess ? `did you mean \`${guess}\`?` : models.length ? `models: ${models.join(', ')}` : 'define it under `models:`' });
    };
    const raw = s as Record<string, unknown>;
    refModel(['stages', i, 'model'], raw.model);
    const adapterError = policyAdapterConflict(s, typeof raw.model === 'string' && spec.models && Object.hasOwn(spec.models, raw.model) ? spec.models[raw.model] : undefined, kinds);
    if (adapterError) errors.push({ code: 'E_ADAPTER_NOT_ALLOWED', ...adapterError, ...at(toPointer(['stages', i, 'model'])) });
    const trainModelError = s.type === 'train' ? trainModelConflict(s, typeof raw.model === 'string' && spec.models && Object.hasOwn(spec.models, raw.model) ? spec.models[raw.model] : undefined) : undefined;
    if (trainModelError) errors.push({ code: 'E_TRAIN_MODEL', ...trainModelError, ...at(toPointer(['stages', i, 'model'])) });
    const samplerError = s.type === 'train' ? trainerSamplerConflict(s, typeof raw.model === 'string' && spec.models && Object.hasOwn(spec.models, raw.model) ? spec.models[raw.model] : undefined) : undefined;
    if (samplerError) errors.push({ code: 'E_TRAINER_SAMPLER', ...samplerError, ...at(toPointer(['stages', i, 'sampler'])) });
    const evalPolicyError = evaluatePolicyConflict(s, typeof raw.model === 'string' && spec.models && Object.hasOwn(spec.models, raw.model) ? spec.models[raw.model] : undefined, kinds);
    if (evalPolicyError) errors.push({ code: 'E_POLICY_NOT_APPLICABLE', ...evalPolicyError, ...at(toPointer(['stages', i, 'model'])) });
    for (const judge of JUDGE_FIELDS) {
      const j = judgeAt(raw, judge);
      if (typeof j === 'string') refModel(['stages', i, ...judge], j);
      else if (j && typeof j === 'object') {
        const o = j as { model?: unknown; score?: unknown; matcher?: unknown };
        refModel(['stages', i, ...judge, 'model'], o.model);
        const misuse = answerMatcherAsProcessJudge(s.type, judge, o.matcher);
        if (misuse) errors.push({ code: 'E_MATCHER_PROCESS_JUDGE', ...misuse, ...at(toPointer(['stages', i, ...judge, 'matcher'])) });
        if (o.score === 'probability') {
          const ptr = toPointer(['stages', i, ...judge, 'score']);
          const provider = typeof o.model === 'string' ? (spec.models?.[o.model] as { provider?: unknown } | undefined)?.provider : undefined;
          if (typeof o.model !== 'string') {
            errors.push({ code: 'E_PROBABILITY_NEEDS_LLM', message: '`score: probability` reads P(GOOD) from an LLM judge\'s log-probs, but this judge is a matcher', ...at(ptr), hint: 'name a judge model (`model: <name>`), or drop `score`: matchers give GOOD = 1 / BAD = 0' });
          } else if (typeof provider === 'string' && !LOGPROB_PROVIDERS.includes(provider)) {
            errors.push({
              code: 'E_NO_LOGPROBS',
              message: `\`score: probability\` needs per-token log-probs, which provider \`${provider}\` (model \`${o.model}\`) does not return`,
              ...at(ptr),
              hint: `use a model with provider ${LOGPROB_PROVIDERS.join(' or ')} (vLLM, llama-server and OpenAI return log-probs), or drop \`score\` for GOOD = 1 / BAD = 0`,
            });
          }
        }
      }
    }
    const needJudge = (field: string, why: string, example: string) => {
      if (raw[field] !== undefined) return;
      errors.push({ code: 'E_JUDGE_REQUIRED', message: `stage \`${s.id}\` ${why} but names no \`${field}\``, ...at(toPointer(['stages', i, 'type'])), hint: `add \`${field}: ${example}\`` });
    };
    if (s.type === 'filter' && (raw.mode === 'process' || raw.mode === 'process+outcome')) needJudge('processJudge', `filters by ${raw.mode}`, '{matcher: gsm8k-reference} (GSM8K) or the name of a judge model');
    if (s.type === 'filter' && (raw.mode === 'outcome' || raw.mode === 'process+outcome')) needJudge('outcomeJudge', `filters by ${raw.mode}`, '{matcher: numeric}, {matcher: f1} or the name of a judge model');
    if (s.type === 'filter' && raw.agreement !== undefined && raw.mode !== 'process' && raw.mode !== 'process+outcome') {
      errors.push({ code: 'E_AGREEMENT_NEEDS_PROCESS', message: `stage \`${s.id}\` measures judge agreement on steps but filters by ${String(raw.mode)}, which judges no steps`, ...at(toPointer(['stages', i, 'agreement']), true), hint: 'use `mode: process` (or `process+outcome`) with a `processJudge`, or remove `agreement`' });
    }
    if (s.type === 'train' && (raw.objective === undefined || raw.objective === 'swirl')) needJudge('rewardModel', 'trains with the swirl objective (sampled actions need a reward)', '{matcher: gsm8k-reference} (GSM8K) or the name of a judge model');
    if (Array.isArray(raw.tools)) {
      (raw.tools as unknown[]).forEach((t, k) => {
        if (typeof t !== 'string' || tools.includes(t)) return;
        const guess = didYouMean(t, tools);
        errors.push({ code: 'E_UNKNOWN_TOOL', message: `tool \`${t}\` is not defined under \`tools\``, ...at(toPointer(['stages', i, 'tools', k])), hint: guess ? `did you mean \`${guess}\`?` : tools.length ? `tools: ${tools.join(', ')}` : 'define it under `tools:`' });
      });
      // One tool per action: the protocol has one <search_query> and one <math_exp>.
      const byAction = new Map<string, string>();
      (raw.tools as unknown[]).forEach((t, k) => {
        const def = typeof t === 'string' ? spec.tools?.[t] : undefined;
        if (!def) return;
        const action = def.kind === 'mcp' ? (typeof def.action === 'string' ? def.action : undefined) : def.kind;
        if (!action) return;
        const other = byAction.get(action);
        if (other !== undefined && other !== t) errors.push({ code: 'E_DUPLICATE_ACTION', message: `tools \`${other}\` and \`${String(t)}\` both serve the ${action} action`, ...at(toPointer(['stages', i, 'tools', k])), hint: 'a rollout has one tool per action (one search, one calculator); keep one of them' });
        else byAction.set(action, t as string);
      });
    }
  });

  errors.push(...findCycles(spec, at));

  for (const [ptr, value] of filePaths(spec)) {
    const r = resolveSpecPath(value, ctx);
    if ('error' in r) errors.push({ code: r.error, message: r.detail, ...at(ptr), hint: r.error === 'E_PATH_ESCAPE' ? 'paths are relative to the spec file and must stay inside the project' : 'paths are relative to the folder of the spec file' });
  }
  errors.push(...keyLiterals(spec, at));
  return errors;
}

/**
 * A key or token written anywhere else in a spec (a `baseUrl` with `?key=…`, a
 * `Bearer …` in a description) would enter the Plan and with it the history:
 * values that the key-pattern scrubber (runtime/redact.ts) would change are
 * E_SECRET_LITERAL. The message does not quote the value.
 */
function keyLiterals(spec: RawSpec, at: (pointer: string) => Omit<SpecError, 'code' | 'message'>): SpecError[] {
  const errors: SpecError[] = [];
  const walk = (v: unknown, segs: (string | number)[], depth: number): void => {
    if (depth > 64) return;
    if (typeof v === 'string') {
      if (scrubKeys(v) !== v) {
        const name = String(segs[segs.length - 1] ?? 'value');
        errors.push({ code: 'E_SECRET_LITERAL', message: `\`${name}\` holds what looks like a key or token`, ...at(toPointer(segs)), hint: 'secrets never enter specs, plans or history: give the key as `apiKey: ${env:NAME}` (an MCP tool: `env` / `headers`) and export NAME on the worker' });
      }
    } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...segs, i], depth + 1));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...segs, k], depth + 1);
  };
  walk(spec, [], 0);
  return errors;
}

function findCycles(spec: RawSpec, at: (p: string, key?: boolean) => Omit<SpecError, 'code' | 'message'>): SpecError[] {
  const index = new Map(spec.stages.map((s, i) => [s.id, i] as const));
  const state = new Map<string, 'open' | 'done'>();
  const errors: SpecError[] = [];
  const reported = new Set<string>();
  const stack: string[] = [];
  const visit = (id: string) => {
    state.set(id, 'open');
    stack.push(id);
    const stage = spec.stages[index.get(id)!]!;
    for (const inp of stageInputs(stage)) {
      if (!index.has(inp)) continue;
      if (state.get(inp) === 'open') {
        const cycle = [...stack.slice(stack.indexOf(inp)), inp];
        const key = [...cycle].slice(0, -1).sort().join(',');
        if (!reported.has(key)) {
          reported.add(key);
          const i = index.get(id)!;
          const ptr = Array.isArray(stage.input) ? toPointer(['stages', i, 'input', stageInputs(stage).indexOf(inp)]) : toPointer(['stages', i, 'input']);
          // Report in data-flow order: producer → consumer.
          errors.push({ code: 'E_CYCLE', message: `stage inputs form a cycle: ${[...cycle].reverse().join(' → ')}`, ...at(ptr), hint: 'a stage cannot depend, directly or indirectly, on its own output' });
        }
      } else if (!state.has(inp)) visit(inp);
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const s of spec.stages) if (!state.has(s.id)) visit(s.id);
  return errors;
}
