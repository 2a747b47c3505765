// Conformance: the file store and the in-memory store behave the same.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArtifactCorruptError, ArtifactMissingError, FsArtifactStore, MemoryArtifactStore, readAll, type ArtifactStore } from '../../store/artifacts.js';

const rows = [{ id: 'a', n: 1 }, { id: 'b', text: 'ünïcode ✓', nested: { x: [1, 2] } }, { id: 'c' }];

const stores: Array<[string, () => ArtifactStore]> = [
  ['FsArtifactStore', () => new FsArtifactStore(mkdtempSync(path.join(tmpdir(), 'swirl-art-')))],
  ['FsArtifactStore (gzip)', () => new FsArtifactStore(mkdtempSync(path.join(tmpdir(), 'swirl-art-')), { compress: true })],
  ['MemoryArtifactStore', () => new MemoryArtifactStore()],
];

for (const [name, make] of stores) {
  describe(name, () => {
    it('round-trips rows and counts them', async () => {
      const store = make();
      const ref = await store.put('questions', rows);
      expect(ref).toMatchObject({ kind: 'questions', rows: 3 });
      expect(ref.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(ref.bytes).toBeGreaterThan(0);
      expect(await readAll(store, ref)).toEqual(rows);
      expect(await store.has(ref.hash)).toBe(true);
    });

    it('addresses by content: same rows, same hash; different rows, different hash', async () => {
      const store = make();
      const a = await store.put('questions', rows);
      const b = await store.put('questions', (async function* () {
        yield* rows;
      })());
      const c = await store.put('questions', rows.slice(1));
      expect(b.hash).toBe(a.hash);
      expect(c.hash).not.toBe(a.hash);
    });

    it('stores an empty artifact', async () => {
      const store = make();
      const ref = await store.put('steps', []);
      expect(ref.rows).toBe(0);
      expect(await readAll(store, ref)).toEqual([]);
    });

    it('reports a missing artifact', async () => {
      const store = make();
      await expect(readAll(store, { hash: 'f'.repeat(64) })).rejects.toBeInstanceOf(ArtifactMissingError);
    });
  });
}

describe('FsArtifactStore on disk', () => {
  it('detects tampering on read', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-art-'));
    const store = new FsArtifactStore(dir);
    const ref = await store.put('questions', rows);
    const file = store.pathOf(ref.hash);
    writeFileSync(file, readFileSync(file, 'utf8').replace('"a"', '"z"'));
    await expect(readAll(store, ref)).rejects.toBeInstanceOf(ArtifactCorruptError);
  });

  it('leaves no temp files behind, and a failed write leaves nothing', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-art-'));
    const store = new FsArtifactStore(dir);
    await store.put('questions', rows);
    const bad = (function* () {
      yield { ok: 1 };
      throw new Error('producer crashed');
    })();
    await expect(store.put('questions', bad)).rejects.toThrow('producer crashed');
    const names = readdirSync(dir, { recursive: true }).map(String);
    expect(names.filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect(names.filter((n) => n.endsWith('.jsonl'))).toHaveLength(1);
  });
});

describe('MemoryArtifactStore', () => {
  it('detects tampering too', async () => {
    const store = new MemoryArtifactStore();
    const ref = await store.put('questions', rows);
    store.tamper(ref.hash, '{"id":"z"}\n');
    await expect(readAll(store, ref)).rejects.toBeInstanceOf(ArtifactCorruptError);
  });
});

describe('FsArtifactStore compression', () => {
  it('gives the same address compressed or not, and reads either form', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-art-'));
    const plain = new FsArtifactStore(dir);
    const gz = new FsArtifactStore(mkdtempSync(path.join(tmpdir(), 'swirl-art-')), { compress: true });
    const big = Array.from({ length: 30_000 }, (_, i) => ({ i, text: `row ${i} `.repeat(8) }));
    const a = await plain.put('items', big);
    const b = await gz.put('items', big);
    expect(b).toEqual(a);
    expect(readFileSync(gz.pathOf(b.hash, true)).length).toBeLessThan(a.bytes / 4);
    expect(await readAll(gz, b)).toEqual(big);
  });

  it('detects a damaged compressed file', async () => {
    const gz = new FsArtifactStore(mkdtempSync(path.join(tmpdir(), 'swirl-art-')), { compress: true });
    const ref = await gz.put('questions', rows);
    const file = gz.pathOf(ref.hash, true);
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    writeFileSync(file, bytes);
    await expect(readAll(gz, ref)).rejects.toBeInstanceOf(ArtifactCorruptError);
  });
});
