// `swirl tool`: one call of a spec's tool, as the agent would make it. Runs the real binary.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';

const bin = path.join(packageRoot, 'bin', 'swirl.js');

function swirl(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '' }, cwd: packageRoot });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('swirl tool', () => {
  it('prints the calculator observation (default spec: the quickstart)', () => {
    const r = swirl(['tool', 'calculator', '48 / 2 + 3^2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('33.0');
  });

  it('returns tool errors as the agent sees them, and --json', () => {
    const r = swirl(['tool', 'calculator', 'process.exit()', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { ok: boolean; tool: string; kind: string; input: string; observation: string; ms: number };
    expect(j).toMatchObject({ ok: true, tool: 'calculator', kind: 'calculator', input: 'process.exit()' });
    expect(j.observation).toMatch(/^Error: /);
  });

  it("runs a spec's search tool over its corpus split", () => {
    const r = swirl(['tool', 'search-train', 'capital of Australia', '--spec', 'pipelines/hotpotqa.yaml', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { kind: string; observation: string };
    expect(j.kind).toBe('search');
    expect(j.observation).toMatch(/Australia/);
  });

  it('an unknown tool → exit 2 with the tools the spec has', () => {
    const r = swirl(['tool', 'calculater', '1+1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/E_UNKNOWN_TOOL: tool `calculater` is not defined/);
    expect(r.stderr).toMatch(/hint: tools in this spec: calculator/);
  });
});
