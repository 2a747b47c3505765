// Row formats the dataset stage understands, each turned into one Question
// shape: id, question, gold answer, and what else later stages may need.
import path from 'node:path';

export type DatasetFormat = 'gsm8k' | 'hotpotqa' | 'musique' | 'jsonl';

export interface Question {
  id: string;
  question: string;
  /** Gold final answer (GSM8K: the number after `####`, commas removed). */
  answer: string;
  dataset: string;
  split?: string;
  /** GSM8K: the worked solution with its `<<a*b=c>>` calculator annotations. */
  solution?: string;
  /** Other accepted answers (MuSiQue aliases). */
  aliases?: string[];
  /** Paragraph ids that support the answer (HotpotQA, MuSiQue), for retrieval metrics. */
  supportIds?: string[];
}

export class RowError extends Error {
  constructor(readonly line: number, message: string) {
    super(message);
    this.name = 'RowError';
  }
}

/** `#### 1,000` → `1000`. */
export function gsm8kFinalAnswer(solution: string): string | undefined {
  const m = /####\s*(.+?)\s*$/.exec(solution.trim());
  return m ? m[1]!.replace(/,/g, '').trim() : undefined;
}

function str(row: Record<string, unknown>, field: string, line: number): string {
  const v = row[field];
  if (typeof v === 'string' && v.length > 0) return v;
  if (typeof v === 'number') return String(v);
  throw new RowError(line, `field \`${field}\` is missing or not a string`);
}

export interface FormatOptions {
  format: DatasetFormat;
  /** Project-relative path; names GSM8K ids. */
  path: string;
  split?: string;
  /** HotPotQA: difficulty levels to keep (rows without a level are kept). */
  levels?: string[];
  fields?: { id?: string; question: string; answer: string };
}

/** One parsed JSON object → a Question, or undefined when the split filter drops it. */
export function toQuestion(row: Record<string, unknown>, index: number, line: number, opts: FormatOptions): Question | undefined {
  const base = path.posix.basename(opts.path).replace(/\.jsonl?$/, '');
  switch (opts.format) {
    case 'gsm8k': {
      const solution = str(row, 'answer', line);
      const answer = gsm8kFinalAnswer(solution);
      if (answer === undefined) throw new RowError(line, 'GSM8K answer has no `#### N` final line');
      const split = opts.split ?? base;
      return { id: `gsm8k/${base}/${index}`, question: str(row, 'question', line), answer, dataset: 'gsm8k', split, solution };
    }
    case 'hotpotqa':
    case 'musique': {
      const split = typeof row.split === 'string' ? row.split : undefined;
      if (opts.split && split !== opts.split) return undefined;
      if (opts.levels && typeof row.level === 'string' && !opts.levels.includes(row.level)) return undefined;
      const aliases = Array.isArray(row.answer_aliases) ? (row.answer_aliases as unknown[]).filter((a): a is string => typeof a === 'string') : undefined;
      const support = (opts.format === 'musique' ? row.supporting_ids : undefined) as unknown;
      return {
        id: str(row, 'id', line),
        question: str(row, 'question', line),
        answer: str(row, 'answer', line),
        dataset: opts.format,
        ...(split ? { split } : {}),
        ...(aliases && aliases.length ? { aliases } : {}),
        ...(Array.isArray(support) ? { supportIds: support as string[] } : {}),
      };
    }
    case 'jsonl': {
      const f = opts.fields ?? { question: 'question', answer: 'answer' };
      const split = typeof row.split === 'string' ? row.split : undefined;
      if (opts.split && split !== opts.split) return undefined;
      return {
        id: f.id ? str(row, f.id, line) : `${base}/${index}`,
        question: str(row, f.question, line),
        answer: str(row, f.answer, line),
        dataset: base,
        ...(split ? { split } : {}),
      };
    }
  }
}
