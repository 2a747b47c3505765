// A bug in swirl's own code (a TypeError such as "Cannot read properties of
// undefined") is not a provider failure: no retry, no breaker trip, and the
// shard reports it as a non-retryable InternalError with the stage and item.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ItemCache, processShard } from '../../activities/fanout.js';
import { classifyError, isProgrammingError, ModelGate } from '../../agents/limits.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';

/** A TypeError raised by this (swirl) file. */
function ownTypeError(): TypeError {
  try {
    const o = undefined as unknown as { choices: unknown[] };
    void o.choices[0];
  } catch (e) {
    return e as TypeError;
  }
  throw new Error('unreachable');
}

/** The same message, raised as if inside a provider SDK under node_modules. */
function sdkTypeError(): TypeError {
  const e = new TypeError("Cannot read properties of undefined (reading '0')");
  e.stack = `TypeError: ${e.message}\n    at OpenAI.parse (/srv/app/node_modules/openai/core.js:10:5)\n    at async ChatOpenAI._generate (file:///srv/app/node_modules/@langchain/openai/dist/chat_models.js:20:3)`;
  return e;
}

describe('programming errors', () => {
  it('a TypeError from swirl code is internal and not retryable', () => {
    const e = ownTypeError();
    expect(e.message).toMatch(/Cannot read properties of undefined/);
    expect(isProgrammingError(e)).toBe(true);
    expect(classifyError(e)).toEqual({ kind: 'internal', retryable: false });
    expect(isProgrammingError(new ReferenceError('x is not defined'))).toBe(true); // raised here, in a swirl file
  });

  it('the same TypeError inside a dependency is a malformed response, retried', () => {
    expect(isProgrammingError(sdkTypeError())).toBe(false);
    expect(classifyError(sdkTypeError())).toMatchObject({ kind: 'malformed', retryable: true });
  });

  it('the gate spends one attempt on it and never opens the breaker', async () => {
    const gate = new ModelGate('m', { maxAttempts: 5, baseDelayMs: 1, breakerThreshold: 2 });
    let calls = 0;
    const err = await gate
      .run(async () => {
        calls++;
        throw ownTypeError();
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
    // The next call goes through: no breaker opened.
    await expect(gate.run(async () => 'ok')).resolves.toBe('ok');
  });

  const scratchDir = mkdtempSync(path.join(tmpdir(), 'swirl-internal-'));
  afterAll(() => rmSync(scratchDir, { recursive: true, force: true }));
  it('a shard reports it as a non-retryable InternalError naming the stage and item', async () => {
    const store = new MemoryArtifactStore();
    const items = await store.put('items', [{ id: 'q0' }, { id: 'q1' }]);
    const spec = { shardKey: 'run/rollouts/shard-00000', stageId: 'rollouts', processor: 'p', items, start: 0, end: 2, outputKind: 'items' as const, config: {} };
    const deps = {
      store,
      scratchDir,
      items: new ItemCache(),
      processors: {
        p: async (item: unknown) => {
          if ((item as { id: string }).id === 'q1') throw ownTypeError();
          return { outcome: 'succeeded' as const, row: item };
        },
      },
    };
    const err = await new MockActivityEnvironment().run(processShard, deps, spec).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const f = err as ApplicationFailure;
    expect(f.type).toBe('InternalError');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/^internal error in stage rollouts, item 1 \(q1\): TypeError: Cannot read properties of undefined/);
    expect(f.details?.[0]).toMatchObject({ stageId: 'rollouts', item: 1, id: 'q1' });
  });
});
