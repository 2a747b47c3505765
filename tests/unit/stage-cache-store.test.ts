// Both stage caches keep a stage's stats and counts with its output, and read
// entries written before stats were kept.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FsStageCache, MemoryStageCache, type StageCache } from '../../store/stage-cache.js';

const ref = { hash: 'a'.repeat(64), kind: 'steps' as const, rows: 3, bytes: 100 };

describe.each([
  ['fs', () => new FsStageCache(mkdtempSync(path.join(tmpdir(), 'swirl-sc-')))],
  ['memory', () => new MemoryStageCache()],
] as Array<[string, () => StageCache]>)('%s stage cache', (_, make) => {
  it('returns the output with its stats and counts', async () => {
    const c = make();
    await c.put('k1', ref, { stats: { kept: 2, dropped: { process: 1 } }, counts: { succeeded: 3, failed: 0, filtered: 0 } });
    expect(await c.get('k1')).toEqual(ref);
    expect(await c.extra!('k1')).toEqual({ stats: { kept: 2, dropped: { process: 1 } }, counts: { succeeded: 3, failed: 0, filtered: 0 } });
    await c.put('k2', ref);
    expect(await c.extra!('k2')).toEqual({});
    expect(await c.get('missing')).toBeUndefined();
    expect(await c.extra!('missing')).toBeUndefined();
  });
});

describe('fs stage cache', () => {
  it('reads old entries that hold only the ref', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-sc-'));
    const key = 'ab' + 'c'.repeat(62);
    mkdirSync(path.join(dir, 'ab'), { recursive: true });
    writeFileSync(path.join(dir, 'ab', `${key}.json`), JSON.stringify(ref));
    const c = new FsStageCache(dir);
    expect(await c.get(key)).toEqual(ref);
    expect(await c.extra(key)).toEqual({});
  });
});
