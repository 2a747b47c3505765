// A trained policy, as the train stage's `policy` artifact records it: the
// base model and the LoRA adapter (PEFT checkpoint + llama.cpp GGUF) on top.
import { existsSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactStore } from '../store/artifacts.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import type { TrainerProbe } from './served-policy.js';

export interface PolicyRecord {
  /** Name of the model in the Plan whose weights are the base. */
  model: string;
  /** llama.cpp LoRA adapter GGUF (node-llama-cpp loads it on the base GGUF). */
  adapterGguf: string;
  /** PEFT checkpoint folder. */
  checkpoint: string;
  /** Content hash of the checkpoint (the trainer's step hash). */
  hash: string;
  iterations: number;
  /** The train stage's key (`<run>/<stage>`): names the adapter a runtime-LoRA server serves. */
  runKey?: string;
  /** The trainer's probe of the final adapter (runtime LoRA checks the served adapter with it). */
  probe?: TrainerProbe;
}

export async function readPolicy(store: ArtifactStore, ref: ArtifactRef): Promise<PolicyRecord> {
  for await (const p of store.read<PolicyRecord>(ref)) {
    if (!existsSync(p.adapterGguf)) throw ApplicationFailure.nonRetryable(`the policy's adapter ${p.adapterGguf} is missing on this worker`, 'ConfigError', 'rerun the train stage on a worker that shares the .swirl folder');
    return p;
  }
  throw ApplicationFailure.nonRetryable('the policy artifact is empty', 'ConfigError');
}
