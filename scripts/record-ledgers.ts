// Re-records the LLM call ledgers under tests/fixtures/ledgers/ that
// integration tests replay (tests/integration/fixtures/recorded-ledgers.ts
// lists them with their runs and --set overrides), on the real embedded model
// of this machine. Run it when a test says its recording is stale (a prompt,
// protocol, pipeline or override changed the requests):
//   node --import tsx scripts/record-ledgers.ts [name…]     (default: all)
// It starts its own Temporal dev server and state dir, runs each recording's
// pipelines with a fresh ledger, refuses a recording in which a stage did not
// complete, and writes the ledger's calls as JSONL.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDevServer } from '../runtime/devserver.js';
import { packageRoot, swirlPaths } from '../runtime/paths.js';
import { exportLedger, RECORDINGS } from '../tests/integration/fixtures/recorded-ledgers.js';

const names = process.argv.slice(2);
const unknown = names.filter((n) => !(n in RECORDINGS));
if (unknown.length) {
  console.error(`unknown recording(s): ${unknown.join(', ')} (known: ${Object.keys(RECORDINGS).join(', ')})`);
  process.exit(2);
}
const dir = mkdtempSync(path.join(tmpdir(), 'swirl-record-ledgers-'));
const server = await startDevServer({ binary: swirlPaths().temporalBin, uiPort: false, dbFile: path.join(dir, 'temporal.db'), logFile: path.join(dir, 'temporal.log') });
try {
  for (const name of names.length ? names : Object.keys(RECORDINGS)) {
    const rec = RECORDINGS[name as keyof typeof RECORDINGS];
    const ledger = path.join(dir, `${name}.db`);
    let failed = false;
    for (const run of rec.runs) {
      const t0 = Date.now();
      const r = spawnSync(process.execPath, [path.join(packageRoot, 'bin', 'swirl.js'), 'run', run.file, '--json', ...run.sets.flatMap((s) => ['--set', s])], {
        cwd: packageRoot,
        env: { ...process.env, CI: 'true', TEMPORAL_ADDRESS: server.address, SWIRL_STATE_DIR: path.join(dir, `${name}-state`), SWIRL_LEDGER: ledger },
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      });
      const stages = r.status === 0 ? (JSON.parse(r.stdout) as { stages: Array<{ id: string; status: string }> }).stages : [];
      const notDone = stages.filter((s) => s.status !== 'completed').map((s) => `${s.id}=${s.status}`);
      console.log(`${name}: ${run.file}: exit ${r.status}, ${((Date.now() - t0) / 1000).toFixed(0)} s${notDone.length ? `, not completed: ${notDone.join(' ')}` : ''}`);
      if (r.status !== 0 || notDone.length > 0) {
        console.error(r.stderr.slice(-4000));
        failed = true;
        break;
      }
    }
    if (failed) {
      console.error(`${name}: not recorded, a run did not complete (${path.relative(packageRoot, rec.file)} unchanged)`);
      process.exitCode = 1;
    } else console.log(`${name}: wrote ${exportLedger(ledger, rec)} calls to ${path.relative(packageRoot, rec.file)}`);
  }
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
