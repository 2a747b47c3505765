// `swirl mcp serve`: a spec's built-in tools (search over its corpus,
// calculator) as a Model Context Protocol server, over stdio or Streamable
// HTTP. Any MCP client can then use swirl's BM25 corpus search and safe
// calculator, and a spec can reach them as `kind: mcp` tools (the tests do).
// A tool's `Error: …` observation becomes an MCP error result with the same text.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { toolObservation } from '../agents/episode.js';
import type { BuiltTool } from './registry.js';

export interface ServedTool {
  name: string;
  built: BuiltTool;
}

const INPUT_TEXT: Record<string, string> = {
  search: 'the search query',
  calculator: 'an arithmetic expression, e.g. 48 / 2 + 3^2',
};

export function buildMcpServer(tools: readonly ServedTool[], version: string): McpServer {
  const server = new McpServer({ name: 'swirl', version });
  for (const { name, built } of tools) {
    server.registerTool(
      name,
      { description: built.tool.description, inputSchema: { input: z.string().describe(INPUT_TEXT[built.kind] ?? 'the input') } },
      async ({ input }) => {
        const text = await toolObservation(built.tool, input);
        return text.startsWith('Error: ') ? { content: [{ type: 'text', text: text.slice('Error: '.length) }], isError: true } : { content: [{ type: 'text', text }] };
      },
    );
  }
  return server;
}

/** Serves over stdin/stdout until stdin closes. Nothing else may write to stdout. */
export async function serveStdio(tools: readonly ServedTool[], version: string): Promise<void> {
  const server = buildMcpServer(tools, version);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await closed;
  await server.close();
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

/** Stateless Streamable HTTP at `/mcp` (a fresh server and transport per request). Resolves once listening. */
export async function serveHttp(tools: readonly ServedTool[], version: string, port: number, host = '127.0.0.1'): Promise<Server> {
  const http = createServer((req, res) => {
    if (!req.url?.startsWith('/mcp')) {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'POST') {
      // Stateless: no server-initiated stream, no sessions to delete.
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    void (async () => {
      const server = buildMcpServer(tools, version);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      try {
        const body = await readBody(req);
        await server.connect(transport);
        await transport.handleRequest(req, res, body);
      } catch (e) {
        if (!res.headersSent) res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32700, message: (e as Error).message }, id: null }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => resolve());
  });
  return http;
}
