// `swirl plan FILE --against RUN`: which stages a run of FILE would reuse and
// which would rerun, compared with an earlier run, before anything runs.
import { compileFile } from '../../compiler/index.js';
import { formatErrorReport } from '../../compiler/errors.js';
import { existingRun, withClient } from '../../runtime/run-client.js';
import { runInput } from '../../runtime/run-input.js';
import { EXIT } from '../../runtime/errors.js';
import type { RunSummary } from '../../workflows/types.js';
import { diffPlans } from '../plan-diff.js';
import { err, out, printJson } from '../output.js';

export async function planAgainstAction(file: string, runId: string, opts: { json?: boolean; set?: string[] }, setCode: (c: number) => void): Promise<void> {
  const r = compileFile(file, opts.set?.length ? { overrides: opts.set } : {});
  if (!r.ok) {
    for (const line of formatErrorReport(r.errors, r.source)) err(line);
    setCode(EXIT.badInput);
    return;
  }
  const { input, summary } = await withClient(async (client, target) => {
    const { desc } = await existingRun(client, target, runId);
    return { input: await runInput(client, runId), summary: desc.memo?.swirl as RunSummary | undefined };
  });
  const diff = diffPlans(r.plan, input.plan, summary);
  if (opts.json) printJson({ against: runId, stages: diff });
  else {
    out(`plan of ${file} against run ${runId}:`);
    const w = Math.max(...diff.map((d) => d.id.length));
    for (const d of diff) out(`  ${d.id.padEnd(w)}  ${d.verdict.padEnd(7)}  ${d.reason}`);
    const reruns = diff.filter((d) => d.verdict === 'rerun' || d.verdict === 'new').length;
    out(`${reruns} of ${r.plan.stages.length} stage(s) would run`);
  }
  setCode(EXIT.ok);
}
