// The quickstart runs as a real workflow on a real server; the server is
// stopped and restarted on the same SQLite file, and the completed run — its
// result and its full event history — is still there.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, Connection } from '@temporalio/client';
import { freePort, startDevServer, type DevServer } from '../../runtime/devserver.js';
import { swirlPaths } from '../../runtime/paths.js';
import type { PipelineResult } from '../../workflows/types.js';
import { swirl, tempStateDir } from './helpers.js';

describe('quickstart survives a server restart', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swirl-it-restart-'));
  const dbFile = path.join(dir, 'temporal.db');
  let server: DevServer | undefined;

  afterAll(async () => {
    await server?.stop();
  });

  it('runs, restarts the server, reads the history back', async () => {
    const port = await freePort();
    const start = () => startDevServer({ binary: swirlPaths().temporalBin, port, uiPort: false, dbFile, logFile: path.join(dir, 'temporal.log') });
    server = await start();
    const env = { TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: tempStateDir() };

    const run = await swirl(['run', 'pipelines/quickstart.yaml', '--json'], env);
    expect(run.code, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { workflowId: string; status: string; stages: PipelineResult['stages'] };
    expect(summary.status).toBe('completed');
    const stage = summary.stages.find((s) => s.id === 'questions')!;
    expect(stage.status).toBe('completed');
    expect(stage.output).toMatchObject({ kind: 'questions', rows: 16 });

    await server.stop();
    server = await start(); // same port, same SQLite file

    const connection = await Connection.connect({ address: server.address });
    try {
      const client = new Client({ connection });
      const handle = client.workflow.getHandle(summary.workflowId);
      const desc = await handle.describe();
      expect(desc.status.name).toBe('COMPLETED');
      const result = (await handle.result()) as PipelineResult;
      expect(result.stages[0]!.output!.hash).toBe(stage.output!.hash);
      const history = await handle.fetchHistory();
      const types = (history.events ?? []).map((e) => String(e.eventType));
      expect(types[0]).toMatch(/WORKFLOW_EXECUTION_STARTED|^1$/);
      expect(types.some((t) => /ACTIVITY_TASK_COMPLETED|^12$/.test(t))).toBe(true);
      expect(types[types.length - 1]).toMatch(/WORKFLOW_EXECUTION_COMPLETED|^2$/);
      const names = (history.events ?? []).flatMap((e) => (e.activityTaskScheduledEventAttributes ? [e.activityTaskScheduledEventAttributes.activityType?.name] : []));
      expect(names).toContain('loadDataset');
    } finally {
      await connection.close();
    }

    const status = await swirl(['status', summary.workflowId, '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const st = JSON.parse(status.stdout) as { status: string; stages: PipelineResult['stages'] };
    expect(st.status).toBe('COMPLETED');
    expect(st.stages[0]!.output!.rows).toBe(16);
  });
});
