// Files a spec names: resolved relative to the spec, confined to the project
// (after following links), and hashed by content so the Plan pins them.
import { accessSync, closeSync, constants, existsSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';

/** Resolves a spec-relative path; returns the absolute path or an error code. */
export function resolveSpecPath(value: string, ctx: { specDir: string; projectRoot: string }): { abs: string } | { error: 'E_PATH_ESCAPE' | 'E_PATH_NOT_FOUND'; detail: string } {
  const root = realpathSync(ctx.projectRoot);
  const abs = path.resolve(ctx.specDir, value);
  const inside = (p: string) => p === root || p.startsWith(root + path.sep);
  if (!inside(path.resolve(realpathSync(ctx.specDir), value))) return { error: 'E_PATH_ESCAPE', detail: `\`${value}\` points outside the project (${root})` };
  if (!existsSync(abs)) return { error: 'E_PATH_NOT_FOUND', detail: `\`${value}\` does not exist (looked for ${abs})` };
  const real = realpathSync(abs);
  if (!inside(real)) return { error: 'E_PATH_ESCAPE', detail: `\`${value}\` is a link to ${real}, outside the project` };
  try {
    if (!statSync(real).isFile()) return { error: 'E_PATH_NOT_FOUND', detail: `\`${value}\` is not a file` };
    accessSync(real, constants.R_OK);
  } catch {
    return { error: 'E_PATH_NOT_FOUND', detail: `\`${value}\` cannot be read` };
  }
  return { abs };
}

const memo = new Map<string, string>();

/**
 * sha256 (hex) of a file's content, read in chunks (model files are large).
 * Remembered per (device, inode, size, mtime, ctime): any write, rename over
 * or swap changes one of them, so a remembered hash is never stale.
 */
export function fileSha256(file: string): string {
  const st = statSync(file);
  const key = `${file}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const h = createHash('sha256');
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  const digest = h.digest('hex');
  if (memo.size > 1000) memo.clear();
  memo.set(key, digest);
  return digest;
}
