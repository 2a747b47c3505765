// One real Temporal dev server for the integration project, from the .venv
// binary that `npm run setup` installs, on free ports, stopped afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startDevServer, type DevServer } from '../../runtime/devserver.js';
import { swirlPaths } from '../../runtime/paths.js';

let server: DevServer | undefined;
let dir: string | undefined;

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
  }
}

export async function setup(project: TestProject): Promise<void> {
  dir = mkdtempSync(path.join(tmpdir(), 'swirl-it-server-'));
  // A missing binary throws E_TEMPORAL_BINARY_MISSING with the install command: the run fails, it never skips.
  server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false, dbFile: path.join(dir, 'temporal.db'), logFile: path.join(dir, 'temporal.log') });
  project.provide('temporalAddress', server.address);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
