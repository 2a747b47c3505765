// `swirl list`: recent runs, newest first, from Temporal's visibility store.
import { withClient } from '../../runtime/run-client.js';
import { EXIT, SwirlError } from '../../runtime/errors.js';
import { out, printJson } from '../output.js';

export async function listAction(opts: { pipeline?: string; status?: string; limit: string; json?: boolean }, setCode: (c: number) => void): Promise<void> {
  const limit = Number(opts.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new SwirlError('E_USAGE', `--limit must be a positive integer, got ${opts.limit}`);
  await withClient(async (client) => {
    const clauses = [`WorkflowType = 'pipelineWorkflow'`];
    if (opts.pipeline) {
      if (!/^[a-z][a-z0-9-]*$/.test(opts.pipeline)) throw new SwirlError('E_USAGE', `not a pipeline name: ${opts.pipeline}`);
      clauses.push(`SwirlPipeline = '${opts.pipeline}'`);
    }
    if (opts.status) {
      const s = opts.status.toLowerCase();
      const map: Record<string, string> = { running: 'Running', completed: 'Completed', failed: 'Failed', cancelled: 'Canceled', canceled: 'Canceled', terminated: 'Terminated', timedout: 'TimedOut' };
      if (!map[s]) throw new SwirlError('E_USAGE', `unknown status ${opts.status}`, { hint: `statuses: ${Object.keys(map).join(', ')}` });
      clauses.push(`ExecutionStatus = '${map[s]}'`);
    }
    const rows: Array<{ workflowId: string; status: string; pipeline?: string; startTime: string; closeTime?: string }> = [];
    for await (const wf of client.workflow.list({ query: clauses.join(' AND ') })) {
      rows.push({
        workflowId: wf.workflowId,
        status: wf.status.name,
        ...(wf.memo?.pipeline ? { pipeline: String(wf.memo.pipeline) } : {}),
        startTime: wf.startTime.toISOString(),
        ...(wf.closeTime ? { closeTime: wf.closeTime.toISOString() } : {}),
      });
      if (rows.length >= limit) break;
    }
    if (opts.json) printJson(rows);
    else if (rows.length === 0) out('no runs found');
    else {
      const table = [['WORKFLOW ID', 'STATUS', 'PIPELINE', 'STARTED'], ...rows.map((r) => [r.workflowId, r.status, r.pipeline ?? '-', r.startTime])];
      const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
      for (const row of table) out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
    }
    setCode(EXIT.ok);
  });
}
