// The runtime-LoRA sampler client: the probe judgement (a stale adapter fails,
// the policy just trained passes) and how server answers map to Temporal
// failures (configuration errors are not retried, outages are, keys never show).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeProbe, RuntimeLoraServer, staleMessage } from '../../agents/providers/runtime-lora.js';

describe('judgeProbe', () => {
  const before = [-1.0, -2.0, -3.0, -4.0];
  const after = [-1.5, -2.5, -2.5, -3.5];

  it('passes a sampler that serves the new adapter', () => {
    const j = judgeProbe({ sampler: after.map((x) => x + 1e-5), before, after, tolerance: 1e-3 });
    expect(j).toMatchObject({ ok: true, distinguishable: true });
    expect(j.meanAbsNew).toBeCloseTo(1e-5, 8);
    expect(j.meanAbsOld).toBeCloseTo(0.5, 6);
  });

  it('fails a sampler that still serves the previous adapter', () => {
    const j = judgeProbe({ sampler: [...before], before, after, tolerance: 1e-3 });
    expect(j.ok).toBe(false);
    expect(j.distinguishable).toBe(true);
    expect(j.meanAbsOld).toBe(0);
    expect(j.reason).toMatch(/differ from the new adapter/);
  });

  it('fails a sampler within tolerance of the new adapter but no closer to it than to the old one', () => {
    // after and before 0.4 apart, tolerance 0.3: a sampler halfway is within tolerance of both, closer to neither.
    const b = [0, 0];
    const a = [0.4, 0.4];
    const j = judgeProbe({ sampler: [0.2, 0.2], before: b, after: a, tolerance: 0.3 });
    expect(j).toMatchObject({ ok: false, distinguishable: true });
    expect(j.reason).toMatch(/no closer/);
  });

  it('passes when the step did not move the probe past the tolerance (nothing to tell apart)', () => {
    const j = judgeProbe({ sampler: after, before: after.map((x) => x + 1e-4), after, tolerance: 1e-3 });
    expect(j).toMatchObject({ ok: true, distinguishable: false });
  });

  it('without a previous policy only the distance to the new adapter counts', () => {
    expect(judgeProbe({ sampler: after, after, tolerance: 1e-3 })).toMatchObject({ ok: true, distinguishable: false });
    expect(judgeProbe({ sampler: before, after, tolerance: 1e-3 }).ok).toBe(false);
  });

  it('refuses probes of different lengths, empty probes and non-finite values', () => {
    expect(judgeProbe({ sampler: [1], before, after, tolerance: 1 }).ok).toBe(false);
    expect(judgeProbe({ sampler: [], after: [], tolerance: 1 }).ok).toBe(false);
    expect(judgeProbe({ sampler: [NaN, 0, 0, 0], before, after, tolerance: 10 }).ok).toBe(false);
  });

  it('staleMessage names the code, the adapter version, both distances and the tolerance', () => {
    const j = judgeProbe({ sampler: [...before], before, after, tolerance: 1e-3 });
    const m = staleMessage('run7-train-step-3', j, 1e-3);
    expect(m).toMatch(/^E_STALE_POLICY: /);
    expect(m).toContain('run7-train-step-3');
    expect(m).toContain(j.meanAbsNew.toExponential(2));
    expect(m).toContain('0.00e+0');
    expect(m).toContain('1.00e-3');
  });
});

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

