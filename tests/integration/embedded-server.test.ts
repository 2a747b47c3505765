// `swirl server start|status|stop` manage the embedded server under the state
// dir; `swirl run` uses it when running; runs persist across server restarts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, pidAlive } from '../../runtime/devserver.js';
import { swirl, tempStateDir } from './helpers.js';

describe('embedded server lifecycle', () => {
  const state = tempStateDir();
  const env = { SWIRL_STATE_DIR: state, TEMPORAL_ADDRESS: '' };

  afterAll(async () => {
    await swirl(['server', 'stop'], env);
  });

  it('start → status → run → stop → start → status of the old run', async () => {
    const port = await freePort();
    const uiPort = await freePort();
    const started = await swirl(['server', 'start', '--port', String(port), '--ui-port', String(uiPort), '--json'], env);
    expect(started.code, started.stderr).toBe(0);
    const info = JSON.parse(started.stdout) as { pid: number; address: string; uiUrl: string; dbFile: string; started: boolean };
    expect(info.started).toBe(true);
    expect(info.address).toBe(`127.0.0.1:${port}`);
    expect(info.dbFile).toBe(path.join(state, 'temporal.db'));
    expect(pidAlive(info.pid)).toBe(true);

    const again = await swirl(['server', 'start', '--port', String(port), '--json'], env);
    expect(JSON.parse(again.stdout)).toMatchObject({ started: false, pid: info.pid });

    const status = await swirl(['server', 'status'], env);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`web UI: http://127.0.0.1:${uiPort}`);
    const ui = await fetch(`http://127.0.0.1:${uiPort}/`);
    expect(ui.status).toBe(200);

    const run = await swirl(['run', 'tests/fixtures/specs/valid/dataset-only.yaml'], env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`using Temporal at 127.0.0.1:${port}`);
    expect(run.stdout).toMatch(new RegExp(`open in the Temporal UI: http://127\\.0\\.0\\.1:${uiPort}/namespaces/default/workflows/dataset-only-`));
    const id = /workflow id: (\S+)/.exec(run.stdout)![1]!;

    const stopped = await swirl(['server', 'stop'], env);
    expect(stopped.stdout).toContain(`stopped Temporal dev server (pid ${info.pid})`);
    expect(pidAlive(info.pid)).toBe(false);
    const down = await swirl(['server', 'status', '--json'], env);
    expect(down.code).toBe(3);
    expect(JSON.parse(down.stdout)).toMatchObject({ running: false });
    // A stopped server (its runs kept in the state dir) is not one that never started.
    expect((JSON.parse(down.stdout) as { reason: string }).reason).toMatch(/^stopped \(its runs are kept in /);

    const restarted = await swirl(['server', 'start', '--port', String(port), '--ui-port', String(uiPort), '--json'], env);
    expect(restarted.code, restarted.stderr).toBe(0);
    const st = await swirl(['status', id, '--json'], env);
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ status: 'COMPLETED', workflowId: id });
    expect(readFileSync(path.join(state, 'temporal.log'), 'utf8')).not.toMatch(/panic/);
  });
});
