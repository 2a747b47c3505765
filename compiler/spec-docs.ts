// Renders docs/spec.md, the language reference, from the JSON Schema and the
// error-code table, so the reference cannot drift from what the compiler
// accepts (a unit test compares the file with this output).
import type { AnySchemaObject } from 'ajv';
import { ERROR_CODES } from './errors.js';
import { pipelineSchema } from './validate.js';
import { STAGE_KINDS } from './stage-kinds.js';

const defs = pipelineSchema.$defs as Record<string, AnySchemaObject>;

function typeOf(s: AnySchemaObject | undefined): string {
  if (!s) return '';
  if (s.$ref) {
    const name = String(s.$ref).replace('#/$defs/', '');
    if (name === 'duration') return 'duration';
    if (name === 'envRef') return '`${env:NAME}`';
    if (name === 'name') return 'name';
    if (name === 'stage') return '[stage](#stages)';
    return `[${name}](#${name.toLowerCase()})`;
  }
  if (s.const !== undefined) return `\`${JSON.stringify(s.const)}\``;
  if (s.enum) return (s.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  if (s.oneOf) return (s.oneOf as AnySchemaObject[]).map(typeOf).join(' or ');
  if (s.type === 'array') return `list of ${typeOf(s.items as AnySchemaObject)}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return `map of ${typeOf(s.additionalProperties as AnySchemaObject)}`;
  const t = String(s.type ?? '');
  const range: string[] = [];
  if (s.minimum !== undefined) range.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) range.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) range.push(`≤ ${s.maximum}`);
  return range.length ? `${t} (${range.join(', ')})` : t;
}

function cell(text: string | undefined): string {
  return (text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function fieldTable(schema: AnySchemaObject, skip: string[] = []): string[] {
  const props = { ...((schema.$ref ? (defs[String(schema.$ref).replace('#/$defs/', '')]?.properties as object) : {}) ?? {}), ...((schema.properties as object) ?? {}) } as Record<string, AnySchemaObject>;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  const rows = ['| field | type | required | description |', '| --- | --- | --- | --- |'];
  for (const [name, p] of Object.entries(props)) {
    if (skip.includes(name)) continue;
    const desc = p.description ?? (p.$ref ? defs[String(p.$ref).replace('#/$defs/', '')]?.description : undefined);
    rows.push(`| \`${name}\` | ${typeOf(p)} | ${required.has(name) ? 'yes' : ''} | ${cell(desc as string | undefined)} |`);
  }
  return rows;
}

