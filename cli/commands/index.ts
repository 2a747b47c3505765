// Every `swirl` command's declaration (arguments, options, help). Actions are
// imported when a command runs, so `swirl validate` or `--help` does not pay
// for loading the Temporal SDK.
import type { Command } from 'commander';
import { QUEUE_ROLES } from '../../activities/queues.js';
import { DEFAULT_PORT, DEFAULT_UI_PORT } from '../../runtime/embedded-ports.js';
import { SwirlError } from '../../runtime/errors.js';
import { collectSet, registerValidate } from './validate.js';

type SetCode = (c: number) => void;

function parsePort(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new SwirlError('E_USAGE', `not a port number: ${v}`, { hint: 'use an integer from 1 to 65535' });
  return n;
}

export function registerCommands(program: Command, setCode: SetCode): void {
  registerValidate(program, setCode);

  const server = program.command('server').description('manage the embedded Temporal dev server (state in .swirl/temporal.db)');
  server
    .command('start')
    .description('start the embedded server in the background (no-op when it already runs)')
    .option('--port <port>', `gRPC port (default ${DEFAULT_PORT}, or a free port when that one is taken)`, parsePort)
    .option('--ui-port <port>', `Web UI port (default ${DEFAULT_UI_PORT}, or a free port when that one is taken)`, parsePort)
    .option('--headless', 'run without the Web UI')
    .option('--json', 'print the server state as JSON')
    .action(async (opts) => (await import('./server.js')).serverStartAction(opts, setCode));
  server
    .command('stop')
    .description('stop the embedded server (its state stays in .swirl/temporal.db)')
    .option('--json', 'print the result as JSON')
    .action(async (opts) => (await import('./server.js')).serverStopAction(opts, setCode));
  server
    .command('status')
    .description('say whether a server is reachable, where, and where its Web UI is')
    .option('--json', 'print the status as JSON')
    .action(async (opts) => (await import('./server.js')).serverStatusAction(opts, setCode));

  program
    .command('worker')
    .description('run a worker for one or more task queues until SIGINT/SIGTERM')
    .option('--queue <roles>', `comma-separated roles: ${QUEUE_ROLES.join(', ')}`, QUEUE_ROLES.join(','))
    .option('--episode-threads <n>', 'threads for rollout episodes against remote models (default: the cores, at most 4, or SWIRL_EPISODE_THREADS; 0: none)')
    .action(async (opts) => (await import('./worker.js')).workerAction(opts, setCode));

  program
    .command('run')
    .description('compile a spec and run it as a durable Temporal workflow')
    .argument('<file>', 'pipeline spec file (YAML)')
    .option('--no-worker', 'do not start an in-process worker (use workers started with `swirl worker`)')
    .option('--detach', 'print the workflow id and return without waiting (needs --no-worker)')
    .option('--follow', 'wait for the end and show progress (the default unless --detach)')
    .option('--id <workflowId>', 'workflow id to use (default: <pipeline>-<time>-<random>)')
    .option('--set <key=value>', 'override a spec value before validation, e.g. --set stages.rollouts.samples=2 (repeatable; stages by id)', collectSet)
    .option('--json', 'print the run summary as JSON')
    .action(async (file, opts) => (await import('./run.js')).runAction(file, opts, setCode));

  program
    .command('rerun')
    .description('run the Plan of an earlier run again; unchanged stages come from the cache')
    .argument('<workflowId>', 'the run to repeat')
    .option('--from <stage>', 'rerun this stage and everything downstream of it')
    .option('--no-worker', 'do not start an in-process worker')
    .option('--detach', 'return after starting (needs --no-worker)')
    .option('--json', 'print the run summary as JSON')
    .action(async (id, opts) => (await import('./rerun.js')).rerunAction(id, opts, setCode));

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    const help = { pause: 'pause a run: running stages finish, no new stage or shard starts', resume: 'resume a paused run', cancel: 'cancel a run; artifacts written so far are kept' }[action];
    const cmd = program
      .command(action)
      .description(help)
      .argument('<workflowId>', 'the workflow id printed by `swirl run`')
      .option('--json', 'print the result as JSON');
    if (action === 'resume')
      cmd
        .option('--max-tokens <n>', "raise the run budget's token limit (a run paused on its budget goes on)")
        .option('--max-cost-usd <x>', "raise the run budget's cost limit in USD");
    cmd.action(async (id, opts) => (await import('./control.js')).controlAction(action, id, opts, setCode));
  }

  program
    .command('list')
    .description('list runs, newest first')
    .option('--pipeline <name>', 'only runs of this pipeline')
    .option('--status <status>', 'only runs with this status (running, completed, failed, cancelled, terminated)')
    .option('--limit <n>', 'most runs to show', '20')
    .option('--json', 'print the runs as JSON')
    .action(async (opts) => (await import('./list.js')).listAction(opts, setCode));

  program
    .command('history')
    .description('audit timeline of a run from its Temporal event history: stages, activities, attempts, failures, cache hits; child workflows (fan-outs, shards, the train loop) are counted in, with their retries and failures')
    .argument('<workflowId>', 'the workflow id printed by `swirl run`')
    .option('--json', 'print the timeline as JSON')
    .option('--child <id>', 'show one child workflow of the run in full (its id, or the part after `RUN/`)')
    .action(async (id, opts) => (await import('./history.js')).historyAction(id, opts, setCode));

  program
    .command('show')
    .description("print a few rows of a stage's output readably: trajectories turn by turn, steps with their verdicts, evaluation rows with gold and predicted answers")
    .argument('<workflowId>', 'the workflow id printed by `swirl run`')
    .argument('<stage>', 'a stage id of the run')
    .option('-n <rows>', 'how many rows (default 3)')
    .option('--id <id>', 'only the row with this question or trajectory id')
    .option('--json', 'print the rows as JSON')
    .action(async (id, stage, opts) => (await import('./show.js')).showAction(id, stage, opts, setCode));

  program
    .command('status')
    .description('show the state of a run: overall status and each stage')
    .argument('<workflowId>', 'the workflow id printed by `swirl run`')
    .option('--follow', 'wait until the run ends, showing progress, then print its status')
    .option('--json', 'print the status as JSON')
    .action(async (id, opts) => (await import('./status.js')).statusAction(id, opts, setCode));

  program
    .command('tool')
    .description("run one call of a spec's tool exactly as the agent would and print the observation")
    .argument('<name>', 'the tool name under `tools:` in the spec')
    .argument('<input>', 'what the agent would write between the action tags (expression or query)')
    .option('--spec <file>', 'pipeline spec that defines the tool', 'pipelines/quickstart.yaml')
    .option('--json', 'print {tool, kind, input, observation, ms} as JSON')
    .action(async (name, input, opts) => (await import('./tool.js')).toolAction(name, input, opts, setCode));

  program
    .command('mcp')
    .description('Model Context Protocol')
    .command('serve')
    .description("serve a spec's built-in tools (search, calculator) as an MCP server, on stdio or Streamable HTTP")
    .option('--spec <file>', 'pipeline spec whose tools to serve', 'pipelines/quickstart.yaml')
    .option('--tools <names>', 'comma-separated tool names (default: every search and calculator tool in the spec)')
    .option('--http <port>', 'serve Streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio')
    .action(async (opts) => (await import('./mcp.js')).mcpServeAction(opts, setCode));

  program
    .command('export')
    .description("fold a run's trained LoRA adapter into its base model: one Hugging Face model folder (transformers/vLLM load it without peft)")
    .argument('<workflowId>', 'the workflow id printed by `swirl run`')
    .option('--out <dir>', 'the folder to write (must not exist)')
    .option('--stage <id>', 'the train stage to export, when the run has several')
    .option('--adapter-only', 'write the LoRA adapter GGUF (what llama.cpp loads on the base GGUF) with a manifest of hashes instead of a merged model')
    .option('--json', 'print {out, base, adapter, adapterHash, parameters} as JSON (with --adapter-only: the manifest)')
    .action(async (id, opts) => (await import('./export.js')).exportAction(id, opts, setCode));

  program
    .command('report')
    .description('write a self-contained HTML report of a run (pipeline graph, yield, judges, training, accuracy with 95% CIs); works offline')
    .argument('<workflowId>', 'the workflow id printed by `swirl run`')
    .option('--out <file>', 'where to write the HTML (default: .swirl/reports/<workflowId>.html)')
    .option('--open <when>', 'open it in a browser: auto (only on an interactive desktop), always, never', 'auto')
    .option('--markdown <file>', 'also write the numbers as Markdown (accuracy with CIs, differences, yield, training), e.g. docs/results.md')
    .option('--command <cmd>', 'a command that reproduces the run, listed in the Markdown (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--preface <file>', 'Markdown written by a person (setup, what was tried, what the numbers mean), put under the title of the --markdown page')
    .option('--results-json <file>', 'also write the arms (accuracy, 95% CI, paired difference to base) as JSON, e.g. docs/results.json')
    .option('--json', 'print {file, status} as JSON')
    .action(async (id, opts) => (await import('./report.js')).reportAction(id, opts, setCode));
}
