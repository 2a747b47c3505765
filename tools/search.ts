// The search tool: BM25 (minisearch) over a JSONL paragraph corpus, one index
// per (corpus file, split), as the paper builds one index per dataset split.
// Returns the top-k articles as "title: text". An index is built once per
// corpus content hash and split: kept in memory for the process and on disk
// (`<state>/cache/search/<sha256>-<split>.json`, written atomically), so other
// processes and episode threads load it instead of building it again.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import MiniSearch, { type Options } from 'minisearch';
import { swirlPaths } from '../runtime/paths.js';

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

const OPTIONS: Options<CorpusRow> = { fields: ['title', 'text'], storeFields: ['id', 'title', 'text'], searchOptions: { boost: { title: 2 }, bm25: { k: 1.2, b: 0.7, d: 0.5 } } };
/** Bump when the options or the stored fields change: old cache files are then ignored. */
const INDEX_FORMAT = 1;

export function buildIndex(rows: CorpusRow[]): SearchIndex & { ms: MiniSearch<CorpusRow> } {
  const ms = new MiniSearch<CorpusRow>(OPTIONS);
  ms.addAll(rows);
  return wrap(ms);
}

function wrap(ms: MiniSearch<CorpusRow>): SearchIndex & { ms: MiniSearch<CorpusRow> } {
  return {
    ms,
    size: ms.documentCount,
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

/** Forgets the indexes held in memory (tests: the next call loads from disk). */
export function forgetIndexes(): void {
  indexes.clear();
}

/** Where the on-disk copy of an index lives (default `<state>/cache/search`). */
export function searchCacheDir(): string {
  return path.join(swirlPaths().stageCache, 'search');
}

/**
 * The index of `file` restricted to rows whose `splits` contain `split` (all
 * rows when no split): from this process's memory, else from the on-disk
 * cache, else built (and then written to the cache). A cache file that cannot
 * be read is rebuilt and replaced. `checkSha256` sees the content's hash
 * first (the worker compares it with the Plan's and throws on a change).
 */
export function corpusIndex(file: string, split?: string, cacheDir = searchCacheDir(), checkSha256?: (sha256: string) => void): SearchIndex {
  const bytes = readFileSync(file);
  const hash = createHash('sha256').update(bytes).digest('hex');
  checkSha256?.(hash);
  const key = `${hash}:${split ?? '*'}`;
  let idx = indexes.get(key);
  if (idx) return idx;
  const cached = path.join(cacheDir, `${hash}-${(split ?? 'all').replace(/[^A-Za-z0-9_.-]/g, '_')}-v${INDEX_FORMAT}.json`);
  if (existsSync(cached)) {
    try {
      idx = wrap(MiniSearch.loadJSON<CorpusRow>(readFileSync(cached, 'utf8'), OPTIONS));
    } catch {
      idx = undefined; // torn or foreign file: rebuilt below
    }
  }
  if (!idx) {
    const rows: CorpusRow[] = [];
    for (const line of bytes.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      const r = JSON.parse(line) as CorpusRow;
      if (split && !(r.splits ?? []).includes(split)) continue;
      rows.push({ id: r.id, title: r.title, text: r.text });
    }
    const built = buildIndex(rows);
    idx = built;
    try {
      mkdirSync(cacheDir, { recursive: true });
      const tmp = `${cached}.${process.pid}.${threadId}.tmp`;
      writeFileSync(tmp, JSON.stringify(built.ms));
      renameSync(tmp, cached);
    } catch {
      // A read-only state dir only costs the next process a rebuild.
    }
  }
  indexes.set(key, idx);
  return idx;
}

/** The search tool's observation text. */
export function formatResults(rows: CorpusRow[]): string {
  if (rows.length === 0) return 'No results.';
  return rows.map((r) => `${r.title}: ${r.text.trim()}`).join('\n\n');
}
