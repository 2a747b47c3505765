// The trust model (docs/spec.md "What a spec may do"): `validate` and `plan`
// read files and never execute anything or open a network connection; an MCP
// tool's server command runs only when a run or `swirl tool` uses the tool.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';

const bin = path.join(packageRoot, 'bin', 'swirl.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'swirl-trust-'));
const marker = path.join(dir, 'executed.marker');
const spec = path.join(dir, 'spec.yaml');
let listener: Server;
let connections = 0;

// The spec folder is its own project (no package.json above /tmp), so the
// dataset path stays inside it. The server command would leave a marker.
beforeAll(async () => {
  listener = createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as { port: number }).port;
  writeFileSync(path.join(dir, 'questions.jsonl'), '{"question": "1+1?", "answer": "2"}\n');
  writeFileSync(path.join(dir, 'mark.cjs'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran');\n`);
  writeFileSync(
    spec,
    `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: trust}
models:
  policy: {provider: openai-compatible, baseUrl: "http://127.0.0.1:${port}/v1", model: m}
tools:
  calc:
    kind: mcp
    server: ${process.execPath} mark.cjs
    tool: calculate
    action: calculator
  remote:
    kind: mcp
    server: http://127.0.0.1:${port}/mcp
    tool: search
    action: search
stages:
  - {id: q, type: dataset, path: questions.jsonl, format: jsonl, fields: {question: question, answer: answer}}
  - {id: r, type: rollout, input: q, model: policy, tools: [calc, remote]}
`,
  );
});
afterAll(() => {
  listener.close();
  rmSync(dir, { recursive: true, force: true });
});

function swirl(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, TEMPORAL_ADDRESS: '' }, cwd: dir, timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('validate and plan execute nothing', () => {
  it.each([['validate'], ['validate', '--json'], ['plan'], ['plan', '--json']].map((a) => [a.join(' '), a] as const))('swirl %s SPEC', (_name, args) => {
    const r = swirl([...args, spec]);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(connections).toBe(0);
  });
  it('while `swirl tool` does start the server command (the marker works)', () => {
    swirl(['tool', 'calc', '1+1', '--spec', spec]);
    expect(existsSync(marker)).toBe(true);
  });
});
