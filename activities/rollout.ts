// The rollout stage's per-item work: one SWiRL episode per (question, sample).
import type { StructuredToolInterface } from '@langchain/core/tools';
import { ApplicationFailure } from '@temporalio/common';
import type { PlanModel } from '../compiler/plan-types.js';
import { runEpisode } from '../agents/episode.js';
import { runToolCallEpisode } from '../agents/episode-tool-calls.js';
import { ledgeredModelFor } from '../agents/models.js';
import { isProgrammingError } from '../agents/limits.js';
import { defaultLedger } from '../store/ledger-sqlite.js';
import type { CallPurpose, LlmLedger } from '../store/ledger.js';
import type { ToolKind } from '../agents/protocol.js';
import type { Trajectory } from '../agents/types.js';
import type { ArtifactStore } from '../store/artifacts.js';
import { readPinned } from '../store/pinned-files.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { McpConfigError } from '../tools/mcp.js';
import { makeTool, type BuiltTool, type ToolConfig } from '../tools/registry.js';
import type { Question } from './dataset-formats.js';
import type { ItemContext, ItemProcessor } from './fanout.js';
import { redact } from '../runtime/redact.js';

export interface RolloutConfig {
  modelName: string;
  model: PlanModel;
  tools: Record<string, ToolConfig>;
  maxSteps: number;
  projectRoot: string;
  /** Project-relative prompt template file (the spec's `prompt`), if any. */
  promptPath?: string;
  /** The prompt file's sha256 as the Plan pinned it (absent in Plans of older runs). */
  promptSha256?: string;
  /** LoRA adapter GGUF of a trained policy, applied on the base model. */
  loraPath?: string;
  /** `tags` (default) or `tool-calls` (the provider's native tool calling; agents/episode-tool-calls.ts). */
  protocol?: 'tags' | 'tool-calls';
  /** What the ledger records the calls as (default rollout; evaluation passes eval). */
  ledgerPurpose?: CallPurpose;
}

export interface RolloutItem {
  question: Question;
  sample: number;
}

/** questions × samples → one item per episode, in (question, sample) order. */
export async function expandSamples(store: ArtifactStore, input: { questions: ArtifactRef; samples: number }): Promise<ArtifactRef> {
  async function* items() {
    for await (const q of store.read<Question>(input.questions)) for (let s = 0; s < input.samples; s++) yield { question: q, sample: s } satisfies RolloutItem;
  }
  return store.put('items', items());
}

const toolCache = new Map<string, BuiltTool>();

/** The run (pipeline workflow id) of a shard: shard keys are `<run id>/<stage id>/shard-N`. */
export function runIdOf(ctx: Pick<ItemContext, 'shardKey' | 'stageId'>): string {
  const at = ctx.shardKey.lastIndexOf(`/${ctx.stageId}/shard-`);
  return at > 0 ? ctx.shardKey.slice(0, at) : ctx.shardKey;
}

/**
 * `ledger`: the LLM call ledger (default: the worker's SQLite ledger at
 * swirlPaths().ledger, opened on first use).
 */
