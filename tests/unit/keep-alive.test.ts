// Every activity heartbeats while it runs, and every activity the workflows
// schedule has a short heartbeat timeout: together they make a killed worker
// visible to the server within seconds (tests/integration/activity-crash.test.ts
// measures it end to end).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities/index.js';
import { keepAlive } from '../../activities/keep-alive.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { MemoryStageCache } from '../../store/stage-cache.js';
import type { ArtifactRef } from '../../store/artifact-ref.js';
import { packageRoot } from '../../runtime/paths.js';
import { HEARTBEAT_TIMEOUT_MS, heartbeatTimeoutFor } from '../../workflows/heartbeat.js';

function countBeats(env: MockActivityEnvironment): { n: number } {
  const c = { n: 0 };
  env.on('heartbeat', () => c.n++);
  return c;
}

describe('keepAlive', () => {
  it('heartbeats on a timer while the activity runs, and stops when it ends', async () => {
    const env = new MockActivityEnvironment();
    const beats = countBeats(env);
    const slow = keepAlive(async (ms: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return 'done';
    }, 20);
    expect(await env.run(slow, 150)).toBe('done');
    expect(beats.n).toBeGreaterThanOrEqual(4);
    const after = beats.n;
    await new Promise((r) => setTimeout(r, 80));
    expect(beats.n).toBe(after);
  });

  it('stops beating when the activity throws, and passes the error on', async () => {
    const env = new MockActivityEnvironment();
    const beats = countBeats(env);
    const failing = keepAlive(async () => {
      await new Promise((r) => setTimeout(r, 50));
      throw new Error('boom');
    }, 10);
    await expect(env.run(failing)).rejects.toThrow('boom');
    const after = beats.n;
    await new Promise((r) => setTimeout(r, 50));
    expect(beats.n).toBe(after);
  });

  it('runs a function called outside an activity unchanged', async () => {
    expect(await keepAlive(async (x: number) => x + 1)(1)).toBe(2);
  });
});

describe('createActivities', () => {
  it('keeps a non-shard activity alive (concatArtifacts heartbeats while a slow write runs)', async () => {
    const store = new MemoryArtifactStore();
    const part = await store.put('items', [{ a: 1 }, { a: 2 }]);
    // A store whose streamed write takes ~1.3 s.
    const slowStore = {
      put: async (kind: Parameters<MemoryArtifactStore['put']>[0], rows: Parameters<MemoryArtifactStore['put']>[1]) => {
        await new Promise((r) => setTimeout(r, 1300));
        return store.put(kind, rows);
      },
      read: store.read.bind(store),
      has: store.has.bind(store),
    };
    const acts = createActivities({ store: slowStore, cache: new MemoryStageCache(), scratchDir: '/nonexistent', processors: {}, episodeThreads: 0 });
    const env = new MockActivityEnvironment();
    const beats = countBeats(env);
    const ref: ArtifactRef = await env.run(acts.concatArtifacts, { parts: [part, part], kind: 'items' as const });
    expect(ref.rows).toBe(4);
    expect(beats.n).toBeGreaterThanOrEqual(2); // at the start and at least once a second
  });
});

describe('heartbeat timeouts in workflow code', () => {
  it('are short, and never longer than the start-to-close timeout', () => {
    expect(HEARTBEAT_TIMEOUT_MS).toBeLessThanOrEqual(10_000);
    expect(heartbeatTimeoutFor(600_000)).toBe(HEARTBEAT_TIMEOUT_MS);
    expect(heartbeatTimeoutFor(3_000)).toBe(3_000);
  });

  it('every proxyActivities call in workflows/ sets a heartbeat timeout', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith('.ts')) files.push(p);
      }
    };
    walk(path.join(packageRoot, 'workflows'));
    let calls = 0;
    for (const file of files) {
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/proxyActivities<\w+>\(/g)) {
        calls++;
        // The options: up to the call's closing parenthesis (options never nest parentheses deeper than one call).
        const rest = src.slice(m.index! + m[0].length);
        const opts = rest.slice(0, rest.search(/\)\s*;/) + 1);
        const ok = /heartbeatTimeout/.test(opts) || /^\s*activityOptions\(/.test(opts);
        expect(ok, `${path.relative(packageRoot, file)}: proxyActivities(${opts.slice(0, 120)}…) has no heartbeatTimeout`).toBe(true);
      }
    }
    expect(calls).toBeGreaterThanOrEqual(8);
    const ctx = readFileSync(path.join(packageRoot, 'workflows', 'stages', 'context.ts'), 'utf8');
    expect(ctx).toMatch(/heartbeatTimeout: heartbeatTimeoutFor\(stage\.timeoutMs\)/);
  });
});
