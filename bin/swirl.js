#!/usr/bin/env node
// The `swirl` command. Source is TypeScript, loaded through tsx's ESM hook.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/main.ts');
const code = await main(process.argv.slice(2));
// process.exit drops what a pipe has not taken yet (a large `--json` report
// was cut at a few hundred KB): wait until stdout and stderr are flushed.
// A reader that went away (`swirl … | head`) ends the wait too.
const flushed = (stream) =>
  new Promise((resolve) => {
    if (stream.writableLength === 0 || stream.destroyed) return resolve();
    stream.once('error', () => resolve());
    stream.write('', () => resolve());
  });
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit(code);
