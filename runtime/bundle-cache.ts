// The workflow bundle, cached on disk by the content of everything it is
// built from. Bundling (webpack) takes 2–6 s of every worker start, and a
// worker restarted after a crash cannot poll before it has the bundle: with
// the cache, a restart reuses the previous process's bundle.
//
// The key covers the workflow sources (workflows/ may import only
// `@temporalio/workflow` and workflows/ as values: tests/unit/workflow-
// determinism.test.ts enforces it), the lockfile (every dependency version,
// the SDK's included), the bundler's options and the absolute path of the
// sources (the inline source map names them). A changed file is a new key:
// the cache can be stale only if that import rule is broken.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** Bundles kept per cache folder (older ones are removed): a few code versions side by side. */
const KEEP = 8;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|js|mjs|cjs|json)$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** The cache key of a bundle of `workflowsPath` (an entry file inside the workflows folder). */
export function bundleKey(workflowsPath: string, packageRoot: string, options: unknown): string {
  const h = createHash('sha256');
  h.update(JSON.stringify({ v: 1, workflowsPath, options }));
  for (const f of sourceFiles(path.dirname(workflowsPath))) h.update(`\0${path.relative(packageRoot, f)}\0`).update(readFileSync(f));
  for (const f of ['package-lock.json', 'package.json']) {
    const p = path.join(packageRoot, f);
    if (existsSync(p)) h.update(`\0${f}\0`).update(readFileSync(p));
  }
  return h.digest('hex').slice(0, 32);
}

/** The cached bundle code for `key` in `dir`, or the result of `build` (then stored for the next process). */
export async function cachedBundle(dir: string, key: string, build: () => Promise<{ code: string }>): Promise<{ code: string }> {
  const file = path.join(dir, `workflows-${key}.js`);
  try {
    return { code: readFileSync(file, 'utf8') };
  } catch {
    /* not cached yet */
  }
  const built = await build();
  try {
    mkdirSync(dir, { recursive: true });
    // Atomic: a concurrent reader sees no file or a whole one.
    const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, built.code);
    renameSync(tmp, file);
    prune(dir);
  } catch {
    /* a read-only install still works, it only bundles every time */
  }
  return built;
}

function prune(dir: string): void {
  const bundles = readdirSync(dir)
    .filter((f) => /^workflows-[0-9a-f]+\.js$/.test(f))
    .map((f) => ({ f, t: statSync(path.join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of bundles.slice(KEEP)) rmSync(path.join(dir, f), { force: true });
}
