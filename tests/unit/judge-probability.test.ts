// P(GOOD) rewards: the verdict token's probability from provider log-probs.
// Logic on hand-written token lists, then a round trip over HTTP: an
// OpenAI-compatible loopback server answers a judge prompt with log-probs,
// the probability judge (SwirlChatOpenAI through the ledger) turns them into
// P(GOOD), and a second judgment of the same step comes from the ledger with
// the same probability and no request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { logprobsOf, tokenVerdict, verdictProbability, type TokenLogprob } from '../../agents/judges/probability.js';
import { parseProcessVerdict } from '../../agents/judges/verdicts.js';
import { NoLogprobsError, rewardOf, type StepView } from '../../agents/judges/index.js';
import { makeProcessJudge } from '../../activities/judge.js';
import { MemoryLedger } from '../../store/ledger.js';
import { resetGates } from '../../agents/limits.js';
import { packageRoot } from '../../runtime/paths.js';

const tok = (token: string, logprob: number, top?: Array<[string, number]>): TokenLogprob => ({ token, logprob, ...(top ? { top_logprobs: top.map(([t, l]) => ({ token: t, logprob: l })) } : {}) });

describe('verdict probability from log-probs', () => {
  it('classifies tokens by the verdict they begin', () => {
    const v = ['GOOD', 'BAD'] as const;
    expect(tokenVerdict(' GOOD', v)).toBe('GOOD');
    expect(tokenVerdict('G', v)).toBe('GOOD');
    expect(tokenVerdict('**BAD', v)).toBe('BAD');
    expect(tokenVerdict('Bad', v)).toBe('BAD');
    expect(tokenVerdict('\n', v)).toBeUndefined();
    expect(tokenVerdict('The', v)).toBeUndefined();
    expect(tokenVerdict(' GOODNESS', v)).toBe('GOOD');
  });

  it('normalizes the mass of GOOD and BAD alternatives at the verdict position', () => {
    const text = 'The query names the film.\nGOOD';
    const tokens = [tok('The', -0.1), tok(' query', -0.2), tok(' names', -0.3), tok(' the', -0.1), tok(' film', -0.4), tok('.', -0.05), tok('\n', -0.2), tok('GOOD', -0.3, [['GOOD', -0.3], ['BAD', -1.5], ['**', -3], ['Good', -4]])];
    expect(tokens.map((t) => t.token).join('')).toBe(text);
    const p = parseProcessVerdict(text);
    expect(p.at).toBe(text.indexOf('GOOD'));
    const vp = verdictProbability(tokens, p.at!, 'GOOD', 'BAD')!;
    const good = Math.exp(-0.3) + Math.exp(-4);
    const bad = Math.exp(-1.5);
    expect(vp.token).toBe(7);
    expect(vp.p).toBeCloseTo(good / (good + bad), 12);
    expect(rewardOf({ verdict: 'GOOD', reason: '', parsed: true, pGood: vp.p })).toBeCloseTo(0.7728, 3);
  });

  it('finds a verdict split over tokens or wrapped in markup, and the soft "verdict: bad" form', () => {
    const text = 'Wrong setup. **BAD**';
    const tokens = [tok('Wrong', -1), tok(' setup', -1), tok('.', -1), tok(' **', -0.5), tok('B', -0.2, [['B', -0.2], ['G', -1.8]]), tok('AD', -0.01), tok('**', -0.01)];
    const p = parseProcessVerdict(text);
    const vp = verdictProbability(tokens, p.at!, 'GOOD', 'BAD')!;
    expect(vp.token).toBe(4);
    expect(vp.p).toBeCloseTo(Math.exp(-1.8) / (Math.exp(-1.8) + Math.exp(-0.2)), 12);

    const soft = 'It helps. Verdict: good';
    const q = parseProcessVerdict(soft);
    expect(q.verdict).toBe('GOOD');
    expect(soft.slice(q.at!)).toBe('good');
  });

  it('gives no probability when the alternatives hold no verdict, or the tokens end early', () => {
    const text = 'ok GOOD';
    expect(verdictProbability([tok('ok', -1), tok(' GOOD', -0.1, [[' GOOD', -0.1]])], 3, 'GOOD', 'BAD')!.p).toBe(1);
    expect(verdictProbability([tok('ok', -1), tok(' x', -0.1, [[' x', -0.1]])], 3, 'GOOD', 'BAD')).toBeUndefined();
    expect(verdictProbability([tok('ok', -1)], text.indexOf('GOOD'), 'GOOD', 'BAD')).toBeUndefined();
    expect(logprobsOf({})).toBeUndefined();
    expect(logprobsOf({ logprobs: { content: [{ token: 'a', logprob: -1 }, { nope: 1 }] } })).toEqual([{ token: 'a', logprob: -1 }]);
  });
});

