import { existingRun, withClient } from '../../runtime/run-client.js';
import { EXIT, SwirlError } from '../../runtime/errors.js';
import { buildAudit, buildRunAudit, childIds, formatAudit, formatChildren } from '../audit.js';
import { out, printJson } from '../output.js';
import { describeLedger, ledgerSummary } from '../ledger-summary.js';

export async function historyAction(workflowId: string, opts: { json?: boolean; child?: string }, setCode: (c: number) => void): Promise<void> {
  await withClient(async (client, target) => {
    const { handle } = await existingRun(client, target, workflowId);
    const events = async (id: string) => (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
    const root = buildAudit(workflowId, (await handle.fetchHistory()).events ?? []);
    const run = await buildRunAudit(root, events);
    if (opts.child) {
      // One child workflow in full: the run's own (fan-out, shard, train loop).
      const child = run.children.find((c) => c.workflowId === opts.child || c.workflowId === `${workflowId}/${opts.child}`);
      if (!child) {
        throw new SwirlError('E_NO_SUCH_CHILD', `${opts.child} is not a child workflow of ${workflowId}`, {
          hint: run.children.length ? `its child workflows: ${run.children.slice(0, 5).map((c) => c.workflowId).join(', ')}${run.children.length > 5 ? ` and ${run.children.length - 5} more` : ''}` : 'this run started no child workflows',
        });
      }
      const report = buildAudit(child.workflowId, await events(child.workflowId));
      if (opts.json) printJson({ ...report, parent: child.parent, children: childIds(report) });
      else for (const line of formatAudit(report)) out(line);
      setCode(EXIT.ok);
      return;
    }
    const ledger = await ledgerSummary(workflowId).catch(() => undefined);
    if (opts.json) printJson({ ...run, ...(ledger ? { ledger } : {}) });
    else {
      for (const line of formatAudit(run)) out(line);
      for (const line of formatChildren(run)) out(line);
      if (ledger) for (const line of describeLedger(ledger)) out(line);
    }
    setCode(EXIT.ok);
  });
}
