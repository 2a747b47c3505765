// Embedded models by name: a spec naming one that is not installed fails with
// the exact command that installs it.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EMBEDDED_MODELS, installCommand, resolveModelPath } from '../../agents/models.js';

describe('embedded models', () => {
  it('knows the measured models (docs/models.md)', () => {
    expect(Object.keys(EMBEDDED_MODELS).sort()).toEqual(['gemma3-270m', 'qwen2.5-coder-0.5b', 'qwen2.5-coder-1.5b', 'smollm2-135m']);
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
});
