// `swirl show RUN STAGE [-n N] [--id ID] [--json]`: a few rows of a stage's output.
import { FsArtifactStore } from '../../store/artifacts.js';
import { swirlPaths } from '../../runtime/paths.js';
import { existingRun, withClient } from '../../runtime/run-client.js';
import { EXIT, SwirlError } from '../../runtime/errors.js';
import type { PipelineProgress, PipelineResult, RunSummary, StageState } from '../../workflows/types.js';
import { out, printJson } from '../output.js';
import { rowIds, showHeader, showRow } from '../show.js';

export async function showAction(workflowId: string, stageId: string, opts: { n?: string; id?: string; json?: boolean }, setCode: (c: number) => void): Promise<void> {
  const n = opts.n === undefined ? 3 : Number(opts.n);
  if (!Number.isInteger(n) || n < 1) throw new SwirlError('E_BAD_FLAG', `-n must be a whole number of rows, 1 or more (got ${opts.n})`, { hint: 'for example: swirl show RUN rollouts -n 5' });
  await withClient(async (client, target) => {
    const { handle, desc } = await existingRun(client, target, workflowId);
    let stages: Array<Pick<StageState, 'id' | 'type' | 'status' | 'output' | 'stats'>> = [];
    const summary = desc.memo?.swirl as RunSummary | undefined;
    if (summary) stages = summary.stages;
    else if (desc.status.name === 'COMPLETED') stages = ((await handle.result()) as PipelineResult).stages;
    else if (desc.status.name === 'RUNNING') {
      const p = await Promise.race([handle.query<PipelineProgress>('progress').catch(() => undefined), new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000).unref())]);
      stages = p?.stages ?? [];
    }
    const stage = stages.find((s) => s.id === stageId);
    if (!stage) {
      throw new SwirlError('E_NO_SUCH_STAGE', `run ${workflowId} has no stage "${stageId}"${stages.length ? '' : ' that this command can read (no worker answered, or the run has no stages yet)'}`, {
        hint: stages.length ? `its stages: ${stages.map((s) => s.id).join(', ')}` : '`swirl status RUN` shows the run',
      });
    }
    if (!stage.output) throw new SwirlError('E_NO_OUTPUT', `stage ${stageId} has no output yet (${stage.status})`, { hint: `\`swirl status ${workflowId}\` shows how far the run is` });
    const store = new FsArtifactStore(swirlPaths().artifacts);
    const rows: unknown[] = [];
    let total = 0;
    try {
      for await (const row of store.read(stage.output)) {
        total++;
        if (rows.length >= n) continue;
        if (opts.id === undefined || rowIds(row).includes(opts.id)) rows.push(row);
      }
    } catch (e) {
      throw new SwirlError('E_ARTIFACT_UNREADABLE', `cannot read the output of ${stageId} (artifact ${stage.output.hash.slice(0, 12)}): ${(e as Error).message}`, {
        hint: 'artifacts live in this machine\'s state dir (SWIRL_STATE_DIR); run the command where the run\'s workers wrote them',
        exitCode: EXIT.environment,
      });
    }
    if (opts.id !== undefined && rows.length === 0) throw new SwirlError('E_NO_SUCH_ROW', `no row of ${stageId} has the id ${opts.id}`, { hint: `\`swirl show ${workflowId} ${stageId}\` lists the first rows with their ids` });
    if (opts.json) printJson({ workflowId, stage: stageId, kind: stage.output.kind, artifact: stage.output.hash, rows: stage.output.rows, shown: rows });
    else {
      out(showHeader(stageId, { ...stage, output: stage.output }, rows.length, opts.id));
      for (const row of rows) {
        out('');
        for (const line of showRow(stage.output.kind, row)) out(line);
      }
      if (opts.id === undefined && total > rows.length) out(`\n(${total - rows.length} more; -n N shows more, --id ID one row, --json the raw rows)`);
    }
    setCode(EXIT.ok);
  });
}
