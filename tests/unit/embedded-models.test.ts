// Embedded models by name: a spec naming one that is not installed fails with
// the exact command that installs it.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { chatModelFor, EMBEDDED_MODELS, installCommand, resolveModelPath } from '../../agents/models.js';
import { defaultThreads, type LlamaCppChat } from '../../agents/llama-cpp-chat.js';
import { compileSource } from '../../compiler/index.js';
import { EMBEDDED_MODEL_FILES } from '../../compiler/model-files.js';
import { packageRoot } from '../../runtime/paths.js';

describe('embedded models', () => {
  it('knows the measured models (docs/models.md)', () => {
    expect(Object.keys(EMBEDDED_MODELS).sort()).toEqual(['gemma3-270m', 'qwen2.5-coder-0.5b', 'qwen2.5-coder-1.5b', 'smollm2-135m']);
  });

  it('pins the files and hashes the installer verifies (trainer/swirl_trainer/models.py)', () => {
    const py = readFileSync(path.join(packageRoot, 'trainer', 'swirl_trainer', 'models.py'), 'utf8');
    const installed = [...py.matchAll(/name="([^"]+)",\s*filename="([^"]+)",\s*sha256="([0-9a-f]{64})"/g)].map((m) => [m[1]!, { file: m[2]!, sha256: m[3]! }] as const);
    expect(Object.fromEntries(installed)).toEqual(EMBEDDED_MODEL_FILES);
  });

  it('a missing model names the command that installs it', () => {
    const modelsDir = mkdtempSync(path.join(tmpdir(), 'swirl-models-'));
    for (const name of Object.keys(EMBEDDED_MODELS)) {
      let err: unknown;
      try {
        resolveModelPath(name, { modelsDir, projectRoot: modelsDir });
      } catch (e) {
        err = e;
      }
      const message = (err as Error).message;
      expect(message).toContain(`embedded model ${name} is not installed`);
      expect(message).toContain(`\`${installCommand(name)}\``);
      expect((err as { nonRetryable?: boolean }).nonRetryable).toBe(true);
    }
    expect(installCommand('qwen2.5-coder-1.5b')).toBe('npm run setup -- --models qwen2.5-coder-1.5b');
    expect(installCommand('gemma3-270m')).toBe('npm run setup');
  });

  it('an installed model resolves to its file', () => {
    const modelsDir = mkdtempSync(path.join(tmpdir(), 'swirl-models-'));
    writeFileSync(path.join(modelsDir, EMBEDDED_MODELS['smollm2-135m']!), 'GGUF');
    expect(resolveModelPath('smollm2-135m', { modelsDir, projectRoot: modelsDir })).toBe(path.join(modelsDir, EMBEDDED_MODELS['smollm2-135m']!));
  });

  it('threads and sequences come from the spec; SWIRL_LLAMA_THREADS sets the worker default', () => {
    expect(defaultThreads({ SWIRL_LLAMA_THREADS: '1' })).toBe(1);
    expect(defaultThreads({})).toBe(Math.max(1, availableParallelism()));
    expect(defaultThreads({ SWIRL_LLAMA_THREADS: 'lots' })).toBe(Math.max(1, availableParallelism()));
    const file = path.join(packageRoot, 'pipelines', 'gsm8k.yaml');
    const r = compileSource(readFileSync(file, 'utf8'), file, { overrides: ['models.policy.threads=1', 'models.policy.sequences=2'] });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const chat = chatModelFor('policy', r.plan.models.policy!, { modelsDir: path.join(packageRoot, '.swirl', 'models'), projectRoot: packageRoot }) as LlamaCppChat;
    expect(chat.params).toMatchObject({ threads: 1, sequences: 2 });
    // Neither changes what a call is keyed by.
    expect(JSON.stringify(chat.ledgerIdentity())).not.toMatch(/threads|sequences/);
    const bad = compileSource(readFileSync(file, 'utf8'), file, { overrides: ['models.policy.threads=0'] });
    expect(bad.ok).toBe(false);
  });
});
