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

  it('MCP tools: one call through the server; unreachable → exit 3, bad configuration → exit 2, with hints', () => {
    const spec = 'tests/fixtures/specs/valid/mcp-tools.yaml';
    const ok = swirl(['tool', 'probe', 'k1', '--spec', spec, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, tool: 'probe', kind: 'search', observation: 'default:k1' });
    const gone = swirl(['tool', 'gone', 'x', '--spec', spec]);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toMatch(/E_TOOL_UNREACHABLE: tool `gone`: the MCP server at http:\/\/127.0.0.1:9\/mcp could not be reached/);
    const cmd = swirl(['tool', 'no-such-command', 'x', '--spec', spec]);
    expect(cmd.code).toBe(2);
    expect(cmd.stderr).toMatch(/E_TOOL_CONFIG: tool `no-such-command`: the MCP server `swirl-no-such-mcp-server --stdio` did not start/);
    const v = swirl(['tool', 'missing-var', 'x', '--spec', spec]);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/reads SWIRL_FIXTURE_UNSET_VAR, which is not set on this worker/);
    expect(v.stderr).toMatch(/hint: export SWIRL_FIXTURE_UNSET_VAR/);
  }, 120_000);
});
