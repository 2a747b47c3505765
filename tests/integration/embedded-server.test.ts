// `swirl server start|status|stop` manage the embedded server under the state
// dir; `swirl run` uses it when running; runs persist across server restarts.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, pidAlive } from '../../runtime/devserver.js';
import { DEFAULT_PORT, DEFAULT_UI_PORT } from '../../runtime/embedded-ports.js';
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

  it('takes free ports when the defaults are taken (and says so); a named port that is taken is E_PORT_IN_USE naming --ui-port and --headless', async () => {
    // Occupy the default ports (each may already be taken by another server: then it stays taken, which is the point).
    const holders: net.Server[] = [];
    for (const p of [DEFAULT_PORT, DEFAULT_UI_PORT]) {
      const srv = net.createServer();
      await new Promise<void>((resolve) => srv.once('error', () => resolve()).listen(p, '127.0.0.1', () => resolve()));
      if (srv.listening) holders.push(srv);
    }
    const env2 = { SWIRL_STATE_DIR: tempStateDir(), TEMPORAL_ADDRESS: '' };
    try {
      const started = await swirl(['server', 'start', '--json'], env2);
      expect(started.code, started.stderr).toBe(0);
      const info = JSON.parse(started.stdout) as { port: number; uiPort: number; notes: string[] };
      expect(info.port).not.toBe(DEFAULT_PORT);
      expect(info.uiPort).not.toBe(DEFAULT_UI_PORT);
      expect(info.notes).toEqual([
        `port ${DEFAULT_PORT} (the default gRPC port) is taken: the embedded server uses ${info.port} instead`,
        `port ${DEFAULT_UI_PORT} (the default Web UI port) is taken: the embedded server uses ${info.uiPort} instead`,
      ]);
      await swirl(['server', 'stop'], env2);
      // A UI port the user named that is taken: a coded error with both ways out, not Temporal's raw error.
      const port = await freePort();
      const taken = await swirl(['server', 'start', '--port', String(port), '--ui-port', String(DEFAULT_UI_PORT)], env2);
      expect(taken.code).toBe(3);
      expect(taken.stderr).toContain(`error E_PORT_IN_USE: the Web UI port 127.0.0.1:${DEFAULT_UI_PORT} is already in use`);
      expect(taken.stderr).toContain('--ui-port <port>');
      expect(taken.stderr).toContain('--headless');
    } finally {
      await swirl(['server', 'stop'], env2);
      for (const h of holders) await new Promise((r) => h.close(r));
    }
  });
});
