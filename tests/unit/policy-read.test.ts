// An evaluation loads the adapter a train stage wrote, or fails: readPolicy checks the GGUF's
// sha256 against the one the policy artifact recorded at training time.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readPolicy } from '../../activities/policy.js';
import { FsArtifactStore } from '../../store/artifacts.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('readPolicy', () => {
  it('returns the policy while its adapter is the trained file, and refuses a changed one', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-policy-'));
    dirs.push(dir);
    const store = new FsArtifactStore(path.join(dir, 'artifacts'));
    const gguf = path.join(dir, 'adapter.gguf');
    writeFileSync(gguf, 'trained weights');
    const adapterSha = createHash('sha256').update('trained weights').digest('hex');
    const ref = await store.put('policy', [{ model: 'policy', adapterGguf: gguf, checkpoint: dir, hash: 'h', adapterSha, iterations: 1 }]);
    expect((await readPolicy(store, ref)).adapterSha).toBe(adapterSha);

    writeFileSync(gguf, 'other weights!');
    await expect(readPolicy(store, ref)).rejects.toMatchObject({ type: 'E_POLICY_CHANGED', nonRetryable: true, message: expect.stringContaining('changed after training') });

    // A policy written before adapter hashes were recorded still reads.
    const old = await store.put('policy', [{ model: 'policy', adapterGguf: gguf, checkpoint: dir, hash: 'h', iterations: 1 }]);
    expect((await readPolicy(store, old)).adapterGguf).toBe(gguf);
  });
});
