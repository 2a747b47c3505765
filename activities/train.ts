// The train stage's activities. One training iteration is
//   sampleTrainBatch (llm queue): G actions per state from the current policy
//     (base GGUF + the latest LoRA adapter, or a runtime-LoRA server), scored by the reward model;
//     or sampleTrainBatchOnTrainer (train queue, `sampler: trainer`): the same, with the G actions
//     drawn by the persistent trainer itself from the adapter it holds;
//   trainStep (train queue): one optimizer update by the Python trainer
//     (a persistent `python -m swirl_trainer serve` per worker, see trainer-pool.ts),
//     whose JSON-lines output becomes heartbeats, metrics and a content-addressed checkpoint.
// Files travel by path under the state dir: the llm and train workers share it.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { AIMessage, HumanMessage, type BaseMessage } from '@langchain/core/messages';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { PlanModel } from '../compiler/plan-types.js';
import { normalizeJudge, rewardOf } from '../agents/judges/index.js';
import { logprobsOf } from '../agents/judges/probability.js';
import { detectTemplate, renderPrompt } from '../agents/llama-cpp-chat.js';
import { ledgeredModelFor, resolveModelPath } from '../agents/models.js';
import { defaultLedger } from '../store/ledger-sqlite.js';
import type { LlmLedger } from '../store/ledger.js';
import { parseAction, stopSequences, type ActionKind, type ToolKind } from '../agents/protocol.js';
import { stepAction, stepState, type StepGroup } from '../agents/steps.js';
import type { ChatTurn } from '../agents/types.js';
import { calculate } from '../tools/calculator.js';
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { swirlPaths } from '../runtime/paths.js';
import { HEARTBEAT_EVERY_MS, type ItemCache } from './fanout.js';
import { attemptNote } from './attempt-log.js';
import { parseTrainerEvent, stderrTail, trainerPool, type StepOutcome, type TrainerEvent, type TrainerSpawn } from './trainer-pool.js';
import { makeProcessJudge, toolKindsOf, type JudgeContext } from './judge.js';
import { seededShuffle } from './rng.js';
import { turnSeed } from '../agents/episode.js';
import type { TrainSettings } from '../workflows/train-settings.js';
import type { StageYield } from '../workflows/train-yield.js';
import { withBudget, type RunBudget } from '../agents/budget.js';
import { hfFolderOf, hfTemplate, isRuntimeLora, ledgeredCompletion, probeText, serveAdapter, serverOf, type ProbeCheck, type TrainerProbe } from './served-policy.js';

export type { TrainObjective, TrainSettings } from '../workflows/train-settings.js';
export type { TrainCurvePoint } from '../workflows/train-curve.js';
import type { TrainCurvePoint } from '../workflows/train-curve.js';

/** BatchFile.servedModel of a batch the trainer sampled (`sampler: trainer`); the curve shows it as `served`. */
export const TRAINER_SAMPLER = 'trainer';

interface StateRef {
  /** Trajectory id and step index. */
  t: string;
  s: number;
}

/** Shuffles the filtered states per epoch (seeded) and cuts them into update batches. */
export interface TrainBatchesInput {
  steps: ArtifactRef;
  batchStates: number;
  epochs: number;
  maxSteps?: number;
  seed: number;
  /** Yield of the decompose/filter stages that made `steps` (absent in runs started before it was passed). */
  upstream?: StageYield[];
}

const reasons = (dropped: Record<string, number>) =>
  Object.entries(dropped)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([r, n]) => `${r} ${n}`)
    .join(', ');

function describeYield(y: StageYield): string {
  const dropped = reasons(y.dropped);
  const tail = dropped ? `; dropped: ${dropped}` : '';
  if (y.type === 'decompose') return `decompose \`${y.stage}\`: ${y.trajectoriesOut} of ${y.trajectoriesIn} trajectories had an action (${y.stepsOut} steps${tail})`;
  return `filter \`${y.stage}\`${y.mode ? ` (${y.mode})` : ''}: kept ${y.trajectoriesOut} of ${y.trajectoriesIn} trajectories (${y.stepsOut} of ${y.stepsIn ?? '?'} steps${tail})`;
}

