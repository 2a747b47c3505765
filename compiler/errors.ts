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
  E_NESTING_DEPTH: 'mappings and lists nest deeper than the allowed depth',
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
  E_MATCHER_PROCESS_JUDGE: 'an answer matcher (`exact`, `numeric`, `f1`) is a process judge or reward model, which would pass every tool step as GOOD',
  E_PATH_ESCAPE: 'a file path leaves the project',
  E_PATH_NOT_FOUND: 'a referenced file does not exist or cannot be read',
  E_MODEL_NOT_FOUND: 'a llama-cpp model is neither an embedded model name nor an existing GGUF file',
  E_MODEL_INVALID: 'a llama-cpp model file is not a GGUF file',
  E_ADAPTER_INVALID: "a llama-cpp model's `adapter` is not a GGUF file",
  E_ADAPTER_NOT_ALLOWED: 'a model with an `adapter` is the policy of a train stage, or of an evaluate stage that applies a trained policy (`policy` input)',
  E_HF_INVALID: "a model's `hf` folder lacks config.json, weights (*.safetensors / *.bin) or a tokenizer",
  E_TRAIN_MODEL: 'a train stage names a model swirl cannot train: not llama-cpp, and not openai-compatible with `hf` and either `lora: runtime` or the stage\'s `sampler: trainer`',
  E_POLICY_NOT_APPLICABLE: 'an evaluate stage applies a trained policy to a model that cannot load its adapter (only llama-cpp and openai-compatible with `lora: runtime` can)',
  E_TRAINER_SAMPLER: 'a train stage has `sampler: trainer` but its model is not an openai-compatible model with an `hf` folder (the weights the trainer samples from)',
  E_SECRET_LITERAL: 'a secret field holds a literal instead of `${env:NAME}`',
  E_BAD_OVERRIDE: 'a `--set KEY=VALUE` override is malformed, too long, names a reserved segment (`__proto__`, `constructor`, `prototype`) or no stage',
  E_STAGE_NOT_IMPLEMENTED: 'the stage type is valid but this version of swirl cannot run it yet',
  E_DUPLICATE_ACTION: 'two tools of one rollout stage serve the same action (search or calculator)',
  E_FIELD_NOT_FOR_KIND: 'a field that belongs to another kind of tool or model provider (e.g. `corpus` on an MCP tool, `adapter` on an openai model)',
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

/**
 * Makes text from a spec safe to print on a terminal: C0/C1 control
 * characters and DEL (ESC sequences could retitle or clear the screen) and
 * line/paragraph separators become visible escapes such as `\x1b`.
 */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
  });
}

/** Longest message or hint, and widest excerpt window, the human form prints (`--json` keeps everything). */
export const MAX_PRINTED_TEXT = 300;
export const EXCERPT_WIDTH = 120;
/** How many errors the human form prints before a count of the rest. */
export const MAX_PRINTED_ERRORS = 50;

function clip(text: string, max = MAX_PRINTED_TEXT): string {
  const safe = escapeControl(text);
  return safe.length > max ? `${safe.slice(0, max)}… (${safe.length - max} more characters)` : safe;
}

/** `file:line:col  E_CODE  message  (hint)`, the one-line form (control characters escaped, long text clipped). */
export function formatErrorLine(e: SpecError): string {
  // An error without a position in a file (a `--set` override, an unreadable file) names only where it is.
  const where = e.line > 0 ? `${clip(e.file)}:${e.line}:${e.column}` : clip(e.file);
  return `${where}  ${e.code}  ${clip(e.message)}${e.hint ? `  (${clip(e.hint)})` : ''}`;
}

/** The source line of an error, at most EXCERPT_WIDTH characters around the column, and the caret's offset in it. */
function excerpt(line: string, column: number): { text: string; caret: number } {
  const col = Math.max(0, Math.min(column - 1, line.length));
  let start = 0;
  let end = line.length;
  if (line.length > EXCERPT_WIDTH) {
    start = Math.max(0, Math.min(col - Math.floor(EXCERPT_WIDTH / 2), line.length - EXCERPT_WIDTH));
    end = start + EXCERPT_WIDTH;
  }
  const before = (start > 0 ? '…' : '') + escapeControl(line.slice(start, col));
  const text = before + escapeControl(line.slice(col, end)) + (end < line.length ? '…' : '');
  return { text, caret: before.length };
}

/** Splits a source into lines once per source (the CLI formats many errors of one file). */
let splitCache: { source: string; lines: string[] } | undefined;
function sourceLines(source: string): string[] {
  if (splitCache?.source !== source) splitCache = { source, lines: source.split(/\r?\n/) };
  return splitCache.lines;
}

/** The one-line form plus the source line and a caret under the column. */
export function formatErrorWithExcerpt(e: SpecError, source: string | undefined): string {
  const head = redact(formatErrorLine(e));
  if (!source || e.line < 1) return head;
  const raw = sourceLines(source)[e.line - 1];
  if (raw === undefined) return head;
  const line = excerptLine(e, raw);
  const gutter = String(e.line).padStart(5) + ' | ';
  const { text, caret } = excerpt(line, e.column);
  return `${head}\n${gutter}${text}\n${' '.repeat(gutter.length + caret)}^`;
}

/**
 * The human report of a file's errors: the first `max` with excerpts, then
 * how many more there are. Linear in the number of errors and the source size.
 */
export function formatErrorReport(errors: readonly SpecError[], source: string | undefined, max = MAX_PRINTED_ERRORS): string[] {
  const lines = errors.slice(0, max).map((e) => formatErrorWithExcerpt(e, source));
  if (errors.length > max) lines.push(`… and ${errors.length - max} more error${errors.length - max === 1 ? '' : 's'} (\`--json\` lists them all)`);
  return lines;
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
