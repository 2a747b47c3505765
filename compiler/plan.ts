// A checked spec → the Plan: defaults resolved, stages in topological order,
// file paths made project-relative and pinned by content hash, secrets reduced
// to env names. A stage's hash covers everything that can change its output
// (stageHashMaterial): its config with defaults, the full definitions of the
// models and tools it uses (model files pinned by sha256), the stage
// implementation's version and its inputs' hashes.
import path from 'node:path';
import { canonicalJson, hashOf } from './canonical.js';
import { parseDuration } from './duration.js';
import { PLAN_VERSION, type Plan, type PlanModel, type PlanRetry, type PlanStage } from './plan-types.js';
import { STAGE_IMPL_VERSIONS, STAGE_KINDS, type StageType } from './stage-kinds.js';
import { fileSha256 as contentSha256, resolveSpecPath } from './files.js';
import { hfFingerprint, resolveAdapterFile, resolveHfFolder, resolveModelFile } from './model-files.js';
import { withStageDefaults } from './stage-defaults.js';
import { stageRefs } from './stage-refs.js';
import { isServerUrl } from './tool-server.js';
import { stageInputs } from './semantic.js';
import type { RawRetry, RawSpec, RawStage } from './spec-types.js';

export const DEFAULTS = {
  retry: { maxAttempts: 5, initialInterval: '1s', backoff: 2, maxInterval: '1m' },
  timeout: '10m',
  concurrency: 4,
} as const;

const COMMON_FIELDS = new Set(['id', 'type', 'description', 'input', 'retry', 'timeout', 'cache']);
const PATH_FIELDS = new Set(['path', 'prompt', 'corpus', 'ids']);

interface PlanContext {
  specDir: string;
  projectRoot: string;
  /** sha256 by absolute path, so a file referenced by many stages is hashed once. */
  fileHashes?: Map<string, string>;
}

function fileSha256(abs: string, ctx: PlanContext): string {
  ctx.fileHashes ??= new Map();
  let h = ctx.fileHashes.get(abs);
  if (h === undefined) {
    h = contentSha256(abs);
    ctx.fileHashes.set(abs, h);
  }
  return h;
}

const insideProject = (abs: string, ctx: PlanContext) => !path.relative(ctx.projectRoot, abs).startsWith('..') && !path.isAbsolute(path.relative(ctx.projectRoot, abs));
const projectRelative = (abs: string, ctx: PlanContext) => path.relative(ctx.projectRoot, abs).split(path.sep).join('/');

function retryOf(stage: RawRetry | undefined, defaults: RawRetry | undefined): PlanRetry {
  const r = { ...DEFAULTS.retry, ...defaults, ...stage };
  return {
    maximumAttempts: r.maxAttempts,
    initialIntervalMs: parseDuration(r.initialInterval),
    backoffCoefficient: r.backoff,
    maximumIntervalMs: parseDuration(r.maxInterval),
  };
}

/** Path fields become project-relative POSIX paths plus the file's sha256, so the stage hash follows the data. */
function normalizePaths(obj: Record<string, unknown>, ctx: PlanContext): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (PATH_FIELDS.has(k) && typeof v === 'string') {
      const r = resolveSpecPath(v, ctx);
      if ('error' in r) throw new Error(`internal: unchecked path ${v}`);
      out[k] = projectRelative(r.abs, ctx);
      out[`${k}Sha256`] = fileSha256(r.abs, ctx);
    } else if (v && typeof v === 'object' && !Array.isArray(v)) {
      out[k] = normalizePaths(v as Record<string, unknown>, ctx);
    } else out[k] = v;
  }
  return out;
}

function stageConfig(stage: RawStage, ctx: PlanContext): Record<string, unknown> {
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(stage)) if (!COMMON_FIELDS.has(k)) opts[k] = v;
  return normalizePaths(withStageDefaults(stage.type as StageType, opts), ctx);
}

function topoOrder(stages: RawStage[]): RawStage[] {
  const remaining = new Map(stages.map((s) => [s.id, new Set(stageInputs(s))] as const));
  const out: RawStage[] = [];
  while (out.length < stages.length) {
    const ready = stages.filter((s) => remaining.has(s.id) && [...remaining.get(s.id)!].every((i) => !remaining.has(i)));
    if (ready.length === 0) throw new Error('internal: cycle reached plan building');
    for (const s of ready) {
      out.push(s);
      remaining.delete(s.id);
    }
  }
  return out;
}

/**
 * Models as the worker needs them: secrets reduced to the variable's name; a
 * llama-cpp model's file pinned by `modelSha256` and its adapter by
 * `adapterSha256` (paths made project-relative).
 */
