// Builds LangChain tools from the Plan's tool configs. Each tool takes
// `{ input: string }` (the tag's content) and returns observation text.
import { tool, type StructuredToolInterface } from '@langchain/core/tools';
import { z } from 'zod';
import type { ToolKind } from '../agents/protocol.js';
import { calculate } from './calculator.js';
import { makeMcpTool, type McpToolConfig } from './mcp.js';
import { corpusIndex, formatResults } from './search.js';
import { checkPinnedSha, resolvePinned } from '../store/pinned-files.js';

export interface ToolConfig {
  kind: string;
  corpus?: string;
  split?: string;
  topK?: number;
  [option: string]: unknown;
}

export interface BuiltTool {
  kind: ToolKind;
  tool: StructuredToolInterface;
  /** Tools that reach something outside the process (MCP servers) connect here; a rejection is a configuration error. */
  ready?: () => Promise<void>;
}

const input = z.object({ input: z.string().describe('the expression or query, as written between the action tags') });

export function makeTool(name: string, cfg: ToolConfig, projectRoot: string): BuiltTool {
  if (cfg.kind === 'calculator') {
    return {
      kind: 'calculator',
      tool: tool(async ({ input: expr }) => calculate(expr), { name, description: 'Evaluates an arithmetic expression and returns the number.', schema: input }),
    };
  }
  if (cfg.kind === 'search') {
    if (!cfg.corpus) throw new Error(`search tool ${name} has no corpus`);
    // The corpus the Plan pinned: inside the project after links, same content (else E_FILE_CHANGED).
    const what = `tool ${name}`;
    const file = resolvePinned(projectRoot, cfg.corpus, what);
    const pinned = typeof cfg.corpusSha256 === 'string' ? cfg.corpusSha256 : undefined;
    const index = corpusIndex(file, cfg.split, undefined, pinned ? (sha) => checkPinnedSha(what, cfg.corpus!, sha, pinned) : undefined);
    const k = cfg.topK ?? 1;
    return {
      kind: 'search',
      tool: tool(async ({ input: q }) => formatResults(index.search(q, k)), { name, description: 'Searches the corpus and returns the best matching article(s).', schema: input }),
    };
  }
  if (cfg.kind === 'mcp') return makeMcpTool(name, cfg as unknown as McpToolConfig, projectRoot);
  throw new Error(`tool kind ${cfg.kind} is not available in this version of swirl`);
}
