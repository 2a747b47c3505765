// Files the Plan pinned at compile time (prompts, data, id lists, corpora,
// model files), read back on the worker: re-resolved through links, confined
// to their root (the project, or the models folder for embedded models) and
// checked against the sha256 the Plan recorded. A file that changed, moved
// out or vanished since compile time fails the stage for good
// (`E_FILE_CHANGED`): retrying cannot bring back the content the stage's
// hash — and so the stage cache — stands for.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { sha256 } from '../compiler/canonical.js';
import { fileSha256 } from '../compiler/files.js';

export const FILE_CHANGED = 'E_FILE_CHANGED';

const HINT = 'the Plan pins every file it reads by content: restore the file, or start a new run (it compiles the spec against the file as it is now, and the stages that read it rerun)';

function changed(what: string, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`${what}: ${message}`, FILE_CHANGED, HINT);
}

/** The real path of `rel` (relative to `root`), which must still be a file inside `root` after links are followed. */
export function resolvePinned(root: string, rel: string, what: string): string {
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(path.resolve(root, rel));
  } catch {
    throw changed(what, `${rel} no longer exists (it did when the pipeline was compiled)`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + path.sep)) throw changed(what, `${rel} now resolves to ${real}, outside ${realRoot}`);
  let isFile = false;
  try {
    isFile = statSync(real).isFile();
  } catch {
    // reported below
  }
  if (!isFile) throw changed(what, `${rel} is no longer a readable file`);
  return real;
}

function mismatch(what: string, rel: string, actual: string, pinned: string): ApplicationFailure {
  return changed(what, `${rel} changed since the pipeline was compiled (sha256 ${actual.slice(0, 12)}…, the plan pinned ${pinned.slice(0, 12)}…)`);
}

/** Throws E_FILE_CHANGED when a pinned file's hash (computed by the caller) is not the Plan's. */
export function checkPinnedSha(what: string, rel: string, actual: string, pinned: string): void {
  if (actual !== pinned) throw mismatch(what, rel, actual, pinned);
}

/**
 * The bytes of a pinned file. Without `sha256` (a Plan compiled before files
 * were pinned) the file is still confined, only not compared.
 */
export function readPinned(root: string, rel: string, sha: string | undefined, what: string): Buffer {
  const real = resolvePinned(root, rel, what);
  let bytes: Buffer;
  try {
    bytes = readFileSync(real);
  } catch (e) {
    throw changed(what, `${rel} cannot be read: ${(e as Error).message}`);
  }
  if (sha !== undefined) {
    const actual = sha256(bytes);
    if (actual !== sha) throw mismatch(what, rel, actual, sha);
  }
  return bytes;
}

/** Checks a large pinned file (a model) without loading it; its hash is remembered while the file is untouched. Returns its real path. */
export function checkPinnedFile(root: string, rel: string, sha: string | undefined, what: string): string {
  const real = resolvePinned(root, rel, what);
  if (sha !== undefined) {
    const actual = fileSha256(real);
    if (actual !== sha) throw mismatch(what, rel, actual, sha);
  }
  return real;
}
