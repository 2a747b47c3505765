// MCP tools (`kind: mcp`) against real MCP servers: swirl's own (`swirl mcp serve`,
// over stdio and Streamable HTTP) and a small probe server (tests/fixtures/mcp).
import type { Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolObservation } from '../../agents/episode.js';
import { compileFile } from '../../compiler/index.js';
import { ToolUnavailableError } from '../../tools/errors.js';
import { packageRoot } from '../../runtime/paths.js';
import { calculate } from '../../tools/calculator.js';
import { closeMcpClients, inputArgument, makeMcpTool, McpConfigError, observationText, resolveEnvRefs, splitCommandLine, type McpToolConfig } from '../../tools/mcp.js';
import { serveHttp, type ServedTool } from '../../tools/mcp-server.js';
import { makeTool, type ToolConfig } from '../../tools/registry.js';

const probe = (over: Partial<McpToolConfig>): McpToolConfig => ({ kind: 'mcp', server: 'node tests/fixtures/mcp/probe-server.mjs', action: 'search', ...over });
const call = (cfg: McpToolConfig, input: string, name = 'x') => makeMcpTool(name, cfg, packageRoot).tool.invoke({ input }).then(String, (e: Error) => `Error: ${e.message}`);

afterAll(() => closeMcpClients());

describe('MCP tool configuration', () => {
  it('splits command lines like a shell, without expansion', () => {
    expect(splitCommandLine('node  ../bin/swirl.js mcp serve')).toEqual(['node', '../bin/swirl.js', 'mcp', 'serve']);
    expect(splitCommandLine(`python -c "print('a b')" 'x y' z\\ w ""`)).toEqual(['python', '-c', "print('a b')", 'x y', 'z w', '']);
    expect(splitCommandLine('echo $HOME ~')).toEqual(['echo', '$HOME', '~']);
    expect(() => splitCommandLine('node "unclosed')).toThrow(McpConfigError);
  });

  it('reads ${env:NAME} values on the worker and names what is missing', () => {
    expect(resolveEnvRefs({ TOKEN: '${env:SWIRL_T1}' }, 'env', { SWIRL_T1: 's3cret' })).toEqual({ TOKEN: 's3cret' });
    expect(() => resolveEnvRefs({ TOKEN: '${env:SWIRL_T2}' }, 'header', {})).toThrow(/header `TOKEN` reads SWIRL_T2, which is not set/);
    expect(() => resolveEnvRefs({ TOKEN: 'literal' }, 'env', {})).toThrow(McpConfigError);
  });

  it("finds the argument that takes the action's text", () => {
    const schema = { type: 'object', properties: { q: { type: 'string' }, n: { type: 'number' } }, required: ['q', 'n'] };
    expect(inputArgument(schema, undefined, 't')).toBe('q');
    expect(inputArgument({ properties: { key: { type: 'string' }, table: { type: 'string' } }, required: ['key'] }, undefined, 't')).toBe('key');
    expect(inputArgument({ properties: { only: { type: 'string' } } }, undefined, 't')).toBe('only');
    expect(inputArgument(schema, 'n', 't')).toBe('n');
    expect(() => inputArgument({ properties: { a: { type: 'string' }, b: { type: 'string' } }, required: ['a', 'b'] }, undefined, 't')).toThrow(/`t` \(a, b\) takes/);
    expect(() => inputArgument(schema, 'nope', 't')).toThrow(/has no argument `nope`/);
  });

  it('turns MCP content into observation text', () => {
    expect(observationText('24.0')).toBe('24.0');
    expect(observationText([{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }])).toBe('a\nb');
    expect(observationText([{ type: 'image', mimeType: 'image/png', data: '…' }])).toBe('[image image/png]');
  });

  it('compiles kind: mcp with the command run in the spec folder and the timeout in ms', () => {
    const r = compileFile(path.join(packageRoot, 'pipelines', 'mcp-tools.yaml'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.plan.tools.calc).toMatchObject({ kind: 'mcp', action: 'calculator', tool: 'calculator', cwd: 'pipelines', timeoutMs: 20_000 });
  });
});

describe("swirl's own MCP server over stdio", () => {
  const spec = (tools: string) => ({ kind: 'mcp' as const, server: `node bin/swirl.js mcp serve --spec pipelines/hotpotqa.yaml --tools ${tools}` });

  it('serves the built-in search: the same observation as the tool itself', async () => {
    const compiled = compileFile(path.join(packageRoot, 'pipelines', 'hotpotqa.yaml'));
    if (!compiled.ok) throw new Error('pipelines/hotpotqa.yaml does not compile');
    const builtin = makeTool('search-train', compiled.plan.tools['search-train'] as ToolConfig, packageRoot);
    const remote = makeMcpTool('search', { ...spec('search-train'), tool: 'search-train', action: 'search' }, packageRoot);
    await remote.ready();
    for (const q of ['capital of Australia', 'Scott Derrickson nationality']) {
      expect(await remote.tool.invoke({ input: q })).toBe(await builtin.tool.invoke({ input: q }));
    }
    expect(remote.kind).toBe('search');
  }, 60_000);

  it('a tool the server does not have is a configuration error naming the ones it has', async () => {
    const t = makeMcpTool('nope', { ...spec('search-train'), action: 'search' }, packageRoot);
    await expect(t.ready()).rejects.toThrow(/has no tool `nope`/);
    await expect(t.ready()).rejects.toMatchObject({ hint: expect.stringContaining('search-train') });
  }, 60_000);
});

describe('MCP servers: environment, arguments, errors, timeouts', () => {
  it('passes only the named environment variables to a stdio server', async () => {
    process.env.SWIRL_MCP_TEST_SECRET = 'from-the-worker';
    process.env.SWIRL_MCP_TEST_OTHER = 'not-passed';
    const cfg = probe({ tool: 'echo_env', env: { PASSED: '${env:SWIRL_MCP_TEST_SECRET}' } });
    // The server got the value; the observation echoing it is redacted to the variable's name (runtime/redact.ts).
    expect(await call(cfg, 'PASSED')).toBe('${env:SWIRL_MCP_TEST_SECRET}');
    expect(await call(cfg, 'SWIRL_MCP_TEST_OTHER')).toBe('(unset)');
  }, 60_000);

  it('fills the only required argument, or the one `input:` names', async () => {
    expect(await call(probe({ tool: 'lookup' }), 'k1')).toBe('default:k1');
    expect(await call(probe({ tool: 'lookup', input: 'table' }), 'k2')).toMatch(/^Error: /); // key is required and missing
    await expect(makeMcpTool('x', probe({ tool: 'two_required' }), packageRoot).ready()).rejects.toMatchObject({ message: expect.stringContaining('(a, b)'), hint: 'set `input:` to one of: a, b' });
  }, 60_000);

  it("a tool's error result and a slow call are error observations", async () => {
    expect(await call(probe({ tool: 'broken' }), 'this')).toBe('Error: cannot handle this');
    expect(await call(probe({ tool: 'slow', timeoutMs: 300 }), '5000')).toBe('Error: the tool did not answer within 0.3s');
    // The connection outlives a timed-out call.
    expect(await call(probe({ tool: 'slow', timeoutMs: 5000 }), '10')).toBe('late');
  }, 60_000);

  it('a server that dies mid-call fails the attempt (not an observation); the next call starts it again', async () => {
    const crash = makeMcpTool('x', probe({ tool: 'crash' }), packageRoot);
    await expect(toolObservation(crash.tool, 'now')).rejects.toBeInstanceOf(ToolUnavailableError);
    await expect(toolObservation(crash.tool, 'now')).rejects.toThrow(/went away during a call of `crash`/);
    // Same server command: a fresh connection, a fresh process.
    expect(await toolObservation(makeMcpTool('x', probe({ tool: 'lookup' }), packageRoot).tool, 'k')).toBe('default:k');
  }, 60_000);

  it('a command that does not start is a configuration error', async () => {
    const t = makeMcpTool('x', probe({ server: 'definitely-not-a-command-swirl --x' }), packageRoot);
    await expect(t.ready()).rejects.toBeInstanceOf(McpConfigError);
    await expect(t.ready()).rejects.toThrow(/did not start/);
  }, 60_000);
});

describe('MCP over Streamable HTTP', () => {
  let http: Server;
  let url = '';
  beforeAll(async () => {
    const tools: ServedTool[] = [{ name: 'calculator', built: makeTool('calculator', { kind: 'calculator' }, packageRoot) }];
    http = await serveHttp(tools, 'test', 0);
    const addr = http.address();
    url = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/mcp`;
  });
  afterAll(() => new Promise<void>((r) => http.close(() => r())));

  it('gives the built-in calculator observations, errors included', async () => {
    const cfg: McpToolConfig = { kind: 'mcp', server: url, tool: 'calculator', action: 'calculator', headers: {} };
    for (const expr of ['48 / 2', '2^10 - 1', '0.2 * 50', '1/0', 'process.exit()']) expect(await call(cfg, expr)).toBe(calculate(expr));
  }, 60_000);

  it('an unreachable URL fails ready() with a retryable error', async () => {
    const t = makeMcpTool('x', { kind: 'mcp', server: 'http://127.0.0.1:9/mcp', action: 'search' }, packageRoot);
    const e = await t.ready().then(() => undefined, (x: Error) => x);
    expect(e).toBeInstanceOf(Error);
    expect(e).not.toBeInstanceOf(McpConfigError);
    expect(String(e?.message)).toMatch(/could not be reached/);
  }, 60_000);
});
