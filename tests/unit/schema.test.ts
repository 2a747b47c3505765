// The schema is the public contract editors show: every field says what it is for.
import { mkdtempSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelineSchema } from '../../compiler/validate.js';
import { compileFile } from '../../compiler/index.js';

function undocumented(node: unknown, at = '#', out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((v, i) => undocumented(v, `${at}/${i}`, out));
  else if (node && typeof node === 'object') {
    const props = (node as { properties?: Record<string, Record<string, unknown>> }).properties;
    if (props) for (const [k, v] of Object.entries(props)) if (!v.description && !v.$ref) out.push(`${at}/properties/${k}`);
    for (const [k, v] of Object.entries(node)) undocumented(v, `${at}/${k}`, out);
  }
  return out;
}

describe('pipeline schema', () => {
  it('describes every property', () => {
    expect(undocumented(pipelineSchema)).toEqual([]);
  });

  it('is draft 2020-12 and closed everywhere', () => {
    expect(pipelineSchema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    const open: string[] = [];
    const walk = (n: unknown, at: string) => {
      if (Array.isArray(n)) return n.forEach((v, i) => walk(v, `${at}/${i}`));
      if (!n || typeof n !== 'object') return;
      const o = n as Record<string, unknown>;
      if (o.properties && o.type === 'object' && o.additionalProperties === undefined && o.unevaluatedProperties === undefined && !at.endsWith('stageCommon') && !at.endsWith('/stage')) open.push(at);
      for (const [k, v] of Object.entries(o)) walk(v, `${at}/${k}`);
    };
    walk(pipelineSchema, '#');
    expect(open).toEqual([]);
  });
});

describe('file paths stay inside the project', () => {
  it('refuses a symlink that points outside, accepts one that stays inside', () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'swirl-outside-'));
    writeFileSync(path.join(outside, 'secret.jsonl'), '{"question":"q","answer":"#### 1"}\n');
    const project = mkdtempSync(path.join(tmpdir(), 'swirl-project-'));
    writeFileSync(path.join(project, 'package.json'), '{}');
    mkdirSync(path.join(project, 'data'));
    writeFileSync(path.join(project, 'data', 'real.jsonl'), '{"question":"q","answer":"#### 1"}\n');
    symlinkSync(path.join(outside, 'secret.jsonl'), path.join(project, 'data', 'escape.jsonl'));
    symlinkSync(path.join(project, 'data', 'real.jsonl'), path.join(project, 'data', 'alias.jsonl'));
    mkdirSync(path.join(project, 'pipelines'));
    const spec = (p: string) => `apiVersion: swirl/v1\nkind: Pipeline\nmetadata: {name: links}\nstages:\n  - id: q\n    type: dataset\n    format: gsm8k\n    path: ${p}\n`;
    writeFileSync(path.join(project, 'pipelines', 'bad.yaml'), spec('../data/escape.jsonl'));
    writeFileSync(path.join(project, 'pipelines', 'good.yaml'), spec('../data/alias.jsonl'));
    const bad = compileFile(path.join(project, 'pipelines', 'bad.yaml'));
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors.map((e) => `${e.code} ${e.line}:${e.column}`)).toEqual(['E_PATH_ESCAPE 8:11']);
    const good = compileFile(path.join(project, 'pipelines', 'good.yaml'));
    expect(good.ok).toBe(true);
    if (good.ok) expect(good.plan.stages[0]!.config.path).toBe('data/alias.jsonl');
  });
});
