// Which models and tools a stage uses: its `model`, the models its judges
// name, its `tools`. Their full definitions are part of the stage's hash.

/** Where a stage may name a judge (a model name or an object), as paths inside the stage. */
export const JUDGE_FIELDS: ReadonlyArray<readonly string[]> = [['processJudge'], ['outcomeJudge'], ['rewardModel'], ['judge'], ['agreement', 'judge']];

export function judgeAt(stage: Record<string, unknown>, p: readonly string[]): unknown {
  let cur: unknown = stage;
  for (const k of p) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined;
  return cur;
}

/** The model and tool names a stage's options refer to, sorted and without repeats. */
export function stageRefs(opts: Record<string, unknown>): { models: string[]; tools: string[] } {
  const models = new Set<string>();
  if (typeof opts.model === 'string') models.add(opts.model);
  for (const f of JUDGE_FIELDS) {
    const j = judgeAt(opts, f);
    if (typeof j === 'string') models.add(j);
    else if (j && typeof j === 'object' && typeof (j as { model?: unknown }).model === 'string') models.add((j as { model: string }).model);
  }
  const tools = new Set<string>();
  if (Array.isArray(opts.tools)) for (const t of opts.tools) if (typeof t === 'string') tools.add(t);
  return { models: [...models].sort(), tools: [...tools].sort() };
}
