import { mkdtempSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { loadDataset, type DatasetConfig } from '../../activities/dataset.js';
import { gsm8kFinalAnswer, type Question } from '../../activities/dataset-formats.js';
import { seededShuffle } from '../../activities/rng.js';
import { MemoryArtifactStore, readAll } from '../../store/artifacts.js';
import { packageRoot } from '../../runtime/paths.js';
import { readFileSync } from 'node:fs';

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const gsmPath = 'data/gsm8k/test.jsonl';
const gsmConfig = (over: Partial<DatasetConfig> = {}): DatasetConfig => ({ path: gsmPath, pathSha256: sha(path.join(packageRoot, gsmPath)), format: 'gsm8k', offset: 0, ...over });

async function load(config: DatasetConfig, projectRoot = packageRoot) {
  const store = new MemoryArtifactStore();
  const ref = await loadDataset(store, { stageId: 'questions', projectRoot, config });
  return { ref, rows: await readAll<Question>(store, ref) };
}

async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ApplicationFailure);
    return e as ApplicationFailure;
  }
  throw new Error('expected a failure');
}

describe('GSM8K final answers', () => {
  it('takes the number after ####, without commas', () => {
    expect(gsm8kFinalAnswer('a\nb\n#### 72')).toBe('72');
    expect(gsm8kFinalAnswer('x\n#### 1,000')).toBe('1000');
    expect(gsm8kFinalAnswer('no marker')).toBeUndefined();
  });
});

describe('loadDataset on the real GSM8K test split', () => {
  it('loads every row with gold answers and solutions', async () => {
    const { ref, rows } = await load(gsmConfig());
    expect(ref.rows).toBe(1319);
    expect(rows[0]).toMatchObject({ id: 'gsm8k/test/0', dataset: 'gsm8k', split: 'test' });
    expect(rows.every((q) => /^-?[0-9.]+$/.test(q.answer))).toBe(true);
    expect(rows[0]!.solution).toContain('<<');
  });

  it('a seed gives the same selection every time, another seed another one', async () => {
    const a = await load(gsmConfig({ seed: 7, limit: 16 }));
    const b = await load(gsmConfig({ seed: 7, limit: 16 }));
    const c = await load(gsmConfig({ seed: 8, limit: 16 }));
    expect(a.ref.hash).toBe(b.ref.hash);
    expect(c.ref.hash).not.toBe(a.ref.hash);
    expect(a.rows).toHaveLength(16);
  });

  it('offset and limit select a window', async () => {
    const all = await load(gsmConfig());
    const win = await load(gsmConfig({ offset: 10, limit: 5 }));
    expect(win.rows.map((q) => q.id)).toEqual(all.rows.slice(10, 15).map((q) => q.id));
  });

  it('refuses a file that changed since compilation (non-retryable)', async () => {
    const f = await failure(load(gsmConfig({ pathSha256: '0'.repeat(64) })));
    expect(f.type).toBe('E_FILE_CHANGED');
    expect(f.message).toMatch(/data\/gsm8k\/test\.jsonl changed since the pipeline was compiled/);
    expect(f.nonRetryable).toBe(true);
  });

  it('names the bad line of a malformed file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-ds-'));
    const file = path.join(dir, 'bad.jsonl');
    writeFileSync(file, '{"question":"q","answer":"#### 1"}\n{oops\n');
    const f = await failure(load({ path: 'bad.jsonl', pathSha256: sha(file), format: 'gsm8k', offset: 0 }, dir));
    expect(f.type).toBe('DatasetInvalid');
    expect(f.message).toContain('bad.jsonl:2');
  });

  it('filters HotpotQA by split', async () => {
    const p = 'data/hotpotqa/questions.jsonl';
    const { rows } = await load({ path: p, pathSha256: sha(path.join(packageRoot, p)), format: 'hotpotqa', split: 'train', offset: 0 });
    expect(rows).toHaveLength(84);
    expect(rows.every((q) => q.split === 'train')).toBe(true);
  });

  it('fails clearly when nothing is selected', async () => {
    const f = await failure(load(gsmConfig({ offset: 5000 })));
    expect(f.type).toBe('DatasetEmpty');
  });
});

describe('seededShuffle', () => {
  it('is a permutation and deterministic', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i);
    const a = seededShuffle(xs, 1);
    expect([...a].sort((x, y) => x - y)).toEqual(xs);
    expect(seededShuffle(xs, 1)).toEqual(a);
    expect(seededShuffle(xs, 2)).not.toEqual(a);
  });
});

describe('hotpotqa levels', () => {
  it('keeps only the listed difficulty levels', async () => {
    const { toQuestion } = await import('../../activities/dataset-formats.js');
    const row = (level: string) => ({ id: `x-${level}`, question: 'q?', answer: 'a', split: 'train', level });
    const opts = { format: 'hotpotqa' as const, path: 'data/hotpotqa/questions.jsonl', levels: ['medium', 'hard'] };
    expect(toQuestion(row('easy'), 0, 1, opts)).toBeUndefined();
    expect(toQuestion(row('hard'), 1, 2, opts)?.id).toBe('x-hard');
    expect(toQuestion(row('easy'), 0, 1, { ...opts, levels: undefined })?.id).toBe('x-easy');
  });
});

describe('fixed id subsets', () => {
  it('keeps exactly the listed ids in file order, and fails on unknown ids', async () => {
    const store = new MemoryArtifactStore();
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-ids-'));
    const data = path.join(dir, 'q.jsonl');
    const text = ['{"id":"a","question":"qa","answer":"1"}', '{"id":"b","question":"qb","answer":"2"}', '{"id":"c","question":"qc","answer":"3"}'].join('\n') + '\n';
    writeFileSync(data, text);
    writeFileSync(path.join(dir, 'ids.txt'), '# comment\nc\na\n');
    const sha = createHash('sha256').update(text).digest('hex');
    const config: DatasetConfig = { path: 'q.jsonl', pathSha256: sha, format: 'jsonl', fields: { id: 'id', question: 'question', answer: 'answer' }, offset: 0, ids: 'ids.txt' };
    const ref = await loadDataset(store, { stageId: 's', projectRoot: dir, config });
    expect((await readAll<Question>(store, ref)).map((q) => q.id)).toEqual(['c', 'a']);
    writeFileSync(path.join(dir, 'ids2.txt'), 'a\nzzz\n');
    await expect(loadDataset(store, { stageId: 's', projectRoot: dir, config: { ...config, ids: 'ids2.txt' } })).rejects.toThrow(/not in q.jsonl, e.g. zzz/);
  });
  it('the shipped evaluation subsets name real questions', () => {
    for (const [f, n] of [['gsm8k-test-300.txt', 300], ['hotpotqa-dev-300.txt', 300], ['musique-dev-200.txt', 200]] as const) {
      const ids = readFileSync(path.join(packageRoot, 'data', 'eval', f), 'utf8').split('\n').filter((l) => l && !l.startsWith('#'));
      expect(new Set(ids).size).toBe(n);
    }
  });
});