/** What to change, from the first stage whose output was empty and its main drop reason. */
function emptyInputHint(upstream: StageYield[]): string {
  const general = 'loosen the filter (mode, keepStatuses) or generate more rollouts';
  const empty = upstream.find((y) => y.stepsOut === 0);
  if (!empty) return general;
  if (empty.trajectoriesIn === 0) return 'the rollouts produced no trajectories: check the rollout stage (its failures) and the dataset';
  if (empty.type === 'decompose') return 'the policy wrote no action the protocol parses: check the prompt, maxTokens and the model (a larger model or a few-shot prompt)';
  const top = Object.entries(empty.dropped).sort((a, b) => b[1] - a[1])[0]?.[0] ?? '';
  const decompose = upstream.find((y) => y.type === 'decompose');
  const onSteps = decompose ? `, or train on every decomposed step (\`input: ${decompose.stage}\` in the train stage)` : '';
  if (top.startsWith('status:')) return `\`keepStatuses\` of filter \`${empty.stage}\` admits none of the trajectories (${reasons(empty.dropped)}): add their statuses${onSteps}`;
  if (top === 'process') return `no trajectory had every step judged GOOD by the process judge of filter \`${empty.stage}\`: use a stronger policy, more samples or questions, \`mode: outcome\`${onSteps}`;
  if (top === 'outcome') return `the outcome judge of filter \`${empty.stage}\` found no correct final answer: use a stronger policy, more samples or questions, \`mode: process\`${onSteps}`;
  return general;
}

/** The DataError of a train stage with nothing to train on: the yield of every stage before it, and what to change. */
export function emptyTrainInput(upstream: StageYield[] = []): ApplicationFailure {
  const why = upstream.length ? upstream.map(describeYield).join('; ') : 'did the filter keep nothing?';
  return ApplicationFailure.nonRetryable(`no states to train on: the input steps artifact is empty (${why})`, 'DataError', emptyInputHint(upstream));
}

export async function prepareTrainBatches(store: ArtifactStore, input: TrainBatchesInput): Promise<{ batches: ArtifactRef; count: number; states: number }> {
  const states: StateRef[] = [];
  for await (const g of store.read<StepGroup>(input.steps)) for (const s of g.steps) states.push({ t: g.trajectoryId, s: s.stepIndex });
  if (states.length === 0) throw emptyTrainInput(input.upstream);
  const order: StateRef[] = [];
  const full = Math.floor(input.epochs);
  for (let e = 0; e < full; e++) order.push(...seededShuffle(states, input.seed * 1000 + e));
  const frac = input.epochs - full;
  if (frac > 0) order.push(...seededShuffle(states, input.seed * 1000 + full).slice(0, Math.max(1, Math.round(frac * states.length))));
  const batches: StateRef[][] = [];
  for (let i = 0; i < order.length; i += input.batchStates) batches.push(order.slice(i, i + input.batchStates));
  const kept = input.maxSteps ? batches.slice(0, input.maxSteps) : batches;
  const ref = await store.put('items', kept.map((b) => ({ states: b })));
  return { batches: ref, count: kept.length, states: states.length };
}

export interface SampleBatchInput extends JudgeContext {
  /** Key of this training run (workflow id + stage), names its files. */
  runKey: string;
  /** Patch `train-attempts-v1`: the stage's maxAttempts, counted by the activity (attempt-log.ts); absent = Temporal counts. */
  attemptLimit?: number;
  steps: ArtifactRef;
  batches: ArtifactRef;
  index: number;
  modelName: string;
  model: PlanModel;
  /** Current policy's adapter (none before the first update). */
  adapterGguf?: string;
  /** The same adapter as a PEFT checkpoint folder, the step that wrote it and its probe: what a runtime-LoRA server loads and is checked with. */
  adapterCheckpoint?: string;
  adapterStep?: number;
  probe?: TrainerProbe;
  settings: TrainSettings;
  /** The run's budget (patch train-budget-v1): paid sampler and reward calls stop with BudgetReached once it is spent. */
  budget?: RunBudget;
}

export interface BatchFile {
  path: string;
  sha256: string;
  states: number;
  actions: number;
  meanReward: number;
  /** Share of sampled actions that held a valid action tag. */
  validActions: number;
  /** Rewards of this batch (first 256), for the report's histogram. */
  rewards: number[];
  /**
   * Share of states whose G rewards are all equal: RLOO gives them zero advantage, so they
   * teach nothing (swirl objective only).
   */
  zeroAdvantageStates?: number;
  /** Share of judged actions whose verdict the judge's output did not hold (counted as BAD). */
  unreadableVerdicts?: number;
  /** Share of sampled actions trained from the sampler's own token ids (the rest: their text). */
  sampledTokenActions?: number;
  /** The sampler's settings for the G actions (recorded: the trainer scores at temperature 1, untruncated). */
  sampler?: TrainSampler;
  /**
   * Runtime LoRA: the name the server sampled with (the base's before the first update) and the probe check of the adapter load.
   * `trainer` (TRAINER_SAMPLER) when the trainer sampled the batch (`sampler: trainer`; no probe: it samples the weights it trains).
   */
  servedModel?: string;
  probeCheck?: ProbeCheck;
}

