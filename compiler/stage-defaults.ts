// The defaults a stage runs with when its spec leaves an option out, filled
// into the Plan so a stage's hash covers what actually runs (writing a default
// out gives the same hash as leaving it out). The workflow resolves the same
// values (workflows/stages/*.ts, workflows/train-settings.ts); a unit test
// (tests/unit/plan-hash.test.ts) keeps both sides in step.
import type { StageType } from './stage-kinds.js';

type Options = Record<string, unknown>;

const isObject = (v: unknown): v is Options => !!v && typeof v === 'object' && !Array.isArray(v);

function fill(opts: Options, defaults: Options): Options {
  const out: Options = { ...opts };
  for (const [k, v] of Object.entries(defaults)) if (out[k] === undefined) out[k] = v;
  return out;
}

/** `opts` (a stage's options, without the common fields) with this version's defaults filled in. */
export function withStageDefaults(type: StageType, opts: Options): Options {
  switch (type) {
    case 'dataset':
      return fill(opts, { offset: 0 });
    case 'rollout':
      return fill(opts, { samples: 5, maxSteps: 5, protocol: 'tags' });
    case 'evaluate':
      return fill(opts, { maxSteps: 5, protocol: 'tags' });
    case 'filter':
      return fill(opts, { keepStatuses: ['answered'] });
    case 'train': {
      const out = fill(opts, { objective: 'swirl', samplesPerState: 4, learningRate: 1e-5, batchStates: 64, epochs: 1, klBeta: 0.05, baseline: 'rloo', gradClip: 1.0, importanceClip: 2, seed: 0 });
      const lora = isObject(opts.lora) ? opts.lora : {};
      const rank = typeof lora.rank === 'number' ? lora.rank : 16;
      out.lora = fill(lora, { rank, alpha: 2 * rank, dropout: 0 });
      return out;
    }
    default:
      return opts;
  }
}
