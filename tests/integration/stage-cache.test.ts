// Rerunning an unchanged pipeline hits the stage cache and runs no stage work;
// changing a stage's config reruns it; `cache: false` opts out.
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { packageRoot } from '../../runtime/paths.js';
import type { StageState } from '../../workflows/types.js';
import { swirl, tempStateDir } from './helpers.js';

async function activityNames(address: string, workflowId: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const history = await new Client({ connection }).workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name ? [e.activityTaskScheduledEventAttributes.activityType.name] : []));
  } finally {
    await connection.close();
  }
}

describe('stage cache', () => {
  const address = inject('temporalAddress');
  const env = { TEMPORAL_ADDRESS: address, SWIRL_STATE_DIR: tempStateDir() };
  // A private copy of the quickstart, so the test can edit it.
  const project = mkdtempSync(path.join(tmpdir(), 'swirl-cache-'));
  writeFileSync(path.join(project, 'package.json'), '{}');
  mkdirSync(path.join(project, 'data'));
  mkdirSync(path.join(project, 'pipelines'));
  copyFileSync(path.join(packageRoot, 'data', 'gsm8k', 'test.jsonl'), path.join(project, 'data', 'test.jsonl'));
  const spec = path.join(project, 'pipelines', 'p.yaml');
  const base = readFileSync(path.join(packageRoot, 'tests', 'fixtures', 'specs', 'valid', 'dataset-only.yaml'), 'utf8').replace('../../../../data/gsm8k/train.jsonl', '../data/test.jsonl');

  async function run(text: string): Promise<{ id: string; stages: StageState[] }> {
    writeFileSync(spec, text);
    const r = await swirl(['run', spec, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    // The in-process worker's activity-only queues are normal: no SDK warning about them reaches the user.
    expect(r.stderr).not.toMatch(/No workflows registered/);
    const out = JSON.parse(r.stdout) as { workflowId: string; stages: StageState[] };
    return { id: out.workflowId, stages: out.stages };
  }

  it('hits on an unchanged rerun, misses after a config change, and honours cache: false', async () => {
    const first = await run(base);
    expect(first.stages[0]).toMatchObject({ status: 'completed' });
    expect(first.stages[0]!.cached).toBeUndefined();
    expect(await activityNames(address, first.id)).toEqual(['lookupStageCache', 'loadDataset', 'recordStageCache']);

    const second = await run(base);
    expect(second.stages[0]).toMatchObject({ status: 'completed', cached: true, output: first.stages[0]!.output });
    expect(await activityNames(address, second.id)).toEqual(['lookupStageCache']); // no stage work ran

    const changed = await run(base.replace('seed: 7', 'seed: 8'));
    expect(changed.stages[0]!.cached).toBeUndefined();
    expect(changed.stages[0]!.output!.hash).not.toBe(first.stages[0]!.output!.hash);

    const optOut = await run(base.replace('    limit: 16', '    limit: 16\n    cache: false'));
    expect(optOut.stages[0]!.cached).toBeUndefined();
    expect(await activityNames(address, optOut.id)).toContain('loadDataset');
    expect(optOut.stages[0]!.output!.hash).toBe(first.stages[0]!.output!.hash); // same work, same content

    // What would rerun, before anything runs.
    writeFileSync(spec, base.replace('seed: 7', 'seed: 9'));
    const diff = await swirl(['plan', spec, '--against', first.id, '--json'], env);
    expect(diff.code, diff.stderr).toBe(0);
    expect(JSON.parse(diff.stdout).stages).toEqual([{ id: 'questions', verdict: 'rerun', reason: 'config changed: seed' }]);
    const same = await swirl(['plan', spec, '--against', changed.id], env);
    expect(same.stdout).toMatch(/questions\s+rerun\s+config changed: seed/);

    // rerun: same Plan, served from the cache; --from forces the stage again.
    const again = await swirl(['rerun', first.id, '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).stages[0]).toMatchObject({ cached: true, output: first.stages[0]!.output });
    const forced = await swirl(['rerun', first.id, '--from', 'questions', '--json'], env);
    const forcedOut = JSON.parse(forced.stdout) as { workflowId: string; stages: StageState[] };
    expect(forcedOut.stages[0]!.cached).toBeUndefined();
    expect(forcedOut.stages[0]!.output).toEqual(first.stages[0]!.output);
    expect(await activityNames(address, forcedOut.workflowId)).toContain('loadDataset');
    const bad = await swirl(['rerun', first.id, '--from', 'nope'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/has no stage `nope`/);
  });
});