/** How training actions are sampled: on-policy by default (temperature 1, the whole vocabulary). */
export interface TrainSampler {
  temperature: number;
  topK: number;
  topP: number;
  logprobs: boolean;
}

/**
 * The sampler settings for training: temperature 1 and no truncation, so a sample comes from
 * the policy the trainer scores (the spec's rollout temperature and node-llama-cpp's default
 * top-k 40 / top-p 0.95 would make it a different one). Token ids and log-probs are asked
 * from llama-cpp only (the one runtime that returns ids).
 */
export function trainSampler(model: PlanModel): TrainSampler {
  return { temperature: 1, topK: 0, topP: 1, logprobs: model.provider === 'llama-cpp' || isRuntimeLora(model) };
}

/** One sampled action as the trainer reads it (trainer/CONTRACT.md): the raw sampled text and, where known, its ids and log-probs. */
export interface SampledAction {
  text: string;
  reward: number;
  tokens?: number[];
  samplerLogprobs?: number[];
}

/**
 * The action as sampled, not as parsed: the token ids and their log-probs when the runtime
 * gave them (the text is their decoding), else the completion text. The parsed action
 * (trimmed, its tag closed) drives only the tool call and the judge.
 */
export function sampledAction(msg: AIMessage, reward: number, parsedTurn?: string): SampledAction {
  const text = typeof msg.content === 'string' ? msg.content : JSON.stringify(msg.content);
  const lp = logprobsOf(msg.response_metadata as Record<string, unknown> | undefined);
  if (lp?.length && lp.every((t) => typeof t.id === 'number')) {
    return { text: lp.map((t) => t.token).join(''), reward, tokens: lp.map((t) => t.id!), samplerLogprobs: lp.map((t) => t.logprob) };
  }
  // No ids (hosted providers drop the stop sequence): the parsed turn keeps its closing tag,
  // which the sampler did generate; an empty completion stays a one-space action, not an error.
  return { text: parsedTurn ?? (text || ' '), reward };
}

/** A sample from a runtime-LoRA server: its token ids and log-probs when it returned them (vLLM's `return_tokens_as_token_ids`). */
export function serverAction(out: { text: string; tokens: number[]; logprobs: number[] }, reward: number, parsedTurn?: string): SampledAction {
  if (out.tokens.length && out.tokens.length === out.logprobs.length) return { text: out.text, reward, tokens: out.tokens, samplerLogprobs: out.logprobs };
  return { text: parsedTurn ?? (out.text || ' '), reward };
}

/** Share of states whose rewards are all equal (no RLOO signal). */
export function zeroAdvantageShare(groups: readonly (readonly number[])[]): number {
  if (!groups.length) return 0;
  return groups.filter((r) => r.every((x) => x === r[0])).length / groups.length;
}

function toMessages(turns: ChatTurn[]): BaseMessage[] {
  return turns.map((t) => (t.role === 'assistant' ? new AIMessage(t.content) : new HumanMessage(t.content)));
}