/** A chat-completions server that judges every step GOOD, with log-probs when asked. */
async function startJudgeServer(opts: { logprobs: boolean }) {
  const bodies: Array<Record<string, unknown>> = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (d) => (raw += d));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      bodies.push(body);
      const content = 'The calculation uses the right numbers.\nGOOD';
      const parts = ['The', ' calculation', ' uses', ' the', ' right', ' numbers', '.', '\n', 'GOOD'];
      const lp = parts.map((t) => ({
        token: t,
        logprob: t === 'GOOD' ? Math.log(0.6) : -0.05,
        bytes: null,
        top_logprobs: t === 'GOOD' ? [{ token: 'GOOD', logprob: Math.log(0.6), bytes: null }, { token: 'BAD', logprob: Math.log(0.2), bytes: null }, { token: 'The', logprob: Math.log(0.1), bytes: null }] : [],
      }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          id: 'cmpl-1',
          object: 'chat.completion',
          created: 0,
          model: String(body.model),
          choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content }, logprobs: opts.logprobs && body.logprobs ? { content: lp } : null }],
          usage: { prompt_tokens: 50, completion_tokens: parts.length, total_tokens: 50 + parts.length },
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, bodies, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
  resetGates();
});

const view: StepView = {
  question: 'Ann has 12 apples and buys 30 more. How many now?',
  gold: '42',
  messages: [
    { role: 'user', content: 'Solve it.' },
    { role: 'assistant', content: '<math_exp>12 + 30</math_exp>' },
  ],
  actionKind: 'calculator',
  content: '12 + 30',
  observation: '42',
  toolKinds: ['calculator', 'answer'],
};

describe('probability judge over an OpenAI-compatible endpoint', () => {
  async function judgeWith(logprobs: boolean, score: 'probability' | undefined) {
    const server = await startJudgeServer({ logprobs });
    closers.push(server.close);
    const ledger = new MemoryLedger();
    const models = { judge: { provider: 'openai-compatible' as const, model: 'judge-stub', baseUrl: server.baseUrl } };
    const judge = makeProcessJudge({ model: 'judge', ...(score ? { score } : {}) }, { projectRoot: packageRoot, models }, { modelsDir: '/nonexistent', ledger });
    return { server, ledger, judge };
  }

  it('asks for log-probs, returns P(GOOD), and replays it from the ledger without a request', async () => {
    const { server, judge } = await judgeWith(true, 'probability');
    const v = await judge.judgeStep(view);
    expect(server.bodies).toHaveLength(1);
    expect(server.bodies[0]).toMatchObject({ logprobs: true, top_logprobs: 10, temperature: 0 });
    expect(v.verdict).toBe('GOOD');
    expect(v.pGood).toBeCloseTo(0.6 / 0.8, 9);
    expect(rewardOf(v)).toBeCloseTo(0.75, 9);
    const again = await judge.judgeStep(view);
    expect(server.bodies).toHaveLength(1);
    expect(again.pGood).toBeCloseTo(0.75, 9);
  });

  it('a binary judge asks for no log-probs and scores 1/0', async () => {
    const { server, judge } = await judgeWith(true, undefined);
    const v = await judge.judgeStep(view);
    expect(server.bodies[0]!.logprobs).toBeUndefined();
    expect(v.pGood).toBeUndefined();
    expect(rewardOf(v)).toBe(1);
  });

  it('fails with NoLogprobsError when the endpoint returns none', async () => {
    const { judge } = await judgeWith(false, 'probability');
    await expect(judge.judgeStep(view)).rejects.toBeInstanceOf(NoLogprobsError);
  });
});
