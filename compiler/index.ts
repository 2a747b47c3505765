// The compiler facade: YAML file → Plan, or every error at once.
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { sortErrors, type SpecError } from './errors.js';
import { parseSpec } from './parse.js';
import { validateSchema } from './validate.js';
import { checkSemantics } from './semantic.js';
import { buildPlan } from './plan.js';
import type { Plan } from './plan-types.js';
import type { RawSpec } from './spec-types.js';
import { MAX_SPEC_BYTES } from './parse.js';
import { applyOverrides, attributeToOverrides, parseOverride, type Override } from './overrides.js';

export type CompileResult =
  | { ok: true; plan: Plan; file: string; source: string; projectRoot: string }
  | { ok: false; errors: SpecError[]; file: string; source: string | undefined };

/** Nearest folder at or above `dir` holding package.json or .git; else `dir`. */
export function findProjectRoot(dir: string): string {
  let cur = path.resolve(dir);
  for (;;) {
    if (existsSync(path.join(cur, 'package.json')) || existsSync(path.join(cur, '.git'))) return cur;
    const up = path.dirname(cur);
    if (up === cur) return path.resolve(dir);
    cur = up;
  }
}

export interface CompileOptions {
  /** Name used in error positions (defaults to the path as given). */
  displayName?: string;
  projectRoot?: string;
  /** `--set KEY=VALUE` overrides (see overrides.ts). */
  overrides?: readonly string[];
}

export function compileSource(source: string, file: string, opts: CompileOptions = {}): CompileResult {
  const display = opts.displayName ?? file;
  const specDir = path.dirname(path.resolve(file));
  const projectRoot = opts.projectRoot ?? findProjectRoot(specDir);
  const parsed = parseSpec(source, display);
  if (!parsed.doc || parsed.errors.length > 0) return { ok: false, errors: sortErrors(parsed.errors), file: display, source };
  const data = parsed.data;
  const parsedOverrides: Override[] = [];
  const located = (errs: SpecError[]) => (parsedOverrides.length ? attributeToOverrides(errs, parsedOverrides) : errs);
  if (opts.overrides?.length) {
    const errs: SpecError[] = [];
    for (const o of opts.overrides.map(parseOverride)) {
      if ('code' in o) errs.push(o);
      else parsedOverrides.push(o);
    }
    errs.push(...applyOverrides(parsed.doc, data, parsedOverrides, display));
    if (errs.length > 0) return { ok: false, errors: errs, file: display, source };
  }
  const schemaErrors = validateSchema(data, parsed.doc, parsed.lineCounter, display);
  if (schemaErrors.length > 0) return { ok: false, errors: sortErrors(located(schemaErrors)), file: display, source };
  const spec = data as RawSpec;
  const semErrors = checkSemantics(spec, { doc: parsed.doc, lc: parsed.lineCounter, file: display, specDir, projectRoot });
  if (semErrors.length > 0) return { ok: false, errors: sortErrors(located(semErrors)), file: display, source };
  const plan = buildPlan(spec, { specDir, projectRoot });
  // `text` is the override as errors show it: secret values never enter the Plan.
  if (parsedOverrides.length) plan.overrides = parsedOverrides.map((o) => o.text);
  return { ok: true, plan, file: display, source, projectRoot };
}

export function compileFile(file: string, opts: CompileOptions = {}): CompileResult {
  const display = opts.displayName ?? file;
  let source: string;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a file');
    if (st.size > MAX_SPEC_BYTES) {
      return { ok: false, file: display, source: undefined, errors: [{ code: 'E_FILE_TOO_LARGE', message: `spec is ${st.size} bytes; the limit is ${MAX_SPEC_BYTES}`, path: '', file: display, line: 1, column: 1 }] };
    }
    source = readFileSync(file, 'utf8');
  } catch {
    return {
      ok: false,
      file: display,
      source: undefined,
      errors: [{ code: 'E_FILE_NOT_FOUND', message: `cannot read spec file ${file}`, path: '', file: display, line: 0, column: 0, hint: 'check the path; spec files are YAML, e.g. pipelines/quickstart.yaml' }],
    };
  }
  return compileSource(source, file, opts);
}

export type { SpecError } from './errors.js';
export type { Plan, PlanStage } from './plan-types.js';
