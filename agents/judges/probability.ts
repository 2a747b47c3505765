// P(GOOD): a process judge's verdict as a probability instead of 0/1, read from
// the log-probabilities the provider returns for the generated tokens
// (swirl-method.md §4 allows "GOOD = 1 / BAD = 0, or a probability").
//
// The judge writes its reasoning and then the verdict word. At the position
// where the verdict word starts, the provider reports the chosen token and its
// top alternatives; the mass on tokens that begin GOOD against the mass on
// tokens that begin BAD gives P(GOOD) = good / (good + bad). Tokens that begin
// neither (a newline, "**", "The") are left out: the judge was going to say a
// verdict, only which one is in question.
//
// The log-probs travel in the OpenAI chat-completions shape
// (`response_metadata.logprobs.content[i] = {token, logprob, top_logprobs}`),
// which @langchain/openai passes through and LlamaCppChat produces too; the
// ledger keeps them, so a replayed verdict has the same probability.

export interface TokenLogprob {
  token: string;
  logprob: number;
  /** The token's id in the model's vocabulary, where the runtime gives it (llama-cpp). */
  id?: number;
  top_logprobs?: Array<{ token: string; logprob: number }>;
}

/** The per-token log-probs of a chat model's answer, or undefined when the provider gave none. */
export function logprobsOf(responseMetadata: Record<string, unknown> | undefined): TokenLogprob[] | undefined {
  const lp = responseMetadata?.logprobs as { content?: unknown } | undefined;
  const content = lp?.content;
  if (!Array.isArray(content)) return undefined;
  return content.filter((t): t is TokenLogprob => !!t && typeof (t as TokenLogprob).token === 'string' && typeof (t as TokenLogprob).logprob === 'number');
}

/** Which verdict a token starts, if any: letters after leading spaces/markup, upper-cased. */
export function tokenVerdict<V extends string>(token: string, verdicts: readonly V[]): V | undefined {
  const t = token.replace(/^[^A-Za-z]+/, '').toUpperCase();
  if (t === '') return undefined;
  const hits = verdicts.filter((v) => v.startsWith(t) || t.startsWith(v));
  // "G" is GOOD's, "B" is BAD's; a token that could be both (none in GOOD/BAD or YES/NO) says nothing.
  return hits.length === 1 ? hits[0] : undefined;
}

export interface VerdictProbability {
  /** P(positive) at the verdict position, from the two verdicts' mass. */
  p: number;
  /** Index of the token that starts the verdict word. */
  token: number;
  /** The summed probabilities each verdict got among the alternatives. */
  mass: { positive: number; negative: number };
}

/**
 * P(positive verdict) at the token where the verdict word starts (`at`, the
 * character offset `parseProcessVerdict` found). Undefined when the tokens do
 * not spell the text, or no alternative at that position is a verdict.
 */
export function verdictProbability(tokens: readonly TokenLogprob[], at: number, positive: string, negative: string): VerdictProbability | undefined {
  let offset = 0;
  let index = -1;
  for (let i = 0; i < tokens.length; i++) {
    const end = offset + tokens[i]!.token.length;
    // The token holding the verdict's first letter (it may carry a leading space or markup).
    if (end > at) {
      index = i;
      break;
    }
    offset = end;
  }
  if (index < 0) return undefined;
  const tok = tokens[index]!;
  const alternatives = tok.top_logprobs?.length ? [...tok.top_logprobs] : [];
  if (!alternatives.some((a) => a.token === tok.token)) alternatives.push({ token: tok.token, logprob: tok.logprob });
  const mass = { positive: 0, negative: 0 };
  const seen = new Set<string>();
  for (const a of alternatives) {
    if (seen.has(a.token) || !Number.isFinite(a.logprob)) continue;
    seen.add(a.token);
    const v = tokenVerdict(a.token, [positive, negative]);
    if (v === positive) mass.positive += Math.exp(a.logprob);
    else if (v === negative) mass.negative += Math.exp(a.logprob);
  }
  const total = mass.positive + mass.negative;
  if (total <= 0) return undefined;
  return { p: mass.positive / total, token: index, mass };
}
