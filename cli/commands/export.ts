// `swirl export RUN --out DIR`: folds the LoRA adapter a run's train stage
// produced into its base model and writes one Hugging Face model folder
// (safetensors + config + tokenizer) that transformers or vLLM load without
// peft. The Python trainer does the work (`swirl_trainer export-merged`).
// `--adapter-only` writes the adapter itself instead: the GGUF that llama.cpp
// loads on the base GGUF (what swirl's sampler and evaluations use), with a
// manifest naming the run, the base model's hash and every file's sha256.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { PolicyRecord } from '../../activities/policy.js';
import { resolveModelPath } from '../../agents/models.js';
import { fileSha256 } from '../../compiler/files.js';
import { EXIT, SwirlError } from '../../runtime/errors.js';
import { swirlPaths } from '../../runtime/paths.js';
import { existingRun, withClient } from '../../runtime/run-client.js';
import { runInput } from '../../runtime/run-input.js';
import { FsArtifactStore, readAll } from '../../store/artifacts.js';
import type { PipelineInput, PipelineResult, RunSummary } from '../../workflows/types.js';
import { err, out, printJson } from '../output.js';

interface ExportOptions {
  out?: string;
  stage?: string;
  json?: boolean;
  adapterOnly?: boolean;
}

/** What `--adapter-only` writes next to the adapter (swirl-adapter.json). */
export interface AdapterManifest {
  run: string;
  stage: string;
  iterations: number;
  /** The train stage's final checkpoint hash (its content address). */
  checkpoint: string;
  /** The base model: the Plan's name for it, its model id, and the sha256 of the GGUF it was trained on. */
  base: { name: string; model: string; sha256?: string };
  /** sha256 of every file written beside this manifest. */
  files: Record<string, string>;
}

/**
 * Copies a policy's adapter GGUF (and the checkpoint's adapter_config.json and swirl-checkpoint.json, when
 * present) into a new folder with a manifest; written in a temporary folder renamed at the end.
 */
