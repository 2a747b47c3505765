// The CLI's contract for bad input: exit 2, a one-line error and a hint on
// stderr, never a stack trace. These run the real `swirl` binary.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';

const bin = path.join(packageRoot, 'bin', 'swirl.js');

function swirl(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '', ...env }, cwd: packageRoot });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectUsageError(r: ReturnType<typeof swirl>, pattern: RegExp) {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(pattern);
  expect(lines[0]).toMatch(/^swirl: error/);
  expect(r.stderr).toMatch(/hint: /);
  expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/); // no stack frames
}

describe('swirl CLI bad input', () => {
  it('unknown command → exit 2 with a suggestion', () => {
    expectUsageError(swirl(['rnu']), /unknown command 'rnu'.*Did you mean run/);
  });

  it('bad flag → exit 2', () => {
    expectUsageError(swirl(['run', '--frobnicate', 'pipelines/quickstart.yaml']), /unknown option '--frobnicate'/);
  });

  it('missing argument → exit 2', () => {
    expectUsageError(swirl(['validate']), /missing required argument/);
  });

  it('bad queue name → exit 2', () => {
    expectUsageError(swirl(['worker', '--queue', 'gpu']), /unknown queue `gpu`/);
  });

  it('missing spec file → exit 2 with the file and a hint', () => {
    for (const cmd of ['validate', 'run', 'plan']) {
      const r = swirl([cmd, 'pipelines/nope.yaml']);
      expect(r.code, cmd).toBe(2);
      expect(r.stderr).toMatch(/pipelines\/nope\.yaml.*E_FILE_NOT_FOUND.*\(check the path/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('invalid spec → exit 2, every error with file:line:col and a caret excerpt', () => {
    const r = swirl(['validate', 'tests/fixtures/specs/invalid/multiple-errors.yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/multiple-errors\.yaml:14:5 {2}E_UNKNOWN_FIELD {2}unknown field `limt` in stage `q` {2}\(did you mean `limit`\?\)/);
    expect(r.stderr).toMatch(/\n\s+14 \|\s+limt: 3\n\s+\^/);
    expect(r.stderr).toMatch(/4 errors/);
  });

  it('validate --json prints machine-readable errors', () => {
    const r = swirl(['validate', '--json', 'tests/fixtures/specs/invalid/unknown-stage-type.yaml']);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as { ok: boolean; errors: Array<{ code: string; line: number; column: number; hint?: string }> };
    expect(doc.ok).toBe(false);
    expect(doc.errors[0]).toMatchObject({ code: 'E_UNKNOWN_STAGE_TYPE', line: 8, column: 11, hint: 'did you mean `dataset`?' });
  });

  it('valid spec → exit 0; help and version → exit 0', () => {
    expect(swirl(['validate', 'pipelines/quickstart.yaml']).code).toBe(0);
    for (const args of [['--help'], ['run', '--help'], ['server', 'start', '--help'], ['--version']]) expect(swirl(args).code, args.join(' ')).toBe(0);
  });

  it('status without a server → exit 3 with how to start one', () => {
    const r = swirl(['status', 'some-id'], { SWIRL_STATE_DIR: path.join(packageRoot, 'tests', 'fixtures', 'no-such-state') });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_NO_SERVER/);
    expect(r.stderr).toMatch(/swirl server start/);
  });

  it('a missing Temporal binary fails loudly with the install command', () => {
    const r = swirl(['server', 'start', '--port', '17999'], { SWIRL_TEMPORAL_BIN: '/nonexistent/temporal', SWIRL_STATE_DIR: path.join(packageRoot, 'tests', 'fixtures', 'no-such-state') });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/E_TEMPORAL_BINARY_MISSING/);
    expect(r.stderr).toMatch(/npm run setup/);
  });
});
