import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildIndex, corpusIndex, forgetIndexes, formatResults } from '../../tools/search.js';
import { packageRoot } from '../../runtime/paths.js';

describe('BM25 search', () => {
  it('ranks the matching paragraph first', () => {
    const idx = buildIndex([
      { id: 'a', title: 'Paris', text: 'Paris is the capital of France.' },
      { id: 'b', title: 'Berlin', text: 'Berlin is the capital of Germany.' },
      { id: 'c', title: 'Bread', text: 'Bread is baked from flour.' },
    ]);
    expect(idx.search('capital of Germany', 1).map((r) => r.id)).toEqual(['b']);
    expect(idx.search('', 3)).toEqual([]);
    expect(formatResults(idx.search('flour', 1))).toBe('Bread: Bread is baked from flour.');
    expect(formatResults([])).toBe('No results.');
  });

  it('indexes the real HotpotQA corpus per split and finds a gold paragraph', () => {
    const file = path.join(packageRoot, 'data', 'hotpotqa', 'corpus.jsonl');
    const train = corpusIndex(file, 'train');
    expect(train.size).toBe(834);
    const dev = corpusIndex(file, 'dev');
    expect(dev.size).toBe(12392);
    // "Which 2009 animated film is from Japan, Summer Wars or The Secret of Kells?" (HotpotQA dev).
    expect(dev.search('Summer Wars animated film', 1).map((r) => r.title)).toEqual(['Summer Wars']);
    expect(corpusIndex(file, 'dev')).toBe(dev); // built once
  });

  it('keeps a built index on disk by corpus hash and split; a later process loads it; a torn file is rebuilt', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-search-cache-'));
    try {
      const corpus = path.join(dir, 'corpus.jsonl');
      const cache = path.join(dir, 'cache');
      const rows = [
        { id: 'a', title: 'Paris', text: 'Paris is the capital of France.', splits: ['dev'] },
        { id: 'b', title: 'Berlin', text: 'Berlin is the capital of Germany.', splits: ['dev'] },
        { id: 'c', title: 'Rome', text: 'Rome is the capital of Italy.', splits: ['train'] },
      ];
      writeFileSync(corpus, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const built = corpusIndex(corpus, 'dev', cache);
      expect(built.size).toBe(2);
      const files = readdirSync(cache);
      expect(files).toHaveLength(1);
      expect(files[0]).toMatch(/^[0-9a-f]{64}-dev-v\d+\.json$/);
      // A new process (memory forgotten) loads the file: prove it by planting an index of other rows under its name.
      forgetIndexes();
      const planted = buildIndex([{ id: 'z', title: 'Planted', text: 'capital of nowhere' }]) as unknown as { ms: unknown };
      writeFileSync(path.join(cache, files[0]!), JSON.stringify(planted.ms));
      expect(corpusIndex(corpus, 'dev', cache).search('capital', 1).map((r) => r.id)).toEqual(['z']);
      // A torn file is rebuilt from the corpus and replaced.
      forgetIndexes();
      writeFileSync(path.join(cache, files[0]!), '{"documentCount": 2, "ind');
      const rebuilt = corpusIndex(corpus, 'dev', cache);
      expect(rebuilt.search('capital of Germany', 1).map((r) => r.id)).toEqual(['b']);
      forgetIndexes();
      expect(corpusIndex(corpus, 'dev', cache).search('capital of France', 1).map((r) => r.id)).toEqual(['a']);
      // Another corpus content is another file.
      writeFileSync(corpus, rows.slice(0, 1).map((r) => JSON.stringify(r)).join('\n') + '\n');
      expect(corpusIndex(corpus, 'dev', cache).size).toBe(1);
      expect(readdirSync(cache)).toHaveLength(2);
    } finally {
      forgetIndexes();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
