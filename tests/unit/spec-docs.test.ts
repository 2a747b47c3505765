import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSpecDocs } from '../../compiler/spec-docs.js';
import { ERROR_CODES } from '../../compiler/errors.js';
import { packageRoot, swirlPaths } from '../../runtime/paths.js';

describe('docs/spec.md', () => {
  it('matches the schema (regenerate with `npm run docs`)', () => {
    expect(readFileSync(path.join(packageRoot, 'docs', 'spec.md'), 'utf8')).toBe(renderSpecDocs());
  });

  it('documents every error code and every stage type', () => {
    const doc = renderSpecDocs();
    for (const code of Object.keys(ERROR_CODES)) expect(doc).toContain(`\`${code}\``);
    for (const t of ['dataset', 'rollout', 'decompose', 'filter', 'train', 'evaluate', 'report']) expect(doc).toContain(`### ${t}Stage`);
  });

  it('says where the state dir and the models are, as runtime/paths.ts decides', () => {
    const doc = renderSpecDocs();
    const where = doc.split('\n').find((l) => l.startsWith('- **Where things are**'))!;
    expect(where).toBeDefined();
    const rel = (p: string) => path.relative(packageRoot, p).split(path.sep).join('/');
    const base = swirlPaths({});
    // Defaults: folders of the swirl checkout (packageRoot), whatever the spec's folder is.
    expect(base.root).toBe(packageRoot);
    expect(where).toContain(`\`${rel(base.state)}/\` in the swirl checkout`);
    expect(where).toContain(`\`${rel(base.models)}/\` of the swirl checkout`);
    expect(where).toContain(`\`${path.basename(base.ledger)}\``);
    expect(where).not.toMatch(/in the project \(or `SWIRL_STATE_DIR`\)/);
    // Each variable the doc names moves what the doc says it moves, and nothing it says it does not.
    const moved = swirlPaths({ SWIRL_STATE_DIR: '/tmp/elsewhere' });
    expect(moved.state).toBe('/tmp/elsewhere');
    expect(moved.ledger.startsWith('/tmp/elsewhere/')).toBe(true);
    expect(moved.temporalDb.startsWith('/tmp/elsewhere/')).toBe(true);
    expect(where).toContain('or the folder `SWIRL_STATE_DIR` names');
    expect(moved.models).toBe(base.models);
    expect(moved.bundles).toBe(base.bundles);
    expect(where).toContain('`SWIRL_STATE_DIR` does not move them');
    expect(swirlPaths({ SWIRL_MODELS_DIR: '/tmp/models' }).models).toBe('/tmp/models');
    expect(where).toContain('the folder `SWIRL_MODELS_DIR` names');
    expect(swirlPaths({ SWIRL_LEDGER: '/tmp/l.db' }).ledger).toBe('/tmp/l.db');
    expect(where).toContain('`SWIRL_LEDGER`');
    expect(swirlPaths({ SWIRL_BUNDLE_DIR: '/tmp/b' }).bundles).toBe('/tmp/b');
    expect(where).toContain(`\`${rel(base.bundles)}/\` or \`SWIRL_BUNDLE_DIR\``);
  });
});
