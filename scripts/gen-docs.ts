// `npm run docs`: regenerates docs/spec.md from the schema.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderSpecDocs } from '../compiler/spec-docs.js';
import { packageRoot } from '../runtime/paths.js';

writeFileSync(path.join(packageRoot, 'docs', 'spec.md'), renderSpecDocs());
console.log('wrote docs/spec.md');