function writeAtomic(file: string, text: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/**
 * Training continues from a base model only: a policy model with its own
 * `adapter` would sample from that adapter while the trainer starts from the
 * bare base. The compiler refuses it (E_ADAPTER_NOT_ALLOWED); this guards Plans made elsewhere.
 */
function requireBaseModel(model: PlanModel, modelName: string): void {
  if (typeof model.adapter === 'string') throw ApplicationFailure.nonRetryable(`model ${modelName} has adapter ${model.adapter}: training continues from a base model only`, 'ConfigError', 'give the train stage a model without `adapter`');
}

export function trainDir(runKey: string): string {
  return path.join(swirlPaths().state, 'train', runKey.replace(/[^A-Za-z0-9._-]+/g, '_'));
}

/** Samples G actions per state with the current policy and scores them; writes the trainer's batch file. */
export async function sampleTrainBatch(store: ArtifactStore, items: ItemCache, modelsDir: string, input: SampleBatchInput, ledgerIn?: LlmLedger): Promise<BatchFile> {
  const runId = input.runKey.split('/')[0]!;
  return withBudget(runId, input.budget, () => sampleBatch(store, items, modelsDir, input, runId, 'policy', ledgerIn));
}

/**
 * The same batch, sampled by this worker's persistent trainer (`sampler: trainer`, train queue):
 * transformers' generate on the model's `hf` folder with the adapter the last step wrote, still
 * in the trainer's memory (trainer/CONTRACT.md `generate`). The judging and the batch file are
 * sampleTrainBatch's; the trainer's samples cost no budget (no paid calls), the judge's still do.
 */
export async function sampleTrainBatchOnTrainer(store: ArtifactStore, items: ItemCache, modelsDir: string, input: SampleBatchInput, ledgerIn?: LlmLedger): Promise<BatchFile> {
  const runId = input.runKey.split('/')[0]!;
  return withBudget(runId, input.budget, () => sampleBatch(store, items, modelsDir, input, runId, 'trainer', ledgerIn));
}

/** Who draws the G actions: the stage's model (llama.cpp, or a runtime-LoRA server), or the trainer. */
type DrawBy = 'policy' | 'trainer';

/** One drawn action: its raw text, and the batch's action once its reward is known. */
interface Drawn {
  text: string;
  action: (reward: number, parsedTurn?: string) => SampledAction;
}

/** A state of the batch, rendered for sampling. */
interface BatchState {
  ref: StateRef;
  g: StepGroup;
  state: ChatTurn[];
  stateId: string;
  prompt: string;
  toolKinds: ReturnType<typeof toolKindsOf>;
  stop: string[];
}

async function sampleBatch(store: ArtifactStore, items: ItemCache, modelsDir: string, input: SampleBatchInput, runId: string, by: DrawBy, ledgerIn?: LlmLedger): Promise<BatchFile> {
  const ledger = ledgerIn ?? defaultLedger();
  const stageId = input.runKey.split('/').slice(1).join('/');
  const groups = new Map<string, StepGroup>();
  for (const g of (await items.get(store, input.steps)) as StepGroup[]) groups.set(g.trajectoryId, g);
  const batchRows = (await items.get(store, input.batches)) as Array<{ states: StateRef[] }>;
  const batch = batchRows[input.index];
  if (!batch) throw ApplicationFailure.nonRetryable(`train batch ${input.index} does not exist`, 'DataError');
  const s = input.settings;
  requireBaseModel(input.model, input.modelName);
  const onTrainer = by === 'trainer';
  if (onTrainer && typeof input.model.hf !== 'string') throw ApplicationFailure.nonRetryable(`model ${input.modelName} has no \`hf\` folder: the trainer samples from Hugging Face weights`, 'ConfigError', 'add `hf: /path/to/model` to the model, or drop `sampler: trainer`');
  // A runtime-LoRA server samples unless the trainer does (the server then only serves evaluations).
  const served = isRuntimeLora(input.model) && !onTrainer;
  // The trainer's prompts are rendered with the `hf` folder's template, as the runtime-LoRA server's are.
  const template = served || onTrainer ? hfTemplate(hfFolderOf(input.model, input.projectRoot)) : await detectTemplate(resolveModelPath(String(input.model.model ?? 'gemma3-270m'), { modelsDir, projectRoot: input.projectRoot }, input.model.modelSha256));
  // Runtime LoRA: publish and load the current adapter, and check that the server serves it.
  const probeCheck = served && s.objective === 'swirl' && input.adapterCheckpoint !== undefined ? await serveAdapter({ runKey: input.runKey, projectRoot: input.projectRoot, modelName: input.modelName, model: input.model, step: input.adapterStep ?? input.index - 1, checkpoint: input.adapterCheckpoint, ...(input.probe ? { probe: input.probe } : {}) }) : undefined;
  const servedModel = onTrainer ? TRAINER_SAMPLER : served ? (probeCheck?.served ?? String(input.model.model)) : undefined;
  const server = served ? serverOf(input.modelName, input.model) : undefined;
  const rewardSpec = normalizeJudge(s.rewardModel) ?? { matcher: 'gsm8k-reference' as const };
  const reward = s.objective === 'swirl' ? makeProcessJudge(rewardSpec, input, { modelsDir, ledger, runId, stageId }) : undefined;
  const policy =
    s.objective === 'swirl' && !served && !onTrainer
      ? ledgeredModelFor(
          input.modelName,
          { ...input.model, temperature: typeof input.model.temperature === 'number' ? input.model.temperature : 1.0 },
          { modelsDir, projectRoot: input.projectRoot, ...(input.adapterGguf ? { loraPath: input.adapterGguf } : {}) },
          ledger,
          { purpose: 'sample', runId, stageId },
        )
      : undefined;
  const lines: string[] = [];
  const rewards: number[] = [];
  const groupRewards: number[][] = [];
  // The trainer always returns ids and log-probs.
  const sampler = onTrainer ? { ...trainSampler(input.model), logprobs: true } : trainSampler(input.model);
  const maxTokens = typeof input.model.maxTokens === 'number' ? input.model.maxTokens : 256;
  let valid = 0;
  let judged = 0;
  let unreadable = 0;
  let fromTokens = 0;
  // Heartbeat on a timer too: one state's G generations can take longer than the heartbeat
  // timeout on a busy CPU, and a retried attempt reuses finished samples from the ledger anyway.
  let progress: Record<string, unknown> = { state: 0, of: batch.states.length };
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat({ ...progress, ...attemptNote(ctx) }), HEARTBEAT_EVERY_MS);
  try {
    const states: BatchState[] = batch.states.map((ref) => {
      const g = groups.get(ref.t);
      if (!g) throw ApplicationFailure.nonRetryable(`state ${ref.t}/${ref.s} is not in the steps artifact`, 'DataError');
      const state = stepState(g, ref.s);
      const toolKinds = toolKindsOf(g);
      return { ref, g, state, stateId: `${ref.t}/${ref.s}`, prompt: renderPrompt(toMessages(state), template).prompt, toolKinds, stop: stopSequences(toolKinds.filter((x): x is ToolKind => x !== 'answer')) };
    });
    // The trainer samples the whole batch up front, G per state, in one batched request per stop list.
    const fromTrainer = onTrainer && s.objective === 'swirl'
      ? await sampleOnTrainer(input, states, maxTokens, (ev) => (progress = { sampling: ev.phase, done: ev.done, of: ev.total }))
      : undefined;
    const draw = (b: BatchState, j: number): Promise<Drawn> => {
      if (fromTrainer) {
        const out = fromTrainer.get(b.stateId)?.[j];
        if (!out) throw ApplicationFailure.nonRetryable(`the trainer returned no sample ${j} for state ${b.stateId}`, 'TrainerProtocolError', 'update the trainer (npm run setup): trainer/CONTRACT.md `generate`');
        return Promise.resolve({ text: out.text, action: (r, turn) => serverAction(out, r, turn) });
      }
      const seed = turnSeed(s.seed, `${b.stateId}@${input.index}`, j, 0);
      if (server) {
        // The server samples the prompt the trainer scores, rendered here, with its ids and log-probs.
        const req = { model: servedModel!, prompt: b.prompt, maxTokens, temperature: sampler.temperature, topP: sampler.topP, seed, stop: b.stop, logprobs: true };
        return ledgeredCompletion(ledger, input.model, input.adapterCheckpoint, req, { purpose: 'sample', runId, stageId, sampleKey: `${b.stateId}@${input.index}#${j}` }, () => server.complete(req))
          .then((out) => ({ text: out.text, action: (r, turn) => serverAction(out, r, turn) }));
      }
      const options = { stop: b.stop, temperature: sampler.temperature, topP: sampler.topP, ...(input.model.provider === 'llama-cpp' ? { topK: sampler.topK } : {}), ...(sampler.logprobs ? { logprobs: true } : {}) };
      // The sample key keeps G otherwise identical requests apart; the adapter is part of the ledger key.
      return policy!
        .withLedgerContext({ purpose: 'sample', runId, stageId, sampleKey: `${b.stateId}@${input.index}#${j}` })
        .invoke(toMessages(b.state), { ...options, ...({ seed } as object), signal: Context.current().cancellationSignal })
        .then((res) => ({ text: typeof res.content === 'string' ? res.content : JSON.stringify(res.content), action: (r, turn) => sampledAction(res as AIMessage, r, turn) }));
    };
    for (const [k, b] of states.entries()) {
      progress = { state: k, of: batch.states.length };
      ctx.heartbeat({ ...progress, ...attemptNote(ctx) });
      const { g, ref, state, stateId, prompt, toolKinds } = b;
      const actions: SampledAction[] = [];
      if (s.objective === 'swirl') {
        for (let j = 0; j < s.samplesPerState; j++) {
          const drawn = await draw(b, j);
          const action = parseAction(drawn.text, toolKinds as ActionKind[]);
          let r = 0;
          if (action) {
            valid++;
            const observation = action.kind === 'calculator' ? calculate(action.content) : undefined;
            const v = await reward!.judgeStep({
              question: g.question,
              gold: g.gold,
              ...(g.reference ? { reference: g.reference } : {}),
              messages: [...state, { role: 'assistant', content: action.turn }],
              actionKind: action.kind,
              content: action.content,
              ...(observation !== undefined ? { observation } : {}),
              toolKinds,
            }, Context.current().cancellationSignal);
            judged++;
            if (!v.parsed) unreadable++;
            r = rewardOf(v);
          }
          const sampled = drawn.action(r, action?.turn);
          if (sampled.tokens) fromTokens++;
          actions.push(sampled);
          rewards.push(r);
        }
        groupRewards.push(actions.map((a) => a.reward));
      } else {
        const step = g.steps[ref.s]!;
        const r = step.verdict === 'BAD' ? 0 : 1;
        valid++;
        actions.push({ text: stepAction(g, ref.s), reward: r });
        rewards.push(r);
      }
      lines.push(JSON.stringify({ stateId, trajectoryId: ref.t, prompt, actions }));
    }
  } finally {
    clearInterval(beat);
  }
  const text = lines.join('\n') + '\n';
  const sha256 = createHash('sha256').update(text).digest('hex');
  const file = path.join(trainDir(input.runKey), `batch-${String(input.index).padStart(5, '0')}-${sha256.slice(0, 12)}.jsonl`);
  if (!existsSync(file)) writeAtomic(file, text);
  return {
    path: file,
    sha256,
    states: batch.states.length,
    actions: rewards.length,
    meanReward: rewards.length ? rewards.reduce((a, b) => a + b, 0) / rewards.length : 0,
    validActions: rewards.length ? valid / rewards.length : 0,
    rewards: rewards.slice(0, 256),
    ...(s.objective === 'swirl'
      ? { zeroAdvantageStates: zeroAdvantageShare(groupRewards), unreadableVerdicts: judged ? unreadable / judged : 0, sampledTokenActions: rewards.length ? fromTokens / rewards.length : 0, sampler }
      : {}),
    ...(servedModel ? { servedModel } : {}),
    ...(probeCheck ? { probeCheck } : {}),
  };
}

