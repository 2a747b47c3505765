// The audit timeline over stored histories of real runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { buildAudit, formatAudit } from '../../cli/audit.js';
import { packageRoot } from '../../runtime/paths.js';

const load = (name: string) => historyFromJSON(JSON.parse(readFileSync(path.join(packageRoot, 'tests', 'fixtures', 'histories', name), 'utf8'))).events ?? [];

describe('buildAudit', () => {
  it('reads the first stored history (before the stage cache existed)', () => {
    const r = buildAudit('x', load('quickstart-v1-before-cache.json'));
    expect(r).toMatchObject({ pipeline: 'quickstart', status: 'COMPLETED', activities: { scheduled: 1, completed: 1, failed: 0, retried: 0, cacheHits: 0 } });
    const act = r.entries.find((e) => e.kind === 'activity')!;
    expect(act).toMatchObject({ name: 'loadDataset', stage: 'questions', event: 'completed' });
    expect(act.detail).toMatch(/^questions 16 rows, \d+ bytes, artifact [0-9a-f]{12}$/);
  });

  it('shows patches, cache lookups and the stage of every activity', () => {
    const r = buildAudit('x', load('quickstart-v3-run-summary.json'));
    expect(r.entries.filter((e) => e.kind === 'patch').map((e) => e.name).sort()).toEqual(['run-summary-v1', 'stage-cache-v1']);
    const acts = r.entries.filter((e) => e.kind === 'activity');
    expect(acts.map((e) => `${e.name}:${e.stage}`)).toEqual(['lookupStageCache:questions', 'loadDataset:questions', 'recordStageCache:questions']);
    expect(acts[0]!.detail).toMatch(/^cache miss/);
    const lines = formatAudit(r);
    expect(lines[0]).toMatch(/^run x {2}COMPLETED {2}pipeline quickstart {2}spec [0-9a-f]{12}$/);
    expect(lines.some((l) => /activity loadDataset \[stage questions\] completed in \d+ms {2}→ questions 16 rows/.test(l))).toBe(true);
    // Offsets never go backwards.
    const offsets = r.entries.map((e) => e.offsetMs);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  });
});