export function renderSpecDocs(): string {
  const lines: string[] = [];
  lines.push('# The pipeline language (swirl/v1)', '');
  lines.push('<!-- Generated from schemas/pipeline.schema.json by `npm run docs`. Do not edit by hand: a test fails when it drifts. -->', '');
  lines.push(String(pipelineSchema.description), '');
  lines.push('A spec is one YAML document. `swirl validate` reports every problem at once as `file:line:col  CODE  message  (hint)`; `swirl plan` shows the compiled Plan. File paths are relative to the spec file and must stay inside the project (the nearest folder above the spec holding `package.json` or `.git`). Secrets are never written in a spec: use `${env:NAME}`, resolved on the worker when an activity runs.', '');
  lines.push(
    '## What a spec may do (trust model)',
    '',
    'A spec is code, like a CI config or a Makefile: review a spec from someone else before you run it.',
    '',
    '- `swirl validate` and `swirl plan` (also with `--set` and `--json`) only read the spec and the files it names (prompt, corpus, id lists, data sets; confined to the project); `plan`\'s cost estimate also reads the model speeds in `docs/models-results/` and the LLM call ledger (read-only). They never execute anything from the spec, never start an MCP server, never resolve `${env:…}` values and never open a network connection (except `plan --against`, which asks Temporal for the earlier run; a test runs them on a spec whose MCP command would leave a marker file and whose URLs point at a listener, and checks that neither is touched).',
    '- `swirl run`, `swirl worker`, `swirl rerun` and `swirl tool` act on what the spec says: an MCP tool\'s `server` command line is started (in the spec\'s folder, with the variables its `env` names) when a rollout or `swirl tool` first uses the tool; model `baseUrl`s and MCP URLs are contacted with the keys from the `${env:NAME}` references; the trainer runs on the worker. Run specs you did not write with workers whose environment holds only the keys the spec needs.',
    '- Limits hold on every command: paths stay inside the project, secrets never appear in a spec, Plan or history (only variable names), a spec is at most 1 MiB, nests at most 64 levels and expands at most 100 aliases, and `--set` refuses `__proto__`, `constructor` and `prototype` segments and keys over 64 segments.',
    '',
  );
  lines.push(
    '## Prompts, judges and where things are',
    '',
    '- **Prompt templates** (`prompt:` of rollout and evaluate stages, a file next to the spec) may use `{{task}}` (a one-line task: "Solve the following math word problem." with the calculator alone, "Answer the following question." otherwise), `{{tools}}` (how to call each tool of the stage, with its action tag and an example), `{{maxSteps}}` and `{{question}}`. Without `prompt:` swirl uses its own template with all four.',
    '- **Matchers** (`{matcher: …}` as a judge): `exact` (normalized text equal), `numeric` (the number the answer states equals the gold number: parenthesised working is ignored, and with `=` the result after it counts, so `72 clips (48+24)` and `48 + 24 = 72` both read as 72), `f1` (token F1 at least `threshold`, default 0.5). They judge final answers only: as a `processJudge`, `agreement.judge` or `rewardModel` they would pass every tool step, and the compiler refuses them there (`E_MATCHER_PROCESS_JUDGE`). In evaluate stages a prediction counts when it matches the gold answer or any alias the data set gives (`answer_aliases` in MuSiQue); a filter\'s outcome judge compares with the gold answer only.',
    '- **Process judges**: `{matcher: gsm8k-reference}` judges GSM8K steps against the worked solution (a calculation is GOOD when its result is a value of the solution the conversation has not computed yet, so repeats and bare numbers in math tags are BAD; the answer by the gold number); an LLM judge (the name of a model, with an optional `prompt` file) judges any data set, including search data sets (HotPotQA, MuSiQue), where no reference judge exists.',
    '- **Unreadable verdicts**: an LLM judge\'s output without a GOOD/BAD (process) or YES/NO (outcome) verdict counts as BAD / NO, with the reason `no GOOD/BAD verdict in the judge\'s output` recorded on the step.',
    '- **Filter modes**: `process` keeps a trajectory when every step is GOOD; `outcome` when its final answer is judged correct; `process+outcome` when both — the outcome judge is asked only about trajectories that passed the process check (no calls for the rest). `keepStatuses` drops trajectories by how they ended before any judge is asked.',
    // runtime/paths.ts decides these places; tests/unit/spec-docs.test.ts checks this sentence against swirlPaths().
    '- **Where things are**: the state dir is `.swirl/` in the swirl checkout (the folder of swirl\'s `package.json`, not the spec\'s project), or the folder `SWIRL_STATE_DIR` names: artifacts, the LLM call ledger (`ledger.db`, or the file `SWIRL_LEDGER` names), the embedded server\'s SQLite state (`temporal.db`, `server.json`), and reports (`reports/<run id>.html`, written by a report stage or `swirl report`). Embedded models belong to the installation, not to the state: they are found by name in `.swirl/models/` of the swirl checkout, or in the folder `SWIRL_MODELS_DIR` names; `SWIRL_STATE_DIR` does not move them (nor the workflow bundle cache, `.swirl/bundles/` or `SWIRL_BUNDLE_DIR`). A model given as a path is relative to the spec and must stay inside the project.',
    '',
  );
  lines.push('## Top level', '', ...fieldTable(pipelineSchema), '');
  lines.push('### metadata', '', ...fieldTable(pipelineSchema.properties.metadata as AnySchemaObject), '');
  lines.push('### defaults', '', ...fieldTable(pipelineSchema.properties.defaults as AnySchemaObject), '');
  lines.push('Built-in defaults: `timeout: 10m`, `concurrency: 4`, `retry: {maxAttempts: 5, initialInterval: 1s, backoff: 2, maxInterval: 1m}`.', '');
  lines.push('### retry', '', ...fieldTable(defs.retry!), '');
  lines.push('### model', '', ...fieldTable(defs.model!), '');
  lines.push('### tool', '', ...fieldTable(defs.tool!), '');
  lines.push('## Stages', '', 'Every stage has these fields; `input` defines the graph (order in the file does not matter).', '', ...fieldTable(defs.stageCommon!, ['type']), '');
  lines.push('| type | consumes | produces |', '| --- | --- | --- |');
  for (const [type, info] of Object.entries(STAGE_KINDS)) lines.push(`| \`${type}\` | ${info.accepts.length ? info.accepts.join(', ') : '—'} | ${info.output} |`);
  lines.push('');
  for (const type of Object.keys(STAGE_KINDS)) {
    const def = defs[`${type}Stage`]!;
    lines.push(`### ${type}Stage`, '', String(def.description ?? ''), '', ...fieldTable(def, ['type', ...Object.keys((defs.stageCommon!.properties as object) ?? {})]), '');
  }
  lines.push('### judgeRef', '', 'Either the name of a model (an LLM judge) or an object:', '', ...fieldTable((defs.judgeRef!.oneOf as AnySchemaObject[])[1]!), '');
  lines.push('## Durations', '', 'A number and a unit: `500ms`, `30s`, `10m`, `2h`, `1d`.', '');
  lines.push('## Error codes', '', '| code | meaning |', '| --- | --- |');
  for (const [code, meaning] of Object.entries(ERROR_CODES)) lines.push(`| \`${code}\` | ${meaning} |`);
  lines.push('');
  return lines.join('\n');
}