describe('RuntimeLoraServer against a scripted server', () => {
  let server: Server;
  let url: string;
  let handler: Handler = (_q, _b, res) => res.end();
  const seen: Array<{ method?: string; url?: string; auth?: string; body: unknown }> = [];
  const KEY = 'plain-secret-value-42';

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, auth: req.headers.authorization, body: body ? JSON.parse(body) : undefined });
        handler(req, body, res);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const vllmError = (res: ServerResponse, status: number, message: string, type: string) => json(res, status, { error: { message, type, param: null, code: status } });
  const client = () => new RuntimeLoraServer({ baseUrl: `${url}/v1/`, apiKey: KEY, timeoutMs: 2000 });

  async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
    const e = await p.then(() => undefined, (x: unknown) => x);
    expect(e, 'expected a failure').toBeInstanceOf(ApplicationFailure);
    return e as ApplicationFailure;
  }
  const noKey = (f: ApplicationFailure) => {
    expect(f.message).not.toContain(KEY);
    expect(JSON.stringify(f.details ?? [])).not.toContain(KEY);
  };

  it('loads an adapter, sending the key only as the Authorization header', async () => {
    handler = (_q, _b, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end("Success: LoRA adapter 'r-s-step-1' added successfully.");
    };
    seen.length = 0;
    await client().loadAdapter('r-s-step-1', '/shared/lora/r-s-step-1');
    expect(seen).toEqual([{ method: 'POST', url: '/v1/load_lora_adapter', auth: `Bearer ${KEY}`, body: { lora_name: 'r-s-step-1', lora_path: '/shared/lora/r-s-step-1' } }]);
  });

  it('a missing load route (runtime LoRA off) is a ConfigError that says how to enable it', async () => {
    handler = (_q, _b, res) => json(res, 404, { detail: 'Not Found' });
    const f = await failureOf(client().loadAdapter('a', '/p'));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toContain('VLLM_ALLOW_RUNTIME_LORA_UPDATING=True');
    expect(f.message).toContain('--enable-lora');
  });

  it('an adapter the server cannot find or load is a ConfigError naming it, its path and the message', async () => {
    handler = (_q, _b, res) => vllmError(res, 404, 'Loading lora a failed: No adapter found for /p', 'NotFoundError');
    let f = await failureOf(client().loadAdapter('a', '/p'));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toContain('the server refused adapter a (/p): Loading lora a failed: No adapter found for /p');
    expect(f.message).toContain('loraDir');
    handler = (_q, _b, res) => json(res, 400, { object: 'error', message: 'LoRA rank 64 is greater than max_lora_rank 16.', type: 'BadRequestError', code: 400 });
    f = await failureOf(client().loadAdapter('b', '/q'));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toMatch(/refused adapter b \(\/q\): LoRA rank 64/);
    expect(f.message).toContain('max-lora-rank');
  });

  it('loading a name already held from the same path succeeds; from another path it fails', async () => {
    let root = '/shared/lora/v1/';
    handler = (req, _b, res) =>
      req.url === '/v1/models'
        ? json(res, 200, { object: 'list', data: [{ id: 'base', root: '/m', parent: null }, { id: 'v1', root, parent: 'base' }] })
        : vllmError(res, 400, "The lora adapter 'v1' has already been loaded.", 'InvalidUserInput');
    await client().loadAdapter('v1', '/shared/lora/v1');
    root = '/elsewhere/v1';
    const f = await failureOf(client().loadAdapter('v1', '/shared/lora/v1'));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toContain('/elsewhere/v1');
  });

  it('server errors and timeouts are retryable, and echoed keys are scrubbed', async () => {
    handler = (req, _b, res) => json(res, 503, { error: { message: `overloaded; you sent ${req.headers.authorization}`, type: 'ServiceUnavailable' } });
    let f = await failureOf(client().loadAdapter('a', '/p'));
    expect(f).toMatchObject({ type: 'SamplerUnavailable', nonRetryable: false });
    expect(f.message).toContain('overloaded');
    noKey(f);
    handler = (req, _b, res) => json(res, 400, { error: { message: `bad key ${KEY}`, type: 'BadRequestError' } });
    f = await failureOf(client().complete({ model: 'base', prompt: 'x', maxTokens: 1 }));
    expect(f).toMatchObject({ type: 'SamplerRejected', nonRetryable: true });
    noKey(f);
    handler = () => undefined; // never answers
    f = await failureOf(new RuntimeLoraServer({ baseUrl: url, apiKey: KEY, timeoutMs: 200 }).listModels());
    expect(f).toMatchObject({ type: 'SamplerUnavailable', nonRetryable: false });
    expect(f.message).toContain('no answer within 200 ms');
  });

  it('a refused connection is retryable and names no key', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const f = await failureOf(new RuntimeLoraServer({ baseUrl: `http://127.0.0.1:${port}`, apiKey: KEY }).loadAdapter('a', '/p'));
    expect(f).toMatchObject({ type: 'SamplerUnavailable', nonRetryable: false });
    expect(f.message).toContain('ECONNREFUSED');
    noKey(f);
  });

  it('a baseUrl with credentials is refused without echoing them', () => {
    let e: unknown;
    try {
      new RuntimeLoraServer({ baseUrl: `http://user:${KEY}@127.0.0.1:1` });
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(ApplicationFailure);
    expect(e).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    noKey(e as ApplicationFailure);
  });

  it('unloading an unknown name is fine; a missing unload route is a ConfigError', async () => {
    handler = (_q, _b, res) => vllmError(res, 404, "The lora adapter 'gone' cannot be found.", 'NotFoundError');
    await client().unloadAdapter('gone');
    handler = (_q, _b, res) => json(res, 404, { detail: 'Not Found' });
    expect(await failureOf(client().unloadAdapter('gone'))).toMatchObject({ type: 'ConfigError', nonRetryable: true });
  });

  it('complete reads token ids from return_tokens_as_token_ids and refuses other token labels', async () => {
    const lp = (tokens: string[]) => ({ text_offset: tokens.map((_, i) => i), token_logprobs: tokens.map(() => -1.5), tokens, top_logprobs: [] });
    handler = (_q, _b, res) => json(res, 200, { choices: [{ index: 0, text: 'hi', finish_reason: 'stop', logprobs: lp(['token_id:12', 'token_id:7']) }] });
    seen.length = 0;
    const c = await client().complete({ model: 'v1', prompt: [1, 2], maxTokens: 4, temperature: 0.7, topP: 0.9, seed: 5, stop: ['</a>'] });
    expect(c).toEqual({ text: 'hi', tokens: [12, 7], logprobs: [-1.5, -1.5], finishReason: 'stop' });
    expect(seen[0]!.body).toEqual({ model: 'v1', prompt: [1, 2], max_tokens: 4, temperature: 0.7, top_p: 0.9, seed: 5, stop: ['</a>'], logprobs: 0, return_tokens_as_token_ids: true });
    handler = (_q, _b, res) => json(res, 200, { choices: [{ index: 0, text: 'hi', finish_reason: 'stop', logprobs: lp(['h', 'i']) }] });
    expect(await failureOf(client().complete({ model: 'v1', prompt: 'x', maxTokens: 2 }))).toMatchObject({ type: 'SamplerProtocolError', nonRetryable: true });
  });

  it('promptLogprobs returns positions 1..n-1 and an unknown model is a ConfigError', async () => {
    handler = (_q, _b, res) =>
      json(res, 200, {
        choices: [{ index: 0, text: 'x', finish_reason: 'length', prompt_logprobs: [null, { '5': { logprob: -0.5, rank: 1, decoded_token: 'token_id:5' } }, { '9': { logprob: -2.25, rank: 3, decoded_token: 'token_id:9' }, '1': { logprob: -0.1, rank: 1, decoded_token: 'token_id:1' } }] }],
      });
    seen.length = 0;
    expect(await client().promptLogprobs('v1', [3, 5, 9])).toEqual([-0.5, -2.25]);
    expect(seen[0]!.body).toMatchObject({ model: 'v1', prompt: [3, 5, 9], max_tokens: 1, prompt_logprobs: 0, return_tokens_as_token_ids: true });
    handler = (_q, _b, res) => vllmError(res, 404, 'The model `v9` does not exist.', 'NotFoundError');
    const f = await failureOf(client().promptLogprobs('v9', [3, 5]));
    expect(f).toMatchObject({ type: 'ConfigError', nonRetryable: true });
    expect(f.message).toContain('does not serve model v9');
  });
});
