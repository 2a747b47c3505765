// What the train stage does when there is nothing to train on (common with a
// tiny policy: the filter keeps nothing): a non-retryable DataError that says
// the yield of the stages before it (trajectories and steps in and out, drops
// by reason) and what to change, so no retry is spent on it and the run fails
// with a message a user can act on.
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { prepareTrainBatches } from '../../activities/train.js';
import type { PlanStage } from '../../compiler/plan-types.js';
import { MemoryArtifactStore } from '../../store/artifacts.js';
import { trainInputYield, type StageYield } from '../../workflows/train-yield.js';
import type { StageState } from '../../workflows/types.js';

async function failure(upstream?: StageYield[]): Promise<ApplicationFailure> {
  const store = new MemoryArtifactStore();
  const steps = await store.put('steps', []);
  const err = await prepareTrainBatches(store, { steps, batchStates: 1, epochs: 1, seed: 0, ...(upstream ? { upstream } : {}) }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  const f = err as ApplicationFailure;
  expect(f.nonRetryable).toBe(true);
  expect(f.type).toBe('DataError');
  expect(f.message).toMatch(/^no states to train on: the input steps artifact is empty/);
  return f;
}

const decomposed: StageYield = { stage: 'steps', type: 'decompose', trajectoriesIn: 4, trajectoriesOut: 3, stepsOut: 7, dropped: { 'no action': 1 } };

describe('train input', () => {
  it('an empty steps artifact without upstream numbers (a run started before them) fails with the general hint', async () => {
    const f = await failure();
    expect(f.message).toMatch(/no states to train on.*did the filter keep nothing/);
    expect(f.details).toEqual(['loosen the filter (mode, keepStatuses) or generate more rollouts']);
  });

  it('a process filter that kept nothing: the yield of decompose and filter, by reason, and a hint', async () => {
    const f = await failure([decomposed, { stage: 'filtered', type: 'filter', mode: 'process', trajectoriesIn: 3, trajectoriesOut: 0, stepsIn: 7, stepsOut: 0, dropped: { 'status:max_steps': 1, process: 2 } }]);
    expect(f.message).toBe(
      'no states to train on: the input steps artifact is empty (decompose `steps`: 3 of 4 trajectories had an action (7 steps; dropped: no action 1); ' +
        'filter `filtered` (process): kept 0 of 3 trajectories (0 of 7 steps; dropped: process 2, status:max_steps 1))',
    );
    expect(f.details).toEqual(['no trajectory had every step judged GOOD by the process judge of filter `filtered`: use a stronger policy, more samples or questions, `mode: outcome`, or train on every decomposed step (`input: steps` in the train stage)']);
  });

  it('keepStatuses that admit no trajectory: the hint names the statuses', async () => {
    const f = await failure([decomposed, { stage: 'kept', type: 'filter', mode: 'process', trajectoriesIn: 3, trajectoriesOut: 0, stepsIn: 7, stepsOut: 0, dropped: { 'status:answered': 3 } }]);
    expect(f.message).toContain('filter `kept` (process): kept 0 of 3 trajectories (0 of 7 steps; dropped: status:answered 3)');
    expect(String(f.details![0])).toMatch(/^`keepStatuses` of filter `kept` admits none of the trajectories \(status:answered 3\): add their statuses, or train on every decomposed step/);
  });

  it('an outcome filter that kept nothing', async () => {
    const f = await failure([decomposed, { stage: 'filtered', type: 'filter', mode: 'outcome', trajectoriesIn: 3, trajectoriesOut: 0, stepsIn: 7, stepsOut: 0, dropped: { outcome: 3 } }]);
    expect(String(f.details![0])).toMatch(/outcome judge of filter `filtered` found no correct final answer/);
  });

  it('no parseable action at all: decompose made no steps, the hint is about the policy', async () => {
    const f = await failure([{ stage: 'steps', type: 'decompose', trajectoriesIn: 2, trajectoriesOut: 0, stepsOut: 0, dropped: { 'no action': 2 } }]);
    expect(f.message).toContain('decompose `steps`: 0 of 2 trajectories had an action (0 steps; dropped: no action 2)');
    expect(String(f.details![0])).toMatch(/^the policy wrote no action the protocol parses/);
  });

  it('the workflow reads the yield from the stage states, nearest the rollouts first', () => {
    const stage = (id: string, type: string, inputs: string[]) => ({ id, type, inputs, config: {} }) as unknown as PlanStage;
    const stages = [stage('q', 'dataset', []), stage('rollouts', 'rollout', ['q']), stage('steps', 'decompose', ['rollouts']), stage('filtered', 'filter', ['steps']), stage('trained', 'train', ['filtered'])];
    const states = [
      { id: 'rollouts', type: 'rollout', status: 'completed', stats: { answered: 3 } },
      { id: 'steps', type: 'decompose', status: 'completed', stats: { trajectories: 4, steps: 7, empty: 1, byKind: {}, stepsHistogram: {} } },
      { id: 'filtered', type: 'filter', status: 'completed', stats: { mode: 'process', trajectoriesIn: 3, stepsIn: 7, kept: 0, keptSteps: 0, dropped: { process: 2, 'status:max_steps': 1 }, goodRates: [0.5] } },
    ] as StageState[];
    expect(trainInputYield(stages, states, 'filtered')).toEqual([
      decomposed,
      { stage: 'filtered', type: 'filter', mode: 'process', trajectoriesIn: 3, trajectoriesOut: 0, stepsIn: 7, stepsOut: 0, dropped: { process: 2, 'status:max_steps': 1 } },
    ]);
    // Training on the decomposed steps directly: only decompose's yield.
    expect(trainInputYield(stages, states, 'steps')).toEqual([decomposed]);
    // Stats unknown (a stage without them): nothing to say.
    expect(trainInputYield(stages, [], 'filtered')).toEqual([]);
  });
});
