// One error type for everything a user can cause or fix. The CLI prints
// `error E_CODE: message` plus the hint, and exits with `exitCode`; it never
// prints a stack trace for a SwirlError.

export const EXIT = {
  ok: 0,
  runFailed: 1,
  badInput: 2,
  environment: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class SwirlError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;

  constructor(code: string, message: string, opts: { hint?: string; exitCode?: ExitCode; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SwirlError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? EXIT.badInput;
  }
}

/** A prerequisite (binary, model, server) is missing: say how to get it. */
export function missingPrerequisite(code: string, message: string, hint: string): SwirlError {
  return new SwirlError(code, message, { hint, exitCode: EXIT.environment });
}
