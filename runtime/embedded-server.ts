// The embedded Temporal server that swirl manages under the state dir:
// one detached `temporal server start-dev` whose pid and ports live in
// .swirl/server.json, with its SQLite state in .swirl/temporal.db so runs
// survive a server restart.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { swirlPaths, type SwirlPaths } from './paths.js';
import { freePort, pidAlive, portOpen, startDevServer, stopProcess, temporalAnswers, type DevServer, type DevServerOptions } from './devserver.js';

import { DEFAULT_PORT, DEFAULT_UI_PORT } from './embedded-ports.js';

export { DEFAULT_PORT, DEFAULT_UI_PORT };

export interface ServerState {
  pid: number;
  address: string;
  port: number;
  uiPort: number | false;
  uiUrl?: string;
  dbFile: string;
  logFile: string;
  startedAt: string;
}

export function readServerState(paths: SwirlPaths = swirlPaths()): ServerState | undefined {
  if (!existsSync(paths.serverJson)) return undefined;
  try {
    return JSON.parse(readFileSync(paths.serverJson, 'utf8')) as ServerState;
  } catch {
    return undefined;
  }
}

function writeServerState(paths: SwirlPaths, state: ServerState): void {
  mkdirSync(paths.state, { recursive: true });
  const tmp = `${paths.serverJson}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n');
  renameSync(tmp, paths.serverJson);
}

export type EmbeddedStatus =
  | { running: true; state: ServerState }
  | { running: false; reason: string; state?: ServerState };

export async function embeddedStatus(paths: SwirlPaths = swirlPaths()): Promise<EmbeddedStatus> {
  const state = readServerState(paths);
  if (!state) {
    // `server stop` removes server.json but keeps the server's SQLite state: that is a stopped server, not a new one.
    return { running: false, reason: existsSync(paths.temporalDb) ? `stopped (its runs are kept in ${paths.temporalDb}; \`swirl server start\` brings it back)` : 'never started (no server.json)' };
  }
  if (!pidAlive(state.pid)) return { running: false, reason: `process ${state.pid} is not running`, state };
  if (!(await temporalAnswers(state.address))) return { running: false, reason: `process ${state.pid} does not answer on ${state.address}`, state };
  return { running: true, state };
}

export interface StartOptions {
  port?: number;
  uiPort?: number | false;
}

/** What starting the embedded server touches on the machine; tests inject their own (taken ports, a fake server). */
export interface EmbeddedDeps {
  /** Whether something already listens on 127.0.0.1:port. */
  portTaken(port: number): Promise<boolean>;
  /** A port that is free now. */
  freePort(): Promise<number>;
  startDevServer(opts: DevServerOptions): Promise<DevServer>;
}

const realDeps: EmbeddedDeps = { portTaken: (p) => portOpen(p), freePort: () => freePort(), startDevServer };

/**
 * The ports to start on. A port the user named is kept (the start then fails
 * with E_PORT_IN_USE if it is taken); a default one that is taken is replaced
 * by a free one, with a note saying so (`swirl run` and `server start` print it).
 */
export async function choosePorts(opts: StartOptions, deps: Pick<EmbeddedDeps, 'portTaken' | 'freePort'>): Promise<{ port: number; uiPort: number | false; notes: string[] }> {
  const notes: string[] = [];
  const pick = async (given: number | undefined, fallback: number, what: string): Promise<number> => {
    if (given !== undefined || !(await deps.portTaken(fallback))) return given ?? fallback;
    const free = await deps.freePort();
    notes.push(`port ${fallback} (the default ${what} port) is taken: the embedded server uses ${free} instead`);
    return free;
  };
  const port = await pick(opts.port, DEFAULT_PORT, 'gRPC');
  const uiPort = opts.uiPort === false ? false : await pick(opts.uiPort, DEFAULT_UI_PORT, 'Web UI');
  return { port, uiPort, notes };
}

/** Starts the embedded server unless one is already answering; returns its state and whether it was started now. */
export async function ensureEmbeddedServer(opts: StartOptions = {}, paths: SwirlPaths = swirlPaths(), deps: EmbeddedDeps = realDeps): Promise<{ state: ServerState; started: boolean; notes: string[] }> {
  const status = await embeddedStatus(paths);
  if (status.running) return { state: status.state, started: false, notes: [] };
  if (status.state && pidAlive(status.state.pid)) await stopProcess(status.state.pid);
  const { port, uiPort, notes } = await choosePorts(opts, deps);
  const server = await deps.startDevServer({
    binary: paths.temporalBin,
    port,
    uiPort,
    dbFile: paths.temporalDb,
    logFile: paths.serverLog,
    detached: true,
  });
  const state: ServerState = {
    pid: server.pid,
    address: server.address,
    port: server.port,
    uiPort: server.uiPort,
    ...(server.uiUrl ? { uiUrl: server.uiUrl } : {}),
    dbFile: paths.temporalDb,
    logFile: paths.serverLog,
    startedAt: new Date().toISOString(),
  };
  writeServerState(paths, state);
  return { state, started: true, notes };
}

export async function stopEmbeddedServer(paths: SwirlPaths = swirlPaths()): Promise<{ stopped: boolean; pid?: number }> {
  const state = readServerState(paths);
  if (!state) return { stopped: false };
  const alive = pidAlive(state.pid);
  if (alive) await stopProcess(state.pid);
  rmSync(paths.serverJson, { force: true });
  return { stopped: alive, pid: state.pid };
}
