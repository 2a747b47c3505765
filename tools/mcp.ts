// MCP tools (`kind: mcp`): a tool served by a Model Context Protocol server,
// reached through @langchain/mcp-adapters, standing in for one of the
// protocol's actions (`action: search` or `action: calculator`). The agent
// sees the same `{ input }` tool as for the built-in kinds; the action's text
// goes into one argument of the MCP tool (`input:`, or the tool's only
// required string argument).
//
// One connection per server and worker process, opened on first use and kept:
// stdio servers are started once (the adapter restarts one that exits), HTTP
// servers are reached over Streamable HTTP (falling back to SSE). A server
// that cannot be reached fails `ready()` — the rollout activity turns that
// into a stage failure instead of letting every episode see error text; a
// tool call that fails or times out is an `Error: …` observation, as with
// every other tool.
import path from 'node:path';
import type { MultiServerMCPClient } from '@langchain/mcp-adapters';
import { tool, type StructuredToolInterface } from '@langchain/core/tools';
import { z } from 'zod';
import type { ToolKind } from '../agents/protocol.js';
import { isServerUrl } from '../compiler/tool-server.js';
import { onProcessEnd } from './closers.js';
import { ToolUnavailableError } from './errors.js';
import { redact, redactRegistered, registerSecret } from '../runtime/redact.js';

export interface McpToolConfig {
  kind: 'mcp';
  /** A command line (stdio) or an http(s) URL (Streamable HTTP, SSE fallback). */
  server: string;
  /** The tool's name on the server (default: the spec's name for it). */
  tool?: string;
  /** Which protocol action it serves. */
  action: ToolKind;
  /** The MCP tool argument that receives the action's text. */
  input?: string;
  description?: string;
  /** stdio: environment for the server, values `${env:NAME}` read on the worker. */
  env?: Record<string, string>;
  /** http: request headers, values `${env:NAME}` read on the worker. */
  headers?: Record<string, string>;
  /** Per call, in ms (default 30 s). */
  timeoutMs?: number;
  /** stdio: the folder the command runs in, relative to the project (the spec's folder). */
  cwd?: string;
}

/** Bad configuration (a missing variable, an unknown tool, a command that does not start): not worth retrying. */
export class McpConfigError extends Error {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'McpConfigError';
    this.hint = hint;
  }
}

export const DEFAULT_MCP_TIMEOUT_MS = 30_000;

/** Splits a command line into words: whitespace separates, '…' and "…" quote, \ escapes (no expansion of any kind). */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < line.length) cur += line[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new McpConfigError(`unclosed ${quote} in the server command \`${line}\``, 'close the quote');
  if (inWord) words.push(cur);
  return words;
}

const ENV_REF = /^\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}$/;

/** `${env:NAME}` values → the worker's values; a variable that is not set is a configuration error. */
export function resolveEnvRefs(map: Record<string, string> | undefined, what: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map ?? {})) {
    const m = ENV_REF.exec(v);
    if (!m) throw new McpConfigError(`${what} \`${k}\` must be \`\${env:NAME}\``, 'secrets and settings come from the worker environment');
    const value = env[m[1]!];
    if (value === undefined) throw new McpConfigError(`${what} \`${k}\` reads ${m[1]}, which is not set on this worker`, `export ${m[1]} before starting the worker`);
    // Env values of MCP servers and headers are secrets: written `${env:NAME}` in anything swirl prints or records.
    registerSecret(value, m[1]!);
    out[k] = value;
  }
  return out;
}

interface Connection {
  client: MultiServerMCPClient;
  tools: Map<string, StructuredToolInterface>;
}

const connections = new Map<string, Promise<Connection>>();

function connectionKey(cfg: McpToolConfig, projectRoot: string): string {
  return JSON.stringify([cfg.server, cfg.env ?? {}, cfg.headers ?? {}, cfg.cwd ?? '', projectRoot]);
}

async function connect(cfg: McpToolConfig, projectRoot: string): Promise<Connection> {
  const isUrl = isServerUrl(cfg.server);
  let server: Record<string, unknown>;
  if (isUrl) {
    server = { transport: 'http', url: cfg.server, headers: resolveEnvRefs(cfg.headers, 'header'), automaticSSEFallback: true };
  } else {
    const [command, ...args] = splitCommandLine(cfg.server);
    if (!command) throw new McpConfigError('the MCP server command is empty', 'set `server:` to a command line or an http(s) URL');
    server = {
      transport: 'stdio',
      command,
      args,
      env: resolveEnvRefs(cfg.env, 'env'),
      cwd: path.resolve(projectRoot, cfg.cwd ?? '.'),
      stderr: 'inherit',
      // No adapter restarts: its tools stay bound to the dead client. swirl drops the connection instead
      // (ToolUnavailableError) and the retried attempt starts the server again.
    };
  }
  // Loaded on first use: the adapter and the MCP SDK take ~1 s to import, which specs without MCP tools should not pay.
  const { MultiServerMCPClient } = await import('@langchain/mcp-adapters');
  const client = new MultiServerMCPClient({
    mcpServers: { swirl: server as never },
    throwOnLoadError: true,
    prefixToolNameWithServerName: false,
    useStandardContentBlocks: false,
  });
  let tools: StructuredToolInterface[];
  try {
    tools = await client.getTools();
  } catch (e) {
    await client.close().catch(() => undefined);
    const msg = redact((e as Error).message);
    // A command that does not exist or a server that exits at once will not start on a retry either.
    if (!isUrl) throw new McpConfigError(`the MCP server \`${cfg.server}\` did not start: ${msg}`, 'run the command by hand in the spec folder; it must speak MCP on stdin/stdout');
    throw new Error(`the MCP server at ${cfg.server} could not be reached: ${msg}`);
  }
  return { client, tools: new Map(tools.map((t) => [t.name, t])) };
}

