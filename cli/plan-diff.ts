// What would rerun: compares a new Plan with the Plan of an earlier run,
// stage by stage, by content hash (a stage's hash covers its type, config with
// file hashes, the models and tools it uses and the hashes of its inputs, so a
// change flows down to every descendant).
import type { Plan } from '../compiler/plan-types.js';
import { stageRefs } from '../compiler/stage-refs.js';
import type { RunSummary } from '../workflows/types.js';

export interface StageDiff {
  id: string;
  verdict: 'reuse' | 'rerun' | 'new' | 'removed';
  reason: string;
}

export function diffPlans(next: Plan, prev: Plan, prevSummary?: RunSummary): StageDiff[] {
  const before = new Map(prev.stages.map((s) => [s.id, s]));
  const done = new Map((prevSummary?.stages ?? []).map((s) => [s.id, s.status]));
  const out: StageDiff[] = [];
  const changed = new Set<string>();
  for (const s of next.stages) {
    const old = before.get(s.id);
    if (!old) {
      out.push({ id: s.id, verdict: 'new', reason: 'not in the earlier run' });
      changed.add(s.id);
      continue;
    }
    if (old.hash === s.hash) {
      const status = done.get(s.id);
      if (!s.cache) out.push({ id: s.id, verdict: 'rerun', reason: 'cache: false' });
      else if (prevSummary && status !== 'completed') out.push({ id: s.id, verdict: 'rerun', reason: `unchanged, but it ${status ?? 'did not run'} in the earlier run` });
      else out.push({ id: s.id, verdict: 'reuse', reason: 'unchanged: its cached output is reused' });
      continue;
    }
    changed.add(s.id);
    const reasons: string[] = [];
    if (old.type !== s.type) reasons.push(`type ${old.type} → ${s.type}`);
    const keys = new Set([...Object.keys(old.config), ...Object.keys(s.config)]);
    const cfg = [...keys].filter((k) => JSON.stringify(old.config[k]) !== JSON.stringify(s.config[k]));
    if (cfg.length) reasons.push(`config changed: ${cfg.join(', ')}`);
    // The models and tools the stage uses, compared by definition (model files and corpora by content).
    const uses = stageRefs(s.config);
    for (const [what, names, a, b] of [
      ['model', uses.models, prev.models, next.models],
      ['tool', uses.tools, prev.tools, next.tools],
    ] as const) {
      for (const n of names) {
        const was = (a as Record<string, Record<string, unknown> | undefined>)[n];
        const now = (b as Record<string, Record<string, unknown> | undefined>)[n];
        if (!was || !now) continue;
        const fields = [...new Set([...Object.keys(was), ...Object.keys(now)])].filter((k) => JSON.stringify(was[k]) !== JSON.stringify(now[k])).sort();
        if (fields.length) reasons.push(`${what} ${n} changed: ${fields.join(', ')}`);
      }
    }
    const ups = s.inputs.filter((i) => changed.has(i));
    if (ups.length) reasons.push(`input${ups.length > 1 ? 's' : ''} ${ups.join(', ')} will change`);
    if (JSON.stringify(old.inputs) !== JSON.stringify(s.inputs)) reasons.push(`inputs ${old.inputs.join(',') || '-'} → ${s.inputs.join(',') || '-'}`);
    out.push({ id: s.id, verdict: 'rerun', reason: reasons.join('; ') || 'hash changed (a newer swirl implements or hashes this stage differently)' });
  }
  for (const s of prev.stages) if (!next.stages.some((n) => n.id === s.id)) out.push({ id: s.id, verdict: 'removed', reason: 'not in the new spec' });
  return out;
}

/** The Plan with `from` and everything downstream of it marked uncached. */
export function forceFrom(plan: Plan, from: string): Plan {
  const copy = structuredClone(plan);
  const force = new Set([from]);
  for (const s of copy.stages) if (s.inputs.some((i) => force.has(i))) force.add(s.id);
  for (const s of copy.stages) if (force.has(s.id)) s.cache = false;
  return copy;
}
