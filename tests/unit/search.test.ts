import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildIndex, corpusIndex, formatResults } from '../../tools/search.js';
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
});