export function writeAdapterExport(outDir: string, policy: PolicyRecord, meta: { run: string; stage: string; modelId: string }): AdapterManifest {
  const tmp = `${outDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const files: Record<string, string> = {};
  const take = (from: string, name: string) => {
    copyFileSync(from, path.join(tmp, name));
    files[name] = fileSha256(path.join(tmp, name));
  };
  take(policy.adapterGguf, 'adapter.gguf');
  for (const name of ['adapter_config.json', 'swirl-checkpoint.json']) {
    const f = path.join(policy.checkpoint, name);
    if (existsSync(f)) take(f, name);
  }
  let baseSha: string | undefined;
  if (files['swirl-checkpoint.json']) {
    try {
      const base = (JSON.parse(readFileSync(path.join(tmp, 'swirl-checkpoint.json'), 'utf8')) as { base?: string }).base;
      baseSha = base?.match(/sha256:([0-9a-f]{64})/)?.[1];
    } catch {
      /* unreadable metadata: the manifest leaves the base hash out */
    }
  }
  const manifest: AdapterManifest = { run: meta.run, stage: meta.stage, iterations: policy.iterations, checkpoint: policy.hash, base: { name: policy.model, model: meta.modelId, ...(baseSha ? { sha256: baseSha } : {}) }, files };
  writeFileSync(path.join(tmp, 'swirl-adapter.json'), JSON.stringify(manifest, null, 2) + '\n');
  renameSync(tmp, outDir);
  return manifest;
}

/** The train stage to export: the one named, or the run's only train stage. */
export function pickTrainStage(input: PipelineInput, stageId: string | undefined): string {
  const trains = input.plan.stages.filter((s) => s.type === 'train').map((s) => s.id);
  if (stageId) {
    if (!trains.includes(stageId)) throw new SwirlError('E_USAGE', `stage ${stageId} is not a train stage of this run`, { hint: trains.length ? `train stages: ${trains.join(', ')}` : 'this run has no train stage' });
    return stageId;
  }
  if (trains.length === 1) return trains[0]!;
  if (!trains.length) throw new SwirlError('E_NO_POLICY', 'this run has no train stage, so there is no trained policy to export', { hint: 'export a run of a pipeline with a `train` stage' });
  throw new SwirlError('E_USAGE', `this run has ${trains.length} train stages`, { hint: `choose one with --stage (${trains.join(', ')})` });
}

export async function exportAction(workflowId: string, opts: ExportOptions, setCode: (c: number) => void): Promise<void> {
  if (!opts.out) throw new SwirlError('E_USAGE', '--out is required', { hint: `e.g. swirl export ${workflowId} --out merged-model` });
  const outDir = path.resolve(opts.out);
  if (existsSync(outDir)) throw new SwirlError('E_USAGE', `${outDir} already exists`, { hint: 'choose a new folder: an export never writes over another' });
  const { input, stages } = await withClient(async (client, target) => {
    const { handle, desc } = await existingRun(client, target, workflowId);
    const inp = await runInput(client, workflowId);
    let st: RunSummary['stages'] = (desc.memo?.swirl as RunSummary | undefined)?.stages ?? [];
    if (desc.status.name === 'COMPLETED') st = ((await handle.result()) as PipelineResult).stages;
    return { input: inp, stages: st };
  });
  const stageId = pickTrainStage(input, opts.stage);
  const stage = stages.find((s) => s.id === stageId);
  if (!stage?.output || stage.status !== 'completed') {
    throw new SwirlError('E_NO_POLICY', `stage ${stageId} has not completed in ${workflowId}${stage ? ` (it is ${stage.status})` : ''}`, { hint: `wait for the run (swirl status ${workflowId} --follow) or resume it` });
  }
  const paths = swirlPaths();
  const [policy] = await readAll<PolicyRecord>(new FsArtifactStore(paths.artifacts), stage.output);
  if (!policy) throw new SwirlError('E_NO_POLICY', `the policy artifact of ${stageId} is empty`, { hint: `rerun the stage: swirl rerun ${workflowId} --from ${stageId}` });
  if (!existsSync(policy.checkpoint)) {
    throw new SwirlError('E_NO_POLICY', `the checkpoint ${policy.checkpoint} is not on this machine`, { hint: 'run `swirl export` where the run\'s .swirl folder is (or set SWIRL_STATE_DIR to it)' });
  }
  const model = input.plan.models[policy.model];
  if (opts.adapterOnly) {
    if (!existsSync(policy.adapterGguf)) throw new SwirlError('E_NO_POLICY', `the adapter ${policy.adapterGguf} is not on this machine`, { hint: 'run `swirl export` where the run\'s .swirl folder is (or set SWIRL_STATE_DIR to it)' });
    const manifest = writeAdapterExport(outDir, policy, { run: workflowId, stage: stageId, modelId: String(model?.model ?? policy.model) });
    if (opts.json) printJson({ workflowId, out: outDir, ...manifest });
    else out(`${outDir}\n  adapter ${manifest.files['adapter.gguf']!.slice(0, 12)} of ${manifest.base.model} (${stageId}, ${policy.iterations} iterations); evaluate it with a llama-cpp model entry's \`adapter: ${path.join(outDir, 'adapter.gguf')}\``);
    setCode(EXIT.ok);
    return;
  }
  let baseGguf: string;
  try {
    baseGguf = resolveModelPath(String(model?.model ?? policy.model), { modelsDir: paths.models, projectRoot: input.projectRoot });
  } catch (e) {
    throw new SwirlError('E_MODEL_MISSING', (e as Error).message, { hint: 'install the base model with `npm run setup` (or `-- --models NAME`)' });
  }
  if (!existsSync(paths.venvPython)) throw new SwirlError('E_TRAINER_MISSING', `the Python trainer is not installed (${paths.venvPython} missing)`, { hint: 'run `npm run setup`', exitCode: EXIT.environment });

  const child = spawn(paths.venvPython, ['-m', 'swirl_trainer', 'export-merged', '--adapter', policy.checkpoint, '--base-gguf', baseGguf, '--out', outDir], {
    env: { ...process.env, PYTHONPATH: path.join(paths.root, 'trainer'), HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let last: Record<string, unknown> | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    let ev: Record<string, unknown>;
    try {
      ev = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    last = ev;
    if (ev.event === 'progress' && !opts.json) err(`  ${String(ev.phase)}…`);
  }
  const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.on('exit', r)));
  if (code !== 0 || last?.event !== 'done') {
    const msg = last?.event === 'error' ? String(last.message) : `the trainer exited with ${code}: ${stderr.trim().split('\n').pop() ?? ''}`;
    throw new SwirlError('E_EXPORT_FAILED', msg, { hint: last?.event === 'error' && last.hint ? String(last.hint) : 'see the message above', exitCode: code === 2 ? EXIT.badInput : EXIT.runFailed });
  }
  const result = { workflowId, stage: stageId, out: outDir, base: baseGguf, adapter: policy.checkpoint, adapterHash: last.adapterHash, parameters: last.parameters };
  if (opts.json) printJson(result);
  else out(`${outDir}\n  merged ${policy.model} + adapter ${String(policy.hash).slice(0, 12)} (${stageId}, ${policy.iterations} iterations); load it with transformers' AutoModelForCausalLM.from_pretrained`);
  setCode(EXIT.ok);
}