export interface TrainStepInput {
  runKey: string;
  /** As SampleBatchInput.attemptLimit. */
  attemptLimit?: number;
  index: number;
  modelName: string;
  model: PlanModel;
  projectRoot: string;
  batch: BatchFile;
  /** PEFT checkpoint folder of the previous update (none before the first). */
  inputAdapter?: string;
  settings: TrainSettings;
}

export interface TrainStepResult {
  checkpoint: string;
  ggufAdapter: string;
  hash: string;
  reused: boolean;
  metrics: Record<string, number>;
  /** Runtime LoRA: the probe's log-probs before and after this update (trainer/CONTRACT.md). */
  probe?: TrainerProbe;
}

/**
 * Runs one trainer update: on this worker's persistent trainer (trainer-pool.ts), or with
 * SWIRL_TRAINER_PERSISTENT=0 in a process of its own as before. Progress lines become heartbeats.
 */
export async function trainStep(modelsDir: string, input: TrainStepInput): Promise<TrainStepResult> {
  requireBaseModel(input.model, input.modelName);
  const paths = swirlPaths();
  if (!existsSync(paths.venvPython)) throw ApplicationFailure.nonRetryable(`the Python trainer is not installed (${paths.venvPython} missing)`, 'ConfigError', 'run `npm run setup` on this worker');
  const s = input.settings;
  const served = isRuntimeLora(input.model);
  // A runtime-LoRA model trains on its Hugging Face folder, and the trainer scores the probe the sampler's server is checked with.
  // So does a model the trainer samples (`sampler: trainer`): it generates from the weights it trains.
  const base = served || onTrainerWeights(input.model, s) ? { hfDir: hfFolderOf(input.model, input.projectRoot) } : { gguf: resolveModelPath(String(input.model.model ?? 'gemma3-270m'), { modelsDir, projectRoot: input.projectRoot }, input.model.modelSha256) };
  const config = {
    version: 2,
    base,
    ...(served ? { probe: probeText(hfTemplate(hfFolderOf(input.model, input.projectRoot))) } : {}),
    inputAdapter: input.inputAdapter ?? null,
    outputRoot: path.join(paths.state, 'checkpoints'),
    batch: input.batch.path,
    objective: s.objective,
    lora: { rank: s.lora.rank, alpha: s.lora.alpha, dropout: s.lora.dropout, ...(s.lora.targetModules ? { targetModules: s.lora.targetModules } : {}) },
    optim: { learningRate: s.learningRate, weightDecay: 0, gradClip: s.gradClip },
    klBeta: s.klBeta,
    baseline: s.baseline,
    // The off-policy correction: only sampled actions carry sampler log-probs, so sft and stored actions are unaffected.
    ...(s.importanceClip ? { importanceClip: s.importanceClip } : {}),
    seed: s.seed,
    stepIndex: input.index,
    packing: true,
    maxContextTokens: typeof input.model.contextSize === 'number' ? input.model.contextSize : 8192,
    // The stage's default: bf16 where the hardware has it (trainer/swirl_trainer/precision.py).
    precision: s.precision ?? 'auto',
    // Only when set: configs without them keep their step hashes.
    ...(s.attention ? { attention: s.attention } : {}),
    ...(s.gradientCheckpointing ? { gradientCheckpointing: true } : {}),
  };
  // Written for the audit trail (and the one-process path reads it).
  const cfgFile = path.join(trainDir(input.runKey), `step-${String(input.index).padStart(5, '0')}.json`);
  writeAtomic(cfgFile, JSON.stringify(config, null, 2));
  const ctx = Context.current();
  const spec = trainerSpawn();
  let metrics: Record<string, number> = {};
  const onEvent = (ev: TrainerEvent) => {
    if (ev.event === 'progress') ctx.heartbeat({ step: input.index, ...withoutId(ev), ...attemptNote(ctx) });
    else if (ev.event === 'metrics') metrics = numbersOf(ev);
  };
  const heartbeat = setInterval(() => ctx.heartbeat({ step: input.index, alive: true, ...attemptNote(ctx) }), HEARTBEAT_EVERY_MS);
  let outcome: StepOutcome;
  try {
    outcome = process.env.SWIRL_TRAINER_PERSISTENT === '0' ? await stepInOwnProcess(spec, cfgFile, onEvent, ctx.cancellationSignal) : await trainerPool().step(spec, config, onEvent, ctx.cancellationSignal);
  } finally {
    clearInterval(heartbeat);
  }
  if (outcome.kind === 'done') {
    const done = outcome.event;
    const probe = probeOf(done.probe);
    return { checkpoint: String(done.checkpoint), ggufAdapter: String(done.ggufAdapter), hash: String(done.hash), reused: Boolean(done.reused), metrics: { ...metrics, ...numbersOf((done.metrics ?? {}) as Record<string, unknown>) }, ...(probe ? { probe } : {}) };
  }
  throw trainerFailure(outcome, '');
}

