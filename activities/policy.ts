// A trained policy, as the train stage's `policy` artifact records it: the
// base model and the LoRA adapter (PEFT checkpoint + llama.cpp GGUF) on top.
import { existsSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { fileSha256 } from '../compiler/files.js';
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
  /** sha256 of `adapterGguf` when the train stage wrote it (policies since session 5); checked on every read. */
  adapterSha?: string;
  iterations: number;
  /** The train stage's key (`<run>/<stage>`): names the adapter a runtime-LoRA server serves. */
  runKey?: string;
  /** The trainer's probe of the final adapter (runtime LoRA checks the served adapter with it). */
  probe?: TrainerProbe;
}

export async function readPolicy(store: ArtifactStore, ref: ArtifactRef): Promise<PolicyRecord> {
  for await (const p of store.read<PolicyRecord>(ref)) {
    if (!existsSync(p.adapterGguf)) throw ApplicationFailure.nonRetryable(`the policy's adapter ${p.adapterGguf} is missing on this worker`, 'ConfigError', 'rerun the train stage on a worker that shares the .swirl folder');
    // An evaluation must load the weights the train stage wrote: a changed file would score another policy under this one's name.
    if (p.adapterSha) {
      const sha = fileSha256(p.adapterGguf);
      if (sha !== p.adapterSha) {
        throw ApplicationFailure.nonRetryable(`the policy's adapter ${p.adapterGguf} changed after training (sha256 ${sha.slice(0, 12)}, trained ${p.adapterSha.slice(0, 12)})`, 'E_POLICY_CHANGED', 'restore the checkpoint folder, or train again: `swirl rerun RUN --from STAGE`');
      }
    }
    return p;
  }
  throw ApplicationFailure.nonRetryable('the policy artifact is empty', 'ConfigError');
}