export function rolloutProcessor(modelsDir: string, ledgerOrDefault?: LlmLedger): ItemProcessor {
  const ledger = () => ledgerOrDefault ?? defaultLedger();
  return async (item, ctx) => {
    const cfg = ctx.config as unknown as RolloutConfig;
    const { question, sample } = item as RolloutItem;
    const tools: Partial<Record<ToolKind, StructuredToolInterface>> = {};
    for (const [name, tc] of Object.entries(cfg.tools)) {
      const key = JSON.stringify([name, tc, cfg.projectRoot]);
      let t = toolCache.get(key);
      if (!t) {
        try {
          t = makeTool(name, tc, cfg.projectRoot);
        } catch (e) {
          if (e instanceof ApplicationFailure) throw e; // E_FILE_CHANGED of a corpus keeps its type
          throw ApplicationFailure.nonRetryable((e as Error).message, 'ConfigError');
        }
        toolCache.set(key, t);
      }
      // An MCP server that cannot be reached or lacks the tool fails the attempt (bad configuration: the stage), instead of
      // handing every episode an error observation.
      if (t.ready) {
        try {
          await t.ready();
        } catch (e) {
          if (e instanceof McpConfigError) throw ApplicationFailure.nonRetryable(`tool ${name}: ${e.message}`, 'ConfigError', e.hint);
          throw e;
        }
      }
      tools[t.kind] = t.tool;
    }
    // Every model call goes through the ledger: a retried shard or a resumed run reuses completed calls.
    const model = ledgeredModelFor(cfg.modelName, cfg.model, { modelsDir, projectRoot: cfg.projectRoot, ...(cfg.loraPath ? { loraPath: cfg.loraPath } : {}) }, ledger(), {
      purpose: cfg.ledgerPurpose ?? 'rollout',
      runId: runIdOf(ctx),
      stageId: ctx.stageId,
      sampleKey: `${question.id}#${sample}`,
    });
    try {
      if (cfg.protocol === 'tool-calls' && typeof model.inner.bindTools !== 'function')
        throw ApplicationFailure.nonRetryable(`protocol tool-calls needs native tool calling; model ${cfg.modelName} (${cfg.model.provider}) has none`, 'ConfigError', 'use protocol tags, or a llama-cpp / openai / openai-compatible model');
      const episode = cfg.protocol === 'tool-calls' ? runToolCallEpisode : runEpisode;
      const trajectory = await episode(model, question, {
        tools,
        maxSteps: cfg.maxSteps,
        sample,
        modelName: String(cfg.model.model ?? cfg.modelName),
        ...(typeof cfg.model.seed === 'number' ? { seed: cfg.model.seed } : { seed: 0 }),
        ...(typeof cfg.model.temperature === 'number' ? { temperature: cfg.model.temperature } : {}),
        ...(typeof cfg.model.maxTokens === 'number' ? { maxTokens: cfg.model.maxTokens } : {}),
        ...(cfg.promptPath ? { template: readPinned(cfg.projectRoot, cfg.promptPath, cfg.promptSha256, `stage ${ctx.stageId}`).toString('utf8') } : {}),
        signal: ctx.signal,
      });
      return { outcome: 'succeeded', row: trajectory };
    } catch (e) {
      // An episode that outgrows the context is this item's problem; anything else is retried.
      // (A breaker or the run budget stops the shard: never this item's failure.)
      // (A refused key is the model's configuration: the stage fails, not retried.)
      if (e instanceof ApplicationFailure && (e.type === 'ModelUnavailable' || e.type === 'BudgetReached' || e.type === 'ModelAuthFailed')) throw e;
      // A bug in swirl ("Maximum call stack size exceeded") is no item's failure either: the shard reports it.
      if (isProgrammingError(e)) throw e;
      const msg = (e as Error).message ?? String(e);
      // The reason is written to the stage's failures artifact: redacted like every message swirl keeps.
      if (/context|too long|exceed/i.test(msg)) return { outcome: 'failed', reason: redact(`episode ${question.id}#${sample}: ${msg}`) };
      throw e;
    }
  };
}

/** Counts by trajectory status, plus tool calls, for run summaries. */
export async function summarizeTrajectories(store: ArtifactStore, ref: ArtifactRef): Promise<Record<string, number>> {
  const stats: Record<string, number> = { answered: 0, no_action: 0, max_steps: 0, error: 0, toolCalls: 0, outputTokens: 0 };
  for await (const t of store.read<Trajectory>(ref)) {
    stats[t.status] = (stats[t.status] ?? 0) + 1;
    stats.toolCalls! += t.steps.filter((s) => s.kind !== 'answer').length;
    stats.outputTokens! += t.usage.outputTokens;
  }
  return stats;
}
