import { existingRun, withClient } from '../../runtime/run-client.js';
import { EXIT } from '../../runtime/errors.js';
import { buildAudit, formatAudit } from '../audit.js';
import { out, printJson } from '../output.js';
import { describeLedger, ledgerSummary } from '../ledger-summary.js';

export async function historyAction(workflowId: string, opts: { json?: boolean }, setCode: (c: number) => void): Promise<void> {
  await withClient(async (client, target) => {
    const { handle } = await existingRun(client, target, workflowId);
    const history = await handle.fetchHistory();
    const report = buildAudit(workflowId, history.events ?? []);
    const ledger = await ledgerSummary(workflowId).catch(() => undefined);
    if (opts.json) printJson({ ...report, ...(ledger ? { ledger } : {}) });
    else {
      for (const line of formatAudit(report)) out(line);
      if (ledger) for (const line of describeLedger(ledger)) out(line);
    }
    setCode(EXIT.ok);
  });
}
