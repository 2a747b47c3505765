// The evaluate stage: the policy (base, or with a trained adapter from a
// `policy` input) answers held-out questions greedily (temperature 0, fixed
// seeds) through the rollout machinery; the outcome judge scores each answer.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities/index.js';
import type { EvaluateConfig } from '../../activities/evaluate.js';
import { activityOptions, type StageContext, type StageOutcome } from './context.js';
import { runFanoutStage, stageLayout } from './fanout-stage.js';
import { rolloutConfigOf, type RolloutStageConfig } from './rollout.js';

interface EvaluateStageConfig extends RolloutStageConfig {
  judge: unknown;
  processJudge?: unknown;
}

export async function runEvaluate(ctx: StageContext): Promise<StageOutcome> {
  const { stage, input } = ctx;
  const cfg = stage.config as unknown as EvaluateStageConfig;
  const acts = proxyActivities<Activities>(activityOptions(stage, input.queues.orchestration));
  const questionsId = stage.inputs.find((i) => ctx.inputs[i]?.kind === 'questions')!;
  const policyId = stage.inputs.find((i) => ctx.inputs[i]?.kind === 'policy');
  const policy = policyId ? await acts.readPolicy({ policy: ctx.inputs[policyId]! }) : undefined;
  const items = await acts.expandSamples({ questions: ctx.inputs[questionsId]!, samples: 1 });
  const base = rolloutConfigOf(ctx, cfg);
  // Runtime LoRA (docs/gpu.md): the server loads the trained adapter and is checked before any episode; episodes ask for it by name.
  const served = policy && base.model.provider === 'openai-compatible' && base.model.lora === 'runtime'
    ? await proxyActivities<Activities>(activityOptions(stage, input.queues.llm)).servePolicy({ policy: ctx.inputs[policyId!]!, modelName: base.modelName, model: base.model, projectRoot: base.projectRoot })
    : undefined;
  const config: EvaluateConfig = {
    ...base,
    // Greedy decoding with the model's fixed seed: evaluations are repeatable and comparable.
    model: { ...base.model, temperature: 0, seed: typeof base.model.seed === 'number' ? base.model.seed : 0, ...(served ? { model: served.served } : {}) },
    ...(policy && !served ? { loraPath: policy.adapterGguf } : {}),
    ledgerPurpose: 'eval',
    models: input.plan.models,
    judge: cfg.judge,
    ...(cfg.processJudge !== undefined ? { processJudge: cfg.processJudge } : {}),
  };
  const r = await runFanoutStage(ctx, {
    processor: 'evaluate',
    items,
    outputKind: 'metrics',
    config: config as unknown as Record<string, unknown>,
    ...stageLayout(items.rows, stage.concurrency, cfg.shardSize, 16),
    taskQueue: input.queues.llm,
  });
  const stats = await acts.summarizeEvaluation({ records: r.output, policy: policyId ?? 'base' });
  return { output: r.output, failures: r.failures, counts: r.counts, stats: { ...stats } };
}
