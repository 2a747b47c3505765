// `swirl run` autostarts the embedded server through resolveTemporal →
// ensureEmbeddedServer. When the default gRPC (7233) and Web UI (8233) ports are
// taken it must start on free ones and say which; a port the user named is kept.
// Ports and the server process are injected: nothing here binds or probes a real
// port, so it runs beside a live server on 7233.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveTemporal } from '../../runtime/connection.js';
import type { DevServerOptions } from '../../runtime/devserver.js';
import { choosePorts, DEFAULT_PORT, DEFAULT_UI_PORT, type EmbeddedDeps } from '../../runtime/embedded-server.js';
import { swirlPaths } from '../../runtime/paths.js';

function fakeDeps(taken: number[], free: number[]) {
  const started: DevServerOptions[] = [];
  const queue = [...free];
  const deps: EmbeddedDeps = {
    portTaken: async (p) => taken.includes(p),
    freePort: async () => queue.shift()!,
    startDevServer: async (o) => {
      started.push(o);
      const port = o.port!;
      const uiPort = o.uiPort === undefined ? 0 : o.uiPort;
      return { pid: process.pid, address: `127.0.0.1:${port}`, port, uiPort, uiUrl: uiPort === false ? undefined : `http://127.0.0.1:${uiPort}`, dbFile: o.dbFile, logFile: o.logFile, stop: async () => undefined };
    },
  };
  return { deps, started };
}

describe('embedded server ports', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const stateDir = () => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'swirl-ports-'));
    dirs.push(d);
    return d;
  };

  it('swirl run autostart: both defaults taken → free ports for both, and a note for each', async () => {
    const dir = stateDir();
    const env = { SWIRL_STATE_DIR: dir };
    const { deps, started } = fakeDeps([DEFAULT_PORT, DEFAULT_UI_PORT], [41001, 41002]);
    const target = await resolveTemporal({ autostart: true, env, paths: swirlPaths(env), embedded: deps });
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ port: 41001, uiPort: 41002, dbFile: path.join(dir, 'temporal.db') });
    expect(target).toMatchObject({ address: '127.0.0.1:41001', uiUrl: 'http://127.0.0.1:41002', external: false, startedServer: true });
    expect(target.serverNotes).toEqual([
      `port ${DEFAULT_PORT} (the default gRPC port) is taken: the embedded server uses 41001 instead`,
      `port ${DEFAULT_UI_PORT} (the default Web UI port) is taken: the embedded server uses 41002 instead`,
    ]);
    // The chosen ports are what later commands (status, worker) connect to.
    expect(JSON.parse(readFileSync(path.join(dir, 'server.json'), 'utf8'))).toMatchObject({ port: 41001, uiPort: 41002, address: '127.0.0.1:41001' });
  });

  it('only the UI port taken → the default gRPC port, a free UI port, one note', async () => {
    const env = { SWIRL_STATE_DIR: stateDir() };
    const { deps, started } = fakeDeps([DEFAULT_UI_PORT], [41003]);
    const target = await resolveTemporal({ autostart: true, env, paths: swirlPaths(env), embedded: deps });
    expect(started[0]).toMatchObject({ port: DEFAULT_PORT, uiPort: 41003 });
    expect(target.serverNotes).toEqual([`port ${DEFAULT_UI_PORT} (the default Web UI port) is taken: the embedded server uses 41003 instead`]);
  });

  it('defaults free → the defaults, no notes', async () => {
    const env = { SWIRL_STATE_DIR: stateDir() };
    const { deps, started } = fakeDeps([], []);
    const target = await resolveTemporal({ autostart: true, env, paths: swirlPaths(env), embedded: deps });
    expect(started[0]).toMatchObject({ port: DEFAULT_PORT, uiPort: DEFAULT_UI_PORT });
    expect(target.serverNotes).toBeUndefined();
  });

  it('a named port is kept even when taken (the start reports E_PORT_IN_USE); headless asks for no UI port', async () => {
    const { deps } = fakeDeps([7301, DEFAULT_UI_PORT], [41004]);
    expect(await choosePorts({ port: 7301 }, deps)).toEqual({ port: 7301, uiPort: 41004, notes: [`port ${DEFAULT_UI_PORT} (the default Web UI port) is taken: the embedded server uses 41004 instead`] });
    const probed: number[] = [];
    const headless = await choosePorts({ uiPort: false }, { portTaken: async (p) => (probed.push(p), false), freePort: async () => 0 });
    expect(headless).toEqual({ port: DEFAULT_PORT, uiPort: false, notes: [] });
    expect(probed).toEqual([DEFAULT_PORT]);
  });
});
