import type { Command } from 'commander';
import { compileFile } from '../../compiler/index.js';
import { formatErrorReport } from '../../compiler/errors.js';
import { planJson } from '../../compiler/plan.js';
import { pipelineSchema } from '../../compiler/validate.js';
import { EXIT } from '../../runtime/errors.js';
import { redact } from '../../runtime/redact.js';
import { out, err, printJson, color, shortHash } from '../output.js';
import { estimatePlan, formatEstimate } from '../estimate.js';
import type { Plan } from '../../compiler/plan-types.js';

/** The cost estimate of `plan`, with the inputs it was made from. */
async function planEstimate(plan: Plan, projectRoot: string) {
  const { estimateInputs } = await import('../estimate-sources.js');
  const { packageRoot, swirlPaths } = await import('../../runtime/paths.js');
  const inputs = estimateInputs(plan, projectRoot, { packageRoot, ledger: swirlPaths().ledger });
  return { est: estimatePlan(plan, inputs), inputs };
}

/** Commander collector for the repeatable `--set KEY=VALUE`. */
export function collectSet(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

export function overrideOptions(set: string[] | undefined): { overrides?: string[] } {
  return set?.length ? { overrides: set } : {};
}

export function registerValidate(program: Command, setCode: (c: number) => void): void {
  program
    .command('validate')
    .description('check pipeline specs and report every error with its position')
    .argument('<files...>', 'pipeline spec files (YAML)')
    .option('--json', 'print { ok, files: [{ file, ok, errors }] } as JSON')
    .option('--set <key=value>', 'override a spec value before validation, as `swirl run --set` does (repeatable)', collectSet)
    .action((files: string[], opts: { json?: boolean; set?: string[] }) => {
      const results = files.map((f) => compileFile(f, overrideOptions(opts.set)));
      const ok = results.every((r) => r.ok);
      if (opts.json) {
        printJson({ ok, errors: results.flatMap((r) => (r.ok ? [] : r.errors)), files: results.map((r) => ({ file: r.file, ok: r.ok, errors: r.ok ? [] : r.errors })) });
      } else {
        for (const r of results) {
          if (r.ok) out(`${color.green('ok')}  ${r.file}  (${r.plan.stages.length} stage${r.plan.stages.length === 1 ? "" : "s"}, spec ${shortHash(r.plan.specHash)})`);
          else {
            for (const line of formatErrorReport(r.errors, r.source)) err(line);
            err(`${color.red('invalid')}  ${r.file}: ${r.errors.length} error${r.errors.length === 1 ? '' : 's'}`);
          }
        }
      }
      setCode(ok ? EXIT.ok : EXIT.badInput);
    });

  program
    .command('plan')
    .description('compile a spec and print its Plan (the IR the workflow runs)')
    .argument('<file>', 'pipeline spec file (YAML)')
    .option('--json', 'print the Plan as canonical JSON')
    .option('--estimate', 'with --json: print { plan, estimate } (the cost estimate the text output ends with)')
    .option('--no-estimate', 'leave out the cost estimate (episodes, model and judge calls, tokens, time)')
    .option('--against <workflowId>', 'say which stages would rerun compared with an earlier run, and why')
    .option('--set <key=value>', 'override a spec value before validation, as `swirl run --set` does (repeatable)', collectSet)
    .action(async (file: string, opts: { json?: boolean; estimate?: boolean; against?: string; set?: string[] }) => {
      if (opts.against) return (await import('./plan-against.js')).planAgainstAction(file, opts.against, opts, setCode);
      const r = compileFile(file, overrideOptions(opts.set));
      if (!r.ok) {
        for (const line of formatErrorReport(r.errors, r.source)) err(line);
        setCode(EXIT.badInput);
        return;
      }
      // `--json` alone stays the Plan, byte for byte (canonical, schema-valid); the
      // estimate reads machine-dependent speeds, so it is asked for by name.
      const wantsEstimate = opts.json ? opts.estimate === true : opts.estimate !== false;
      const estimate = wantsEstimate ? await planEstimate(r.plan, r.projectRoot) : undefined;
      if (opts.json) {
        if (estimate) process.stdout.write(redact(JSON.stringify({ plan: JSON.parse(planJson(r.plan)), estimate: estimate.est }, null, 2)) + '\n');
        else process.stdout.write(redact(planJson(r.plan)));
      } else {
        out(`pipeline ${r.plan.pipeline.name}  plan v${r.plan.planVersion}  spec ${shortHash(r.plan.specHash)}`);
        const rows = r.plan.stages.map((s) => [s.id, s.type, s.inputs.join(',') || '-', s.outputKind, shortHash(s.hash), s.cache ? '' : 'no-cache']);
        const head = ['STAGE', 'TYPE', 'INPUTS', 'OUTPUT', 'HASH', ''];
        const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
        for (const row of [head, ...rows]) out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
        if (estimate) for (const line of formatEstimate(r.plan, estimate.est, estimate.inputs)) out(line.startsWith('warning:') ? color.yellow(line) : line);
      }
      setCode(EXIT.ok);
    });

  program
    .command('schema')
    .description('print the pipeline JSON Schema (the public contract editors use)')
    .action(() => {
      out(JSON.stringify(pipelineSchema, null, 2));
      setCode(EXIT.ok);
    });
}
