// The on-disk workflow bundle cache: a hit only for the same sources, lockfile and options.
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleKey, cachedBundle } from '../../runtime/bundle-cache.js';

function project(): { root: string; entry: string } {
  const root = mkdtempSync(path.join(tmpdir(), 'swirl-bundle-'));
  mkdirSync(path.join(root, 'workflows', 'stages'), { recursive: true });
  writeFileSync(path.join(root, 'workflows', 'index.ts'), 'export * from "./stages/a.js";\n');
  writeFileSync(path.join(root, 'workflows', 'stages', 'a.ts'), 'export const a = 1;\n');
  writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion":3}\n');
  return { root, entry: path.join(root, 'workflows', 'index.ts') };
}

describe('workflow bundle cache', () => {
  it('changes its key with any workflow source, the lockfile or the options', () => {
    const { root, entry } = project();
    const k0 = bundleKey(entry, root, {});
    expect(bundleKey(entry, root, {})).toBe(k0);
    writeFileSync(path.join(root, 'workflows', 'stages', 'a.ts'), 'export const a = 2;\n');
    const k1 = bundleKey(entry, root, {});
    expect(k1).not.toBe(k0);
    writeFileSync(path.join(root, 'package-lock.json'), '{"lockfileVersion":3,"x":1}\n');
    const k2 = bundleKey(entry, root, {});
    expect(k2).not.toBe(k1);
    expect(bundleKey(entry, root, { other: true })).not.toBe(k2);
    writeFileSync(path.join(root, 'workflows', 'stages', 'b.ts'), 'export const b = 1;\n');
    expect(bundleKey(entry, root, {})).not.toBe(k2);
  });

  it('builds once per key and reads the stored bundle afterwards', async () => {
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'swirl-bundles-')), 'bundles');
    let builds = 0;
    const build = async () => ({ code: `// bundle ${++builds} é\n` });
    expect(await cachedBundle(dir, 'k1', build)).toEqual({ code: '// bundle 1 é\n' });
    expect(await cachedBundle(dir, 'k1', build)).toEqual({ code: '// bundle 1 é\n' });
    expect(builds).toBe(1);
    expect(await cachedBundle(dir, 'k2', build)).toEqual({ code: '// bundle 2 é\n' });
    expect(builds).toBe(2);
    expect(readdirSync(dir).sort()).toEqual(['workflows-k1.js', 'workflows-k2.js']);
  });
});
