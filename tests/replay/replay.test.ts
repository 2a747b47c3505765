// Every stored history of a real run must replay against the current workflow
// code. A change that alters the command sequence fails here unless it is
// guarded with patched() (see docs/operations.md, "Changing workflows").
// `<pipeline>-v<N>-<label>--<stage>.json` is a stage's child workflow (a train loop);
// train-crash-v2-upgraded--trained.json spans a worker upgrade (scripts/record-mixed-train.ts):
// iterations scheduled before the train-attempts-v1 marker and after it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { installQuietRuntime } from '../../runtime/clients.js';
import { packageRoot } from '../../runtime/paths.js';
import { workflowBundle } from '../../worker.js';

const dir = path.join(packageRoot, 'tests', 'fixtures', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
// Histories are named <pipeline>-v<N>-<what changed>.json; keep every old one.
const load = (f: string): unknown => JSON.parse(readFileSync(path.join(dir, f), 'utf8'));

describe('replay of stored histories', () => {
  installQuietRuntime();

  it('has stored histories to replay', () => expect(files.length).toBeGreaterThan(0));

  for (const f of files) {
    it(`${f} replays against the current workflow code`, async () => {
      // scripts/record-history.ts runs each pipeline as workflow `record-<pipeline>`; child ids derive from it.
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, load(f), `record-${f.split('-v')[0]}`);
    });
  }

  it('a workflow change that alters the command sequence fails replay', async () => {
    const changed = await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./fixtures/reordered-workflow.ts', import.meta.url)),
      logger: new DefaultLogger('WARN'),
    });
    const err = await Worker.runReplayHistory({ workflowBundle: changed }, load(files[0]!), files[0]!).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DeterminismViolationError);
  });
});