/** A trainer request that did not end with `done`, as the activity's failure. */
function trainerFailure(outcome: Exclude<StepOutcome, { kind: 'done' }>, during: string): ApplicationFailure {
  if (outcome.kind === 'error') {
    const error = outcome.event;
    const type = String(error.type);
    // Bad config or data cannot succeed on retry; anything else (a crash, OOM, a kill) may.
    if (type === 'ConfigError' || type === 'DataError') return ApplicationFailure.nonRetryable(String(error.message), type, ...(error.hint ? [String(error.hint)] : []));
    return ApplicationFailure.retryable(String(error.message), type);
  }
  const how = outcome.signal ? `was killed (${outcome.signal})` : `exited with code ${outcome.code}`;
  // A killed trainer is retryable: the next attempt gets a new trainer that reloads the last finished checkpoint.
  return ApplicationFailure.retryable(`trainer ${how}${during}${outcome.stderr ? `: ${stderrTail(outcome.stderr)}` : ''}`, 'TrainerCrashed');
}

const withoutId = ({ id: _id, ...rest }: TrainerEvent) => rest;

/** The persistent trainer of this worker: steps and `generate` requests must name the same one (trainer-pool.ts keys trainers by it). */
function trainerSpawn(): TrainerSpawn {
  const paths = swirlPaths();
  return {
    python: paths.venvPython,
    cwd: paths.root,
    env: { ...process.env, PYTHONPATH: path.join(paths.root, 'trainer'), HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
  };
}

/** Whether the stage trains (and samples) on the model's Hugging Face folder because the trainer samples it. */
function onTrainerWeights(model: PlanModel, s: TrainSettings): boolean {
  return s.sampler === 'trainer' && typeof model.hf === 'string';
}

/** A sample as the trainer returns it (trainer/CONTRACT.md `generate`). */
interface TrainerSample {
  text: string;
  tokens: number[];
  logprobs: number[];
}

/**
 * G samples per state from the trainer, in one `generate` request per distinct stop list (states
 * of one run share their tools, so usually one). Same settings as the step that follows (base,
 * precision, attention), so the trainer keeps the base and adapter it holds.
 */
async function sampleOnTrainer(input: SampleBatchInput, states: BatchState[], maxTokens: number, onProgress: (ev: TrainerEvent) => void): Promise<Map<string, TrainerSample[]>> {
  const paths = swirlPaths();
  if (!existsSync(paths.venvPython)) throw ApplicationFailure.nonRetryable(`the Python trainer is not installed (${paths.venvPython} missing)`, 'ConfigError', 'run `npm run setup` on this worker');
  const s = input.settings;
  const byStop = new Map<string, BatchState[]>();
  for (const b of states) byStop.set(JSON.stringify(b.stop), [...(byStop.get(JSON.stringify(b.stop)) ?? []), b]);
  const out = new Map<string, TrainerSample[]>();
  const ctx = Context.current();
  let part = 0;
  for (const [stop, group] of byStop) {
    const config = {
      version: 2,
      base: { hfDir: hfFolderOf(input.model, input.projectRoot) },
      inputAdapter: input.adapterCheckpoint ?? null,
      precision: s.precision ?? 'auto',
      attention: s.attention ?? 'auto',
      prompts: group.map((b) => ({ stateId: b.stateId, prompt: b.prompt })),
      samples: s.samplesPerState,
      maxTokens,
      temperature: 1,
      stop: JSON.parse(stop) as string[],
      // One seed per batch and request: a retried activity draws the same samples (same machine).
      seed: turnSeed(s.seed, `trainer@${input.index}`, part++, 0),
    };
    const outcome = await trainerPool().generate(trainerSpawn(), config, (ev) => ev.event === 'progress' && onProgress(ev), ctx.cancellationSignal);
    if (outcome.kind !== 'done') throw trainerFailure(outcome, ' while sampling');
    const ev = outcome.event;
    for (const r of (ev.results ?? []) as Array<{ stateId: string; samples: TrainerSample[] }>) {
      out.set(r.stateId, r.samples.map((x) => ({ text: String(x.text), tokens: x.tokens.map(Number), logprobs: x.logprobs.map(Number) })));
    }
  }
  return out;
}

/** The one-process-per-step path (`python -m swirl_trainer step`), kept as an escape hatch. */
async function stepInOwnProcess(spec: TrainerSpawn, cfgFile: string, onEvent: (ev: TrainerEvent) => void, signal: AbortSignal): Promise<StepOutcome> {
  const child = spawn(spec.python, ['-m', 'swirl_trainer', 'step', '--config', cfgFile], { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onCancel = () => child.kill('SIGKILL');
  signal.addEventListener('abort', onCancel);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  let last: TrainerEvent | undefined;
  try {
    const rl = createInterface({ input: child.stdout });
    for await (const line of rl) {
      const ev = parseTrainerEvent(line);
      if (!ev) continue;
      if (ev.event === 'done' || ev.event === 'error') last = ev;
      else onEvent(ev);
    }
    const code: number | null = await new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('close', (c) => resolve(c))));
    if (last?.event === 'done' && code === 0) return { kind: 'done', event: last };
    if (last?.event === 'error') return { kind: 'error', event: last };
    if (code === 2) return { kind: 'error', event: { event: 'error', type: 'ConfigError', message: `trainer exited with code 2: ${stderrTail(stderr)}` } };
    return { kind: 'crashed', code, signal: child.signalCode, stderr };
  } finally {
    signal.removeEventListener('abort', onCancel);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

function probeOf(v: unknown): TrainerProbe | undefined {
  const p = v as Partial<TrainerProbe> | undefined;
  if (!p || !Array.isArray(p.ids) || typeof p.start !== 'number' || !Array.isArray(p.before) || !Array.isArray(p.after)) return undefined;
  return { ids: p.ids.map(Number), start: p.start, before: p.before.map(Number), after: p.after.map(Number) };
}

function numbersOf(o: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

/** The policy artifact: the base model and the final adapter. */
export async function writePolicy(
  store: ArtifactStore,
  input: { modelName: string; step: TrainStepResult; iterations: number; curve: TrainCurvePoint[]; runKey?: string },
): Promise<ArtifactRef> {
  if (!existsSync(input.step.ggufAdapter)) throw ApplicationFailure.nonRetryable(`adapter ${input.step.ggufAdapter} is missing`, 'ConfigError');
  const adapterSha = createHash('sha256').update(readFileSync(input.step.ggufAdapter)).digest('hex');
  return store.put('policy', [{ model: input.modelName, adapterGguf: input.step.ggufAdapter, checkpoint: input.step.checkpoint, hash: input.step.hash, adapterSha, iterations: input.iterations, curve: input.curve, ...(input.runKey ? { runKey: input.runKey } : {}), ...(input.step.probe ? { probe: input.step.probe } : {}) }]);
}
