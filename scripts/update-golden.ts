// Rewrites tests/fixtures/plans/<name>.plan.json from pipelines/<name>.yaml.
// Run after an intended compiler change (`npm run golden`) and review the diff.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { compileFile } from '../compiler/index.js';
import { planJson } from '../compiler/plan.js';
import { packageRoot } from '../runtime/paths.js';

const dir = path.join(packageRoot, 'pipelines');
const out = path.join(packageRoot, 'tests', 'fixtures', 'plans');
mkdirSync(out, { recursive: true });
for (const f of readdirSync(dir).filter((x) => x.endsWith('.yaml'))) {
  const r = compileFile(path.join(dir, f));
  if (!r.ok) {
    console.error(`${f}: does not compile`, r.errors);
    process.exitCode = 1;
    continue;
  }
  writeFileSync(path.join(out, f.replace(/\.yaml$/, '.plan.json')), planJson(r.plan));
  console.log(`wrote ${f.replace(/\.yaml$/, '.plan.json')}`);
}
