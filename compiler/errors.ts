// Spec diagnostics are data: a stable code, the JSON path, a 1-based position
// and a hint. The compiler collects all of them and reports once.
import { redact } from '../runtime/redact.js';

export interface SpecError {
  code: string;
  message: string;
  /** JSON pointer into the spec, e.g. `/stages/0/maxSteps` ("" for the document). */
  path: string;
  file: string;
  line: number;
  column: number;
  hint?: string;
}

/** Error codes and what they mean; docs/spec.md lists them. */
export const ERROR_CODES = {
  E_FILE_NOT_FOUND: 'the spec file does not exist or cannot be read',
  E_FILE_TOO_LARGE: 'the spec file is over the size bound',
  E_YAML_SYNTAX: 'the file is not valid YAML',
  E_DUPLICATE_KEY: 'a mapping has the same key twice',
  E_MULTIPLE_DOCUMENTS: 'the file holds more than one YAML document',
  E_ALIAS_LIMIT: 'YAML aliases expand beyond the allowed count',
  E_ROOT_NOT_MAPPING: 'the document is not a mapping',
  E_UNKNOWN_FIELD: 'a field the schema does not define',
  E_MISSING_FIELD: 'a required field is absent',
  E_TYPE: 'a value has the wrong type',
  E_ENUM: 'a value is not one of the allowed values',
  E_CONST: 'a value must be exactly one thing',
  E_PATTERN: 'a string does not have the required shape',
  E_RANGE: 'a number is out of range',
  E_LENGTH: 'a string or list is too short or too long',
  E_DUPLICATE_ITEM: 'a list holds the same item twice',
  E_FORMAT: 'a string is not in the required format (e.g. a URI)',
  E_INVALID: 'a value matches none of the allowed forms',
  E_UNKNOWN_STAGE_TYPE: 'a stage has an unknown `type`',
  E_DUPLICATE_ID: 'two stages share an id',
  E_UNKNOWN_INPUT: 'a stage input names no stage',
  E_CYCLE: 'stage inputs form a cycle',
  E_INPUT_KIND: 'a stage input produces a kind the stage does not accept',
  E_INPUT_REQUIRED: 'a stage that needs an input has none',
  E_UNKNOWN_MODEL: 'a stage names a model not defined under `models`',
  E_UNKNOWN_TOOL: 'a stage names a tool not defined under `tools`',
  E_JUDGE_REQUIRED: 'a filter mode or training objective needs a judge the stage does not name',
  E_AGREEMENT_NEEDS_PROCESS: 'a filter measures judge agreement but its mode judges no steps',
  E_PROBABILITY_NEEDS_LLM: '`score: probability` is set on a matcher judge (only LLM judges have log-probs)',
  E_NO_LOGPROBS: "`score: probability` names a judge model whose provider returns no log-probs",
  E_PATH_ESCAPE: 'a file path leaves the project',
  E_PATH_NOT_FOUND: 'a referenced file does not exist or cannot be read',
  E_MODEL_NOT_FOUND: 'a llama-cpp model is neither an embedded model name nor an existing GGUF file',
  E_MODEL_INVALID: 'a llama-cpp model file is not a GGUF file',
  E_SECRET_LITERAL: 'a secret field holds a literal instead of `${env:NAME}`',
  E_BAD_OVERRIDE: 'a `--set KEY=VALUE` override is malformed or names no stage',
  E_STAGE_NOT_IMPLEMENTED: 'the stage type is valid but this version of swirl cannot run it yet',
  E_DUPLICATE_ACTION: 'two tools of one rollout stage serve the same action (search or calculator)',
  E_FIELD_NOT_FOR_KIND: 'a field that belongs to another kind of tool (e.g. `corpus` on an MCP tool)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function sortErrors(errors: SpecError[]): SpecError[] {
  const seen = new Set<string>();
  return errors
    .filter((e) => {
      const key = `${e.file}:${e.line}:${e.column}:${e.code}:${e.path}:${e.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.code.localeCompare(b.code));
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** `file:line:col  E_CODE  message  (hint)`, the one-line form. */
export function formatErrorLine(e: SpecError): string {
  // An error without a position in a file (a `--set` override, an unreadable file) names only where it is.
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.column}` : e.file;
  return `${where}  ${e.code}  ${e.message}${e.hint ? `  (${e.hint})` : ''}`;
}

/** The one-line form plus the source line and a caret under the column. */
export function formatErrorWithExcerpt(e: SpecError, source: string | undefined): string {
  const head = redact(formatErrorLine(e));
  if (!source || e.line < 1) return head;
  const raw = source.split(/\r?\n/)[e.line - 1];
  if (raw === undefined) return head;
  const line = excerptLine(e, raw);
  const gutter = String(e.line).padStart(5) + ' | ';
  return `${head}\n${gutter}${line}\n${' '.repeat(gutter.length + Math.max(0, e.column - 1))}^`;
}

const SECRET_LINE = /^(\s*(?:-\s+)?["']?apiKey["']?\s*:\s*)(.*)$/;
const ENV_REF_VALUE = /^["']?\$\{env:[A-Za-z_][A-Za-z0-9_]*\}["']?\s*(#.*)?$/;

/**
 * A source line as an excerpt shows it: the value of a secret field that holds
 * a literal (E_SECRET_LITERAL, or any `apiKey:` line) is not echoed, and
 * key-like strings elsewhere are scrubbed (runtime/redact.ts).
 */
export function excerptLine(e: Pick<SpecError, 'code' | 'column'>, line: string): string {
  if (e.code === 'E_SECRET_LITERAL' && e.column >= 1 && e.column <= line.length) {
    const value = line.slice(e.column - 1);
    if (!ENV_REF_VALUE.test(value.trim())) return line.slice(0, e.column - 1) + '[redacted]';
  }
  const m = SECRET_LINE.exec(line);
  if (m && m[2]!.trim() && !ENV_REF_VALUE.test(m[2]!.trim())) return `${m[1]}[redacted]`;
  return redact(line);
}
