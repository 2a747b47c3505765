import { existingRun, withClient } from '../../runtime/run-client.js';
import { EXIT } from '../../runtime/errors.js';
import { buildAudit, formatAudit } from '../audit.js';
import { out, printJson } from '../output.js';

export async function historyAction(workflowId: string, opts: { json?: boolean }, setCode: (c: number) => void): Promise<void> {
  await withClient(async (client, target) => {
    const { handle } = await existingRun(client, target, workflowId);
    const history = await handle.fetchHistory();
    const report = buildAudit(workflowId, history.events ?? []);
    if (opts.json) printJson(report);
    else for (const line of formatAudit(report)) out(line);
    setCode(EXIT.ok);
  });
}
