// `swirl`: the command line. Exit codes: 0 ok, 1 run failed, 2 bad input
// (spec errors, unknown command or flag, missing file), 3 environment problem
// (a prerequisite missing, the Temporal server unreachable).
import { Command, CommanderError } from 'commander';
import { EXIT } from '../runtime/errors.js';
import { packageVersion } from '../runtime/paths.js';
import { closeAll } from '../tools/closers.js';
import { err, reportError } from './output.js';
import { registerCommands } from './commands/index.js';

const version = packageVersion();

export function buildProgram(setCode: (c: number) => void): Command {
  const program = new Command('swirl')
    .description('SWiRL pipelines in YAML, run as durable Temporal workflows')
    .version(version, '-V, --version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined })
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 run failed, 2 bad input, 3 environment (prerequisite missing, server unreachable).
Environment: TEMPORAL_ADDRESS (+ TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_CLIENT_CERT_PATH,
TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH) selects an external cluster;
SWIRL_STATE_DIR moves .swirl/; SWIRL_DEBUG=1 prints stack traces for internal errors.`,
    );
  registerCommands(program, setCode);
  // Every subcommand inherits the same error handling.
  const visit = (c: Command) => {
    c.exitOverride().configureOutput({ writeErr: () => undefined }).showSuggestionAfterError(true);
    c.commands.forEach(visit);
  };
  program.commands.forEach(visit);
  return program;
}

function usageHint(e: CommanderError, argv: string[]): string {
  const cmd = argv.find((a) => !a.startsWith('-'));
  return cmd && e.code !== 'commander.unknownCommand' ? `see \`swirl ${cmd} --help\`` : 'see `swirl --help`';
}

/** Runs the CLI and returns the exit code (never throws, never prints a stack for bad input). */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => {
    code = c;
  });
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.badInput;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return EXIT.ok;
      const message = e.message.replace(/^error: /, '').split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
      err(`swirl: error: ${message}`);
      err(`  hint: ${usageHint(e, argv)}`);
      return EXIT.badInput;
    }
    return reportError(e, argv.includes('--json'));
  } finally {
    // MCP stdio servers started by this process's tools (a worker's rollouts, `swirl tool`) end with it.
    await closeAll();
  }
}
