// Reading a judge's verdict out of free text. The judge is asked for its
// reasoning and then GOOD/BAD (process) or YES/NO (outcome); models wrap the
// word in markdown, repeat it, or hedge. Rule (swirl-method.md §3, our
// default): the last upper-case verdict word wins; failing that, a
// "verdict: good"-style phrase in any case; failing that, the conservative
// verdict (BAD / NO) with the reason recorded.

export interface ParsedVerdict<V extends string> {
  verdict: V;
  /** False when no verdict word was found and the conservative default applies. */
  parsed: boolean;
  reason: string;
  /** Where the verdict word starts in the text (absent when the default applied). */
  at?: number;
}

function lastVerdict<V extends string>(text: string, positive: V, negative: V): ParsedVerdict<V> {
  const upper = new RegExp(`\\b(${positive}|${negative})\\b`, 'g');
  const hits = [...text.matchAll(upper)];
  if (hits.length > 0) {
    const hit = hits[hits.length - 1]!;
    return { verdict: hit[1] as V, parsed: true, reason: reasoningBefore(text, hit.index), at: hit.index };
  }
  const phrase = new RegExp(`(?:verdict|judg(?:e)?ment|answer|rating|decision)\\s*[:=*\\-\\s]*\\**\\s*(${positive}|${negative})\\b`, 'gi');
  const soft = [...text.matchAll(phrase)];
  if (soft.length > 0) {
    const hit = soft[soft.length - 1]!;
    // The verdict word is the phrase's last capture: its offset is where the match ends minus its length.
    return { verdict: hit[1]!.toUpperCase() as V, parsed: true, reason: reasoningBefore(text, hit.index), at: hit.index + hit[0].length - hit[1]!.length };
  }
  const shown = text.trim().slice(0, 200);
  return { verdict: negative, parsed: false, reason: `no ${positive}/${negative} verdict in the judge's output${shown ? `: "${shown}"` : ' (empty)'}` };
}

function reasoningBefore(text: string, at: number): string {
  const r = text.slice(0, at).replace(/[*#_`]+/g, '').replace(/\b(verdict|final answer|answer)\s*:?\s*$/i, '').trim();
  return r.length > 600 ? `${r.slice(0, 600)}…` : r;
}

export function parseProcessVerdict(text: string): ParsedVerdict<'GOOD' | 'BAD'> {
  return lastVerdict<'GOOD' | 'BAD'>(text, 'GOOD', 'BAD');
}

export function parseOutcomeVerdict(text: string): ParsedVerdict<'YES' | 'NO'> {
  return lastVerdict<'YES' | 'NO'>(text, 'YES', 'NO');
}
