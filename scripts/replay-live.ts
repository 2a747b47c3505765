// Replays the histories of a live (or finished) run's workflows against the current workflow code:
// the check before a new worker picks up a long run started by older code.
//   SWIRL_STATE_DIR=... node --import tsx scripts/replay-live.ts RUN_ID [CHILD_SUFFIX ...]
// e.g. scripts/replay-live.ts gsm8k-learn-2 swirl swirl-all   (replays RUN_ID, RUN_ID/swirl, RUN_ID/swirl-all)
import { Worker } from '@temporalio/worker';
import { installQuietRuntime } from '../runtime/clients.js';
import { withClient } from '../runtime/run-client.js';
import { workflowBundle } from '../worker.js';

const [runId, ...children] = process.argv.slice(2);
if (!runId) {
  console.error('usage: replay-live.ts RUN_ID [CHILD_SUFFIX ...]');
  process.exit(2);
}
installQuietRuntime();
const bundle = await workflowBundle();
const failed = await withClient(async (client) => {
  let n = 0;
  for (const id of [runId, ...children.map((c) => `${runId}/${c}`)]) {
    const history = await client.workflow.getHandle(id).fetchHistory();
    try {
      await Worker.runReplayHistory({ workflowBundle: bundle }, history, id);
      console.log(`${id}: ${history.events?.length ?? 0} events replay`);
    } catch (e) {
      n++;
      console.log(`${id}: REPLAY FAILED: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return n;
});
process.exit(failed ? 1 : 0);
