// Printing helpers shared by the commands. Human output goes to stdout,
// diagnostics to stderr; --json prints one JSON document on stdout.
import { SwirlError, EXIT, type ExitCode } from '../runtime/errors.js';
import { redact } from '../runtime/redact.js';

// Everything swirl prints passes `redact` (runtime/redact.ts): a key echoed in
// an upstream error that reached a history, a spec or a flag is not shown.
export const out = (line = ''): void => void process.stdout.write(redact(line) + '\n');
export const err = (line = ''): void => void process.stderr.write(redact(line) + '\n');
export const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

const useColor = process.stdout.isTTY && !process.env.NO_COLOR && process.env.CI !== 'true';
const paint = (code: number) => (s: string) => (useColor ? `\x1b[${code}m${s}\x1b[0m` : s);
export const color = { red: paint(31), green: paint(32), yellow: paint(33), dim: paint(2), bold: paint(1) };

/** Prints an error the way every command does and returns its exit code. No stack unless SWIRL_DEBUG is set. */
export function reportError(e: unknown, json = false): ExitCode {
  if (e instanceof SwirlError) {
    if (json) printJson({ ok: false, error: { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } });
    else {
      err(`swirl: error ${e.code}: ${e.message}`);
      if (e.hint) err(`  hint: ${e.hint}`);
    }
    return e.exitCode;
  }
  const msg = e instanceof Error ? e.message : String(e);
  if (json) printJson({ ok: false, error: { code: 'E_INTERNAL', message: msg } });
  else {
    err(`swirl: internal error: ${msg}`);
    if (process.env.SWIRL_DEBUG && e instanceof Error && e.stack) err(e.stack); // (redacted by err)
    else err('  hint: rerun with SWIRL_DEBUG=1 for details, and report it');
  }
  return EXIT.runFailed;
}

export function shortHash(h: string | undefined, n = 12): string {
  return h ? h.slice(0, n) : '-';
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${Math.round((ms % 60_000) / 1000)}s`;
}
