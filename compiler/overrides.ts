// `--set KEY=VALUE` overrides, applied to the parsed spec before it is
// validated, so an override gets the same checks (and the spec hash, the stage
// hashes and the cache keys change with it). KEY is a dotted path; under
// `stages` the next segment is a stage id, not an index:
//   stages.rollouts.samples=2   models.policy.maxTokens=64   defaults.concurrency=2
// VALUE is YAML: `2`, `true`, `[a, b]`, `{matcher: numeric}`.
import { isMap, isSeq, parse as parseYaml, type Document } from 'yaml';
import type { SpecError } from './errors.js';
import { toPointer } from './positions.js';
import { redact } from '../runtime/redact.js';

export interface Override {
  path: (string | number)[];
  value: unknown;
  text: string;
  /** JSON pointer of the overridden node (stage ids resolved to indices), once applied. */
  pointer?: string;
}

/**
 * Errors about a value an override set point at the override, not at the
 * file: the node has no position there (it used to say `file:1:1`). The
 * error keeps its code and message; the file part names the `--set`.
 */
export function attributeToOverrides(errors: readonly SpecError[], overrides: readonly Override[]): SpecError[] {
  return errors.map((e) => {
    // The last override of a path wins, as it did when applied.
    const o = [...overrides].reverse().find((x) => x.pointer !== undefined && (e.path === x.pointer || e.path.startsWith(`${x.pointer}/`)));
    return o ? { ...e, file: `--set ${o.text}`, line: 0, column: 0 } : e;
  });
}

/** Whether a dotted override key names a secret field (`models.x.apiKey`, `tools.x.env.Y`, `tools.x.headers.Y`). */
export function isSecretKey(key: string): boolean {
  const p = key.split('.');
  return p[p.length - 1] === 'apiKey' || (p[0] === 'tools' && p.length === 4 && (p[2] === 'env' || p[2] === 'headers'));
}

/**
 * The override as errors show it: a secret field's value is not echoed (it
 * should be `\${env:NAME}`; a literal key given on the command line stays out
 * of the terminal), and key-like values elsewhere are scrubbed.
 */
export function overrideLabel(text: string): string {
  const eq = text.indexOf('=');
  if (eq > 0 && isSecretKey(text.slice(0, eq).trim()) && !/^\s*["']?\$\{env:[A-Za-z_][A-Za-z0-9_]*\}["']?\s*$/.test(text.slice(eq + 1))) return `${text.slice(0, eq)}=[redacted]`;
  return redact(text);
}

/** Longest KEY an override may have, in segments (real keys have 2–4). */
export const MAX_OVERRIDE_SEGMENTS = 64;
/** Segments that would reach an object's prototype instead of a spec field. */
const RESERVED_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

export function parseOverride(raw: string): Override | SpecError {
  const text = overrideLabel(raw);
  const eq = raw.indexOf('=');
  const key = eq > 0 ? raw.slice(0, eq).trim() : '';
  const bad = (message: string, hint: string): SpecError => ({ code: 'E_BAD_OVERRIDE', message: `--set ${text}: ${message}`, path: '', file: '--set', line: 0, column: 0, hint });
  if (!key || /(^\.|\.\.|\.$)/.test(key)) return bad('expected KEY=VALUE with a dotted KEY', 'e.g. --set stages.rollouts.samples=2');
  const path = key.split('.');
  if (path.length > MAX_OVERRIDE_SEGMENTS) return bad(`KEY has ${path.length} segments; at most ${MAX_OVERRIDE_SEGMENTS} are allowed`, 'spec keys are a few segments deep, e.g. models.policy.maxTokens');
  const reserved = path.find((seg) => RESERVED_SEGMENTS.has(seg));
  if (reserved !== undefined) return bad(`KEY segment \`${reserved}\` is not allowed`, '`__proto__`, `constructor` and `prototype` name no spec field; to change a model or stage of that name, edit the spec file');
  let value: unknown;
  try {
    value = parseYaml(raw.slice(eq + 1));
  } catch (e) {
    // (The YAML parser's message quotes the value: not shown for a secret field.)
    const why = text === raw ? ` (${(e as Error).message.split('\n')[0]})` : '';
    return { code: 'E_BAD_OVERRIDE', message: `--set ${text}: the value is not valid YAML${why}`, path: '', file: '--set', line: 0, column: 0, hint: 'quote strings that contain YAML syntax' };
  }
  return { path, value: value ?? null, text };
}

/** Applies overrides to the document (positions) and the data (validation); returns errors for unknown stage ids. */
export function applyOverrides(doc: Document, data: unknown, overrides: readonly Override[], file: string): SpecError[] {
  const errors: SpecError[] = [];
  const root = data as Record<string, unknown>;
  for (const o of overrides) {
    const p = [...o.path];
    if (p[0] === 'stages' && p.length >= 2) {
      const stages = Array.isArray(root.stages) ? (root.stages as Array<{ id?: unknown }>) : [];
      const idx = stages.findIndex((s) => s && s.id === p[1]);
      if (idx < 0) {
        errors.push({ code: 'E_BAD_OVERRIDE', message: `--set ${o.text}: no stage has id \`${String(p[1])}\``, path: '', file, line: 0, column: 0, hint: `stage ids: ${stages.map((s) => String(s?.id)).join(', ')}` });
        continue;
      }
      p[1] = idx;
    }
    // Data: walk own properties only, creating maps without a prototype as
    // needed (reserved segments were refused in parseOverride).
    let cur: Record<string | number, unknown> = root as Record<string | number, unknown>;
    for (let i = 0; i < p.length - 1; i++) {
      const k = p[i]!;
      const next = Object.hasOwn(cur, k) ? cur[k] : undefined;
      if (typeof next !== 'object' || next === null) cur[k] = Object.create(null) as Record<string, unknown>;
      cur = cur[k] as Record<string | number, unknown>;
    }
    cur[p[p.length - 1]!] = o.value;
    o.pointer = toPointer(p);
    // Document: keeps positions of everything else; the new node has none (errors point at its parent).
    // A scalar on the way becomes a map, as it did in the data (setIn would throw).
    for (let i = 1; i < p.length; i++) {
      const node = doc.getIn(p.slice(0, i), true);
      if (!isMap(node) && !isSeq(node)) doc.setIn(p.slice(0, i), doc.createNode({}));
    }
    doc.setIn(p, doc.createNode(o.value));
  }
  return errors;
}