function planModels(spec: RawSpec, ctx: PlanContext): Record<string, PlanModel> {
  const out: Record<string, PlanModel> = {};
  for (const [name, m] of Object.entries(spec.models ?? {})) {
    const { apiKey, ...rest } = m;
    const env = apiKey ? /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(apiKey)?.[1] : undefined;
    const model = { ...rest, ...(env ? { apiKeyEnv: env } : {}) } as PlanModel;
    if (m.provider === 'llama-cpp') {
      const f = resolveModelFile(typeof m.model === 'string' ? m.model : undefined, ctx);
      if ('error' in f) throw new Error(`internal: unchecked model ${name}: ${f.detail}`);
      if ('abs' in f) {
        model.model = projectRelative(f.abs, ctx);
        model.modelSha256 = fileSha256(f.abs, ctx);
      } else model.modelSha256 = f.sha256;
      if (typeof m.adapter === 'string') {
        const a = resolveAdapterFile(m.adapter, ctx);
        if ('error' in a) throw new Error(`internal: unchecked adapter of model ${name}: ${a.detail}`);
        model.adapter = projectRelative(a.abs, ctx);
        model.adapterSha256 = fileSha256(a.abs, ctx);
      }
    }
    if (typeof m.hf === 'string') {
      const h = resolveHfFolder(m.hf, ctx);
      if ('error' in h) throw new Error(`internal: unchecked hf folder of model ${name}: ${h.detail}`);
      // Project-relative inside the project (Plans compare across checkouts), absolute outside (/models/…).
      model.hf = insideProject(h.abs, ctx) ? projectRelative(h.abs, ctx) : h.abs;
      model.hfFingerprint = hfFingerprint(h.abs);
    }
    // Relative to the spec like every path; the server reads the same absolute path.
    if (typeof m.loraDir === 'string') {
      const abs = path.resolve(ctx.specDir, m.loraDir);
      model.loraDir = insideProject(abs, ctx) ? projectRelative(abs, ctx) : abs;
    }
    out[name] = model;
  }
  return out;
}

/**
 * What a stage's hash covers: everything that can change its output. Files are
 * in by content (the `…Sha256` fields of the config, models and tools); secrets
 * are not (only the names of their variables are in the Plan).
 */
export function stageHashMaterial(
  stage: Pick<PlanStage, 'type' | 'config'>,
  models: Record<string, PlanModel>,
  tools: Record<string, Record<string, unknown>>,
  inputHashes: readonly (string | undefined)[],
): unknown {
  const refs = stageRefs(stage.config);
  return {
    type: stage.type,
    impl: STAGE_IMPL_VERSIONS[stage.type],
    config: stage.config,
    models: Object.fromEntries(refs.models.map((n) => [n, models[n] ?? null])),
    tools: Object.fromEntries(refs.tools.map((n) => [n, tools[n] ?? null])),
    inputs: inputHashes,
  };
}

export function buildPlan(spec: RawSpec, planCtx: PlanContext): Plan {
  const ctx: PlanContext = { ...planCtx, fileHashes: planCtx.fileHashes ?? new Map() };
  const tools: Record<string, Record<string, unknown>> = {};
  for (const [name, t] of Object.entries(spec.tools ?? {})) {
    if (t.kind === 'mcp') {
      // A stdio server's command runs in the spec's folder (paths in it read like every other path in the spec).
      const { timeout, ...rest } = t;
      tools[name] = {
        ...rest,
        ...(typeof t.server === 'string' && !isServerUrl(t.server) ? { cwd: projectRelative(ctx.specDir, ctx) || '.' } : {}),
        ...(typeof timeout === 'string' ? { timeoutMs: parseDuration(timeout) } : {}),
      };
    } else tools[name] = normalizePaths(t, ctx);
  }
  const models = planModels(spec, ctx);
  const hashes = new Map<string, string>();
  const stages: PlanStage[] = topoOrder(spec.stages).map((s) => {
    const type = s.type as StageType;
    const inputs = stageInputs(s);
    const config = stageConfig(s, ctx);
    const hash = hashOf(stageHashMaterial({ type, config }, models, tools, inputs.map((i) => hashes.get(i))));
    hashes.set(s.id, hash);
    return {
      id: s.id,
      type,
      ...(s.description ? { description: s.description } : {}),
      inputs,
      outputKind: STAGE_KINDS[type].output,
      config,
      retry: retryOf(s.retry, spec.defaults?.retry),
      timeoutMs: parseDuration(s.timeout ?? spec.defaults?.timeout ?? DEFAULTS.timeout),
      concurrency: spec.defaults?.concurrency ?? DEFAULTS.concurrency,
      cache: s.cache ?? true,
      hash,
    };
  });
  return {
    planVersion: PLAN_VERSION,
    pipeline: {
      name: spec.metadata.name,
      ...(spec.metadata.description ? { description: spec.metadata.description } : {}),
      labels: spec.metadata.labels ?? {},
    },
    specHash: hashOf(spec),
    models,
    tools,
    ...(spec.budget ? { budget: { ...spec.budget } } : {}),
    stages,
  };
}

/** The plan as canonical, stable, pretty-printed JSON (what `swirl plan` prints and golden files hold). */
export function planJson(plan: Plan): string {
  return canonicalJson(plan, 2) + '\n';
}
