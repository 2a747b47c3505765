// `swirl mcp serve [--spec FILE] [--tools a,b] [--http PORT]`: a spec's built-in
// tools as an MCP server (tools/mcp-server.ts). On stdio, stdout carries only
// the protocol; messages go to stderr.
import { compileFile } from '../../compiler/index.js';
import { formatErrorReport } from '../../compiler/errors.js';
import { EXIT, SwirlError } from '../../runtime/errors.js';
import { packageVersion } from '../../runtime/paths.js';
import { serveHttp, serveStdio, type ServedTool } from '../../tools/mcp-server.js';
import { makeTool, type ToolConfig } from '../../tools/registry.js';
import { err } from '../output.js';
import { DEFAULT_TOOL_SPEC } from './tool.js';

const SERVABLE = new Set(['search', 'calculator']);

export async function mcpServeAction(opts: { spec?: string; tools?: string; http?: string }, setCode: (c: number) => void): Promise<void> {
  const file = opts.spec ?? DEFAULT_TOOL_SPEC;
  const r = compileFile(file);
  if (!r.ok) {
    for (const line of formatErrorReport(r.errors, r.source)) err(line);
    setCode(EXIT.badInput);
    return;
  }
  const all = Object.entries(r.plan.tools as Record<string, ToolConfig>);
  const servable = all.filter(([, c]) => SERVABLE.has(c.kind)).map(([n]) => n);
  const wanted = opts.tools ? opts.tools.split(',').map((s) => s.trim()).filter(Boolean) : servable;
  if (wanted.length === 0) throw new SwirlError('E_NO_TOOLS', `${file} defines no search or calculator tool to serve`, { hint: 'pass a spec with such tools in `tools:` (--spec)' });
  const tools: ServedTool[] = [];
  for (const name of wanted) {
    const cfg = r.plan.tools[name] as ToolConfig | undefined;
    if (!cfg) throw new SwirlError('E_UNKNOWN_TOOL', `tool \`${name}\` is not defined in ${file}`, { hint: servable.length ? `servable tools in this spec: ${servable.join(', ')}` : 'define it under `tools:`' });
    if (!SERVABLE.has(cfg.kind)) throw new SwirlError('E_TOOL_CONFIG', `tool \`${name}\` is a \`${cfg.kind}\` tool; only search and calculator tools are served`, { hint: servable.length ? `servable tools in this spec: ${servable.join(', ')}` : 'define a search or calculator tool' });
    try {
      tools.push({ name, built: makeTool(name, cfg, r.projectRoot) });
    } catch (e) {
      throw new SwirlError('E_TOOL_CONFIG', `tool \`${name}\`: ${(e as Error).message}`, { hint: 'check the tool under `tools:` in the spec' });
    }
  }
  const version = packageVersion();
  const names = tools.map((t) => t.name).join(', ');
  if (opts.http !== undefined) {
    const port = Number(opts.http);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new SwirlError('E_BAD_FLAG', `--http must be a port number (got ${opts.http})`);
    const http = await serveHttp(tools, version, port);
    const addr = http.address();
    err(`swirl mcp: serving ${names} at http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : port}/mcp (Ctrl-C stops)`);
    await new Promise<void>((resolve) => {
      const stop = () => http.close(() => resolve());
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  } else {
    // A client that starts the server reads its stderr into its own log: only a person at a terminal needs the banner.
    if (process.stdin.isTTY) err(`swirl mcp: serving ${names} on stdio (MCP messages on stdin/stdout)`);
    await serveStdio(tools, version);
  }
  setCode(EXIT.ok);
}
