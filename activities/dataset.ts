// The dataset stage's activity: read a JSONL file from the project, check it
// is the file the Plan was compiled against (so is the ids file), select rows, store them.
import { ApplicationFailure } from '@temporalio/common';
import type { ArtifactStore } from '../store/artifacts.js';
import { readPinned } from '../store/pinned-files.js';
import type { ArtifactRef } from '../store/artifact-ref.js';
import { toQuestion, RowError, type DatasetFormat, type Question } from './dataset-formats.js';
import { seededShuffle } from './rng.js';

export interface DatasetConfig {
  path: string;
  pathSha256: string;
  format: DatasetFormat;
  split?: string;
  levels?: string[];
  /** Project-relative file of question ids (one per line): keep exactly these, in file order. */
  ids?: string;
  idsSha256?: string;
  fields?: { id?: string; question: string; answer: string };
  seed?: number;
  offset: number;
  limit?: number;
}

export interface LoadDatasetInput {
  stageId: string;
  projectRoot: string;
  config: DatasetConfig;
}

export async function loadDataset(store: ArtifactStore, input: LoadDatasetInput): Promise<ArtifactRef> {
  const { config } = input;
  // The file the Plan pinned, or E_FILE_CHANGED (edited, replaced by a link out of the project, removed).
  const bytes = readPinned(input.projectRoot, config.path, config.pathSha256, `stage ${input.stageId}`);
  const questions: Question[] = [];
  const lines = bytes.toString('utf8').split('\n');
  let index = 0;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim();
    if (!text) continue;
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      throw ApplicationFailure.nonRetryable(`stage ${input.stageId}: ${config.path}:${i + 1}: not valid JSON`, 'DatasetInvalid');
    }
    if (!row || typeof row !== 'object' || Array.isArray(row)) throw ApplicationFailure.nonRetryable(`stage ${input.stageId}: ${config.path}:${i + 1}: a row must be a JSON object`, 'DatasetInvalid');
    try {
      const q = toQuestion(row as Record<string, unknown>, index, i + 1, config);
      if (q) questions.push(q);
    } catch (err) {
      if (err instanceof RowError) throw ApplicationFailure.nonRetryable(`stage ${input.stageId}: ${config.path}:${err.line}: ${err.message}`, 'DatasetInvalid');
      throw err;
    }
    index++;
  }
  let pool = questions;
  if (config.ids) {
    const wanted = readPinned(input.projectRoot, config.ids, config.idsSha256, `stage ${input.stageId}`)
      .toString('utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
    const byId = new Map(questions.map((q) => [q.id, q]));
    const missing = wanted.filter((id) => !byId.has(id));
    if (missing.length > 0) {
      throw ApplicationFailure.nonRetryable(`stage ${input.stageId}: ${missing.length} id(s) of ${config.ids} are not in ${config.path}${config.split ? ` (split ${config.split})` : ''}, e.g. ${missing.slice(0, 3).join(', ')}`, 'DatasetInvalid');
    }
    pool = wanted.map((id) => byId.get(id)!);
  }
  const ordered = config.seed === undefined ? pool : seededShuffle(pool, config.seed);
  const end = config.limit === undefined ? undefined : config.offset + config.limit;
  const selected = ordered.slice(config.offset, end);
  if (selected.length === 0) {
    throw ApplicationFailure.nonRetryable(`stage ${input.stageId}: no rows selected from ${config.path} (split ${config.split ?? 'any'}${config.levels ? `, levels ${config.levels.join('/')}` : ''}, offset ${config.offset})`, 'DatasetEmpty');
  }
  return store.put('questions', selected);
}
