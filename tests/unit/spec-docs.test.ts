import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderSpecDocs } from '../../compiler/spec-docs.js';
import { ERROR_CODES } from '../../compiler/errors.js';
import { packageRoot } from '../../runtime/paths.js';

describe('docs/spec.md', () => {
  it('matches the schema (regenerate with `npm run docs`)', () => {
    expect(readFileSync(path.join(packageRoot, 'docs', 'spec.md'), 'utf8')).toBe(renderSpecDocs());
  });

  it('documents every error code and every stage type', () => {
    const doc = renderSpecDocs();
    for (const code of Object.keys(ERROR_CODES)) expect(doc).toContain(`\`${code}\``);
    for (const t of ['dataset', 'rollout', 'decompose', 'filter', 'train', 'evaluate', 'report']) expect(doc).toContain(`### ${t}Stage`);
  });
});
