// The search tool: BM25 (minisearch) over a JSONL paragraph corpus, one index
// per (corpus file, split), as the paper builds one index per dataset split.
// Returns the top-k articles as "title: text". Indexes are built once per
// process and corpus content hash.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import MiniSearch from 'minisearch';

export interface CorpusRow {
  id: string;
  title: string;
  text: string;
  splits?: string[];
}

export interface SearchIndex {
  search(query: string, topK: number): CorpusRow[];
  size: number;
}

const indexes = new Map<string, SearchIndex>();

export function buildIndex(rows: CorpusRow[]): SearchIndex {
  const ms = new MiniSearch<CorpusRow>({ fields: ['title', 'text'], storeFields: ['id', 'title', 'text'], searchOptions: { boost: { title: 2 }, bm25: { k: 1.2, b: 0.7, d: 0.5 } } });
  ms.addAll(rows);
  return {
    size: rows.length,
    search(query, topK) {
      const q = query.trim();
      if (!q) return [];
      return ms
        .search(q, { combineWith: 'OR', prefix: false, fuzzy: false })
        .slice(0, topK)
        .map((r) => ({ id: String(r.id), title: String(r.title), text: String(r.text) }));
    },
  };
}

/** The index of `file` restricted to rows whose `splits` contain `split` (all rows when no split). */
export function corpusIndex(file: string, split?: string): SearchIndex {
  const bytes = readFileSync(file);
  const key = `${createHash('sha256').update(bytes).digest('hex')}:${split ?? '*'}`;
  let idx = indexes.get(key);
  if (!idx) {
    const rows: CorpusRow[] = [];
    for (const line of bytes.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as CorpusRow;
      if (split && !(r.splits ?? []).includes(split)) continue;
      rows.push({ id: r.id, title: r.title, text: r.text });
    }
    idx = buildIndex(rows);
    indexes.set(key, idx);
  }
  return idx;
}

/** The search tool's observation text. */
export function formatResults(rows: CorpusRow[]): string {
  if (rows.length === 0) return 'No results.';
  return rows.map((r) => `${r.title}: ${r.text.trim()}`).join('\n\n');
}
