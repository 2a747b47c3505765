// Workflow code must be deterministic: files under workflows/ may import, as
// values, only @temporalio/workflow and other files under workflows/. Anything
// else (Node built-ins, activities, stores, the compiler) may be imported with
// `import type` only, which the compiler erases.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../runtime/paths.js';

const workflowsDir = path.join(packageRoot, 'workflows');
const ALLOWED_PACKAGES = new Set(['@temporalio/workflow']);

export function valueImports(source: string): string[] {
  const out: string[] = [];
  // import x from '...'; import { a } from '...'; export { a } from '...'; import '...'; dynamic import('...')
  const re = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^'";]*?\s+from\s+)?['"]([^'"]+)['"]/g;
  for (const m of source.matchAll(re)) {
    const typeOnly = Boolean(m[2]) || /^\{\s*(type\s+[^,}]+,?\s*)+\}\s+from\s+$/.test(m[3] ?? '');
    if (!typeOnly) out.push(m[4]!);
  }
  for (const m of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  for (const m of source.matchAll(/\brequire\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

function violations(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return valueImports(src).filter((spec) => {
    if (ALLOWED_PACKAGES.has(spec)) return false;
    if (spec.startsWith('.')) {
      const target = path.resolve(path.dirname(file), spec);
      return !(target === workflowsDir || target.startsWith(workflowsDir + path.sep));
    }
    return true;
  });
}

describe('workflow determinism rule', () => {
  const files = readdirSync(workflowsDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(workflowsDir, f));

  it('finds the workflow files', () => expect(files.length).toBeGreaterThan(3));

  for (const file of files) {
    it(`${path.relative(packageRoot, file)} imports only @temporalio/workflow and workflows/ as values`, () => {
      expect(violations(file)).toEqual([]);
    });
  }

  it('the rule catches the imports it forbids', () => {
    const bad = [
      "import { readFileSync } from 'node:fs';",
      "import { loadDataset } from '../activities/dataset.js';",
      "import * as acts from '../activities/index.js';",
      "import { Client } from '@temporalio/client';",
      "const x = await import('node:crypto');",
      "export { planJson } from '../compiler/plan.js';",
    ];
    for (const line of bad) expect(valueImports(line).length, line).toBe(1);
    const ok = ["import type { Plan } from '../compiler/plan-types.js';", "import { type A, type B } from '../x.js';"];
    for (const line of ok) expect(valueImports(line), line).toEqual([]);
  });
});