function connection(cfg: McpToolConfig, projectRoot: string): Promise<Connection> {
  const key = connectionKey(cfg, projectRoot);
  let c = connections.get(key);
  if (!c) {
    onProcessEnd(closeMcpClients);
    c = connect(cfg, projectRoot);
    connections.set(key, c);
    // A failed connection is not kept: the next activity attempt tries again.
    c.catch(() => connections.delete(key));
  }
  return c;
}

async function dropConnection(cfg: McpToolConfig, projectRoot: string): Promise<void> {
  const key = connectionKey(cfg, projectRoot);
  const c = connections.get(key);
  connections.delete(key);
  await c?.then((x) => x.client.close(), () => undefined).catch(() => undefined);
}

/** Errors of the connection, not of the tool: the server exited, the socket closed, the URL stopped answering. */
const CONNECTION_LOST = /Connection closed|Not connected|ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|fetch failed|other side closed/i;

/** Closes every MCP connection this process opened (stdio servers exit). */
export async function closeMcpClients(): Promise<void> {
  const all = [...connections.values()];
  connections.clear();
  await Promise.all(all.map((c) => c.then((x) => x.client.close(), () => undefined).catch(() => undefined)));
}

/** The argument that takes the action's text: `input:` if set, else the tool's only required string argument. */
export function inputArgument(schema: unknown, configured: string | undefined, toolName: string): string {
  const s = (schema ?? {}) as { properties?: Record<string, { type?: unknown }>; required?: string[] };
  const props = s.properties ?? {};
  const names = Object.keys(props);
  if (configured) {
    if (!names.includes(configured)) throw new McpConfigError(`MCP tool \`${toolName}\` has no argument \`${configured}\``, names.length ? `its arguments: ${names.join(', ')}` : 'it takes no arguments');
    return configured;
  }
  const strings = names.filter((n) => props[n]?.type === 'string' || props[n]?.type === undefined);
  const required = (s.required ?? []).filter((n) => strings.includes(n));
  if (required.length === 1) return required[0]!;
  if (required.length === 0 && strings.length === 1) return strings[0]!;
  throw new McpConfigError(`cannot tell which argument of MCP tool \`${toolName}\` (${names.join(', ') || 'none'}) takes the action's text`, `set \`input:\` to one of: ${names.join(', ') || '(none)'}`);
}

/** MCP content (a string, or content blocks) as observation text. */
export function observationText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((b) => {
        const block = b as { type?: string; text?: string; mimeType?: string; mime_type?: string };
        if (typeof b === 'string') return b;
        if (block.type === 'text' && typeof block.text === 'string') return block.text;
        return `[${block.type ?? 'content'}${block.mimeType ?? block.mime_type ? ` ${block.mimeType ?? block.mime_type}` : ''}]`;
      })
      .join('\n');
  }
  return JSON.stringify(content);
}

const ACTION_DESCRIPTIONS: Record<ToolKind, string> = {
  search: 'Searches for documents matching the query and returns the best match(es).',
  calculator: 'Evaluates an arithmetic expression and returns the number.',
};

export interface BuiltMcpTool {
  kind: ToolKind;
  tool: StructuredToolInterface;
  /** Connects (once per process) and checks that the server has the tool; rejects with McpConfigError on bad configuration. */
  ready(): Promise<void>;
}

export function makeMcpTool(name: string, cfg: McpToolConfig, projectRoot: string): BuiltMcpTool {
  const remoteName = cfg.tool ?? name;
  const timeoutMs = cfg.timeoutMs ?? DEFAULT_MCP_TIMEOUT_MS;
  const resolve = async (): Promise<{ remote: StructuredToolInterface; arg: string }> => {
    const c = await connection(cfg, projectRoot);
    const remote = c.tools.get(remoteName);
    if (!remote) {
      const have = [...c.tools.keys()];
      throw new McpConfigError(`the MCP server \`${cfg.server}\` has no tool \`${remoteName}\``, have.length ? `its tools: ${have.join(', ')} (set \`tool:\`)` : 'it lists no tools');
    }
    return { remote, arg: inputArgument(remote.schema, cfg.input, remoteName) };
  };
  const t = tool(
    async ({ input }) => {
      const { remote, arg } = await resolve();
      const signal = AbortSignal.timeout(timeoutMs);
      try {
        const out = await remote.invoke({ [arg]: input }, { signal });
        // An observation is data (it lands in trajectories): only the values of the server's own `${env:…}` are taken out.
        return redactRegistered(observationText(out));
      } catch (e) {
        if (signal.aborted) throw new Error(`the tool did not answer within ${timeoutMs / 1000}s`);
        // The adapter wraps a tool's own error result: keep just the server's text (redacted: it becomes an observation).
        const msg = redact((e as Error).message ?? String(e));
        const at = msg.indexOf('returned an error: ');
        if (at >= 0) throw new Error(msg.slice(at + 'returned an error: '.length));
        if (CONNECTION_LOST.test(msg)) {
          await dropConnection(cfg, projectRoot);
          throw new ToolUnavailableError(`the MCP server \`${cfg.server}\` went away during a call of \`${remoteName}\`: ${msg}`);
        }
        throw new Error(msg);
      }
    },
    { name, description: cfg.description ?? ACTION_DESCRIPTIONS[cfg.action], schema: z.object({ input: z.string().describe('the query or expression, as written between the action tags') }) },
  );
  return { kind: cfg.action, tool: t, ready: async () => void (await resolve()) };
}
