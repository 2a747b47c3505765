// `swirl tool NAME INPUT [--spec FILE] [--json]`: one call of a spec's tool,
// built exactly as the rollout activity builds it (tools/registry.ts), with
// the observation the agent would see — for authoring and debugging specs.
import { toolObservation } from '../../agents/episode.js';
import { compileFile } from '../../compiler/index.js';
import { formatErrorReport } from '../../compiler/errors.js';
import { EXIT, SwirlError } from '../../runtime/errors.js';
import { McpConfigError } from '../../tools/mcp.js';
import { makeTool, type ToolConfig } from '../../tools/registry.js';
import { err, out, printJson } from '../output.js';

export const DEFAULT_TOOL_SPEC = 'pipelines/quickstart.yaml';

export async function toolAction(name: string, input: string, opts: { spec?: string; json?: boolean }, setCode: (c: number) => void): Promise<void> {
  const file = opts.spec ?? DEFAULT_TOOL_SPEC;
  const r = compileFile(file);
  if (!r.ok) {
    if (opts.json) printJson({ ok: false, errors: r.errors });
    else for (const line of formatErrorReport(r.errors, r.source)) err(line);
    setCode(EXIT.badInput);
    return;
  }
  const cfg = r.plan.tools[name] as ToolConfig | undefined;
  const names = Object.keys(r.plan.tools);
  if (!cfg) throw new SwirlError('E_UNKNOWN_TOOL', `tool \`${name}\` is not defined in ${file}`, { hint: names.length ? `tools in this spec: ${names.join(', ')}` : 'define it under `tools:` or pass another spec with --spec' });
  let built: ReturnType<typeof makeTool>;
  try {
    built = makeTool(name, cfg, r.projectRoot);
  } catch (e) {
    throw new SwirlError('E_TOOL_CONFIG', `tool \`${name}\`: ${(e as Error).message}`, { hint: 'check the tool under `tools:` in the spec' });
  }
  // MCP tools connect first (cli/main.ts closes the connection when the command ends).
  try {
    await built.ready?.();
  } catch (e) {
    if (e instanceof McpConfigError) throw new SwirlError('E_TOOL_CONFIG', `tool \`${name}\`: ${e.message}`, { hint: e.hint });
    throw new SwirlError('E_TOOL_UNREACHABLE', `tool \`${name}\`: ${(e as Error).message}`, { hint: 'check that the server runs and the URL is right', exitCode: EXIT.environment });
  }
  const t0 = performance.now();
  // The agent turns a throwing tool into an error observation; so does this command.
  const observation = await toolObservation(built.tool, input);
  const ms = Math.round((performance.now() - t0) * 10) / 10;
  if (opts.json) printJson({ ok: true, tool: name, kind: built.kind, input, observation, ms });
  else out(observation);
  setCode(EXIT.ok);
}
