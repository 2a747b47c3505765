// `swirl worker` polls its queues and shuts down gracefully on SIGTERM/SIGINT.
import { spawn } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { bin, tempStateDir } from './helpers.js';
import { packageRoot } from '../../runtime/paths.js';

function runWorker(signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const address = inject('temporalAddress');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, 'worker', '--queue', 'orchestration'], {
      cwd: packageRoot,
      env: { ...process.env, CI: 'true', TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir(), SWIRL_TASK_QUEUE_PREFIX: `it-shutdown-${signal}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker did not stop on ${signal}\n${stdout}\n${stderr}`));
    }, 60_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes('polling') && !stdout.includes('__sent')) {
        stdout += '__sent';
        child.kill(signal);
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: stdout.replace('__sent', ''), stderr });
    });
  });
}

describe('swirl worker', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`polls its queue and stops cleanly on ${signal}`, async () => {
      const r = await runWorker(signal);
      expect(r.stdout).toContain(`polling it-shutdown-${signal}.orchestration`);
      expect(r.stdout).toContain('worker stopped');
      expect(r.code).toBe(0);
    });
  }
});
