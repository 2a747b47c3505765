// Secret hygiene (runtime/redact.ts and its choke points): registered values
// become `${env:NAME}`, key-shaped values swirl never saw are scrubbed, errors
// leave activities and episode threads redacted, a refused key (401/403) is
// tried once and fails non-retryably naming the variable, and spec errors
// (excerpts, `--set`) never echo a literal key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import { clearSecrets, redact, redactDeep, redactError, registerSecret, registerSecretEnv, scrubKeys } from '../../runtime/redact.js';
import { secretSafeError } from '../../activities/secret-failure.js';
import { fromWire, toWire } from '../../activities/episode-threads.js';
import { authChecked, gateFor } from '../../agents/models.js';
import { resetGates } from '../../agents/limits.js';
import { resolveEnvRefs } from '../../tools/mcp.js';
import { compileFile } from '../../compiler/index.js';
import { formatErrorWithExcerpt } from '../../compiler/errors.js';
import type { PlanModel } from '../../compiler/plan-types.js';

const CANARY = 'sk-canary-0123456789abcdefCANARY';

afterEach(() => {
  clearSecrets();
  resetGates();
});

describe('redact: registered secrets', () => {
  it('writes ${env:NAME} for a registered value, wherever it appears', () => {
    registerSecret('s3cr3t-value-xyz', 'MY_TOKEN');
    expect(redact('got s3cr3t-value-xyz twice: s3cr3t-value-xyz.')).toBe('got ${env:MY_TOKEN} twice: ${env:MY_TOKEN}.');
    expect(redact(`url ?t=${encodeURIComponent('s3cr3t-value-xyz')}`)).toBe('url ?t=${env:MY_TOKEN}');
  });

  it('replaces the longest value first and ignores values too short to be keys', () => {
    registerSecret('abcdefgh', 'SHORT_ONE');
    registerSecret('abcdefgh-and-more', 'LONG_ONE');
    registerSecret('abc', 'TINY');
    expect(redact('abcdefgh-and-more / abcdefgh / abc')).toBe('${env:LONG_ONE} / ${env:SHORT_ONE} / abc');
  });

  it('registers env values (models, MCP env and headers) when they are resolved', () => {
    expect(registerSecretEnv('SWIRL_T_KEY', { SWIRL_T_KEY: 'value-of-the-key' })).toBe('value-of-the-key');
    expect(redact('value-of-the-key')).toBe('${env:SWIRL_T_KEY}');
    resolveEnvRefs({ Authorization: '${env:SWIRL_T_HDR}' }, 'headers', { SWIRL_T_HDR: 'hdr-token-9876' });
    expect(redact('header hdr-token-9876')).toBe('header ${env:SWIRL_T_HDR}');
  });

  it('fails without registration (the test can fail)', () => {
    expect(redact('plain s3cr3t-value-xyz')).toBe('plain s3cr3t-value-xyz');
  });
});

describe('scrubKeys: keys swirl never saw', () => {
  const cases: Array<[string, string]> = [
    ['Authorization: Bearer abc.def-ghi_jkl', 'Authorization: Bearer [redacted]'],
    ['Incorrect API key provided: sk-proj-AbCdEf0123456789xyz.', 'Incorrect API key provided: sk-[redacted].'],
    ['key sk-ant-api03-AAAAAAAAAAAAAAAAAAAA', 'key sk-[redacted]'],
    ['aws AKIAIOSFODNN7EXAMPLE here', 'aws [redacted] here'],
    ['google AIzaSyA1234567890abcdefghijklmnopqrstu', 'google [redacted]'],
    ['GET https://h/v1/models?alt=json&key=0123456789abcdef0123456789abcdef', 'GET https://h/v1/models?alt=json&key=[redacted]'],
    ['https://h/x?api_key=Zm9vYmFyYmF6cXV4&x=1', 'https://h/x?api_key=[redacted]&x=1'],
    ['{"x-api-key": "0123456789abcdefghij"}', '{"x-api-key": "[redacted]"}'],
  ];
  it.each(cases)('%s', (input, want) => expect(scrubKeys(input)).toBe(want));

  it('leaves hashes, env references, ids and prose alone', () => {
    const keep = [
      'stage rollouts hash 3f9a0c1d2e4b5a6978877665544332211ffeeddccbbaa0099887766554433221',
      'apiKey: ${env:OPENAI_API_KEY}',
      'task-0123456789abcdef done, disk-abcdefghijklmnop ok',
      'model policy unavailable: gave up after 6 attempts: server 500: internal error',
      'keys: 12, key=short',
    ];
    for (const t of keep) expect(scrubKeys(t)).toBe(t);
  });
});

describe('errors', () => {
  it('redactError cleans message, stack, string fields, header bags and the cause chain in place', () => {
    registerSecret(CANARY, 'SWIRL_CANARY');
    const cause = new Error(`inner ${CANARY}`);
    const e = Object.assign(new Error(`401 Incorrect API key provided: ${CANARY}`, { cause }), { status: 401, headers: new Headers({ 'x-echo-key': CANARY }), error: { message: CANARY } });
    const r = redactError(e);
    expect(r).toBe(e);
    expect(r.status).toBe(401);
    const text = JSON.stringify({ m: r.message, s: r.stack, h: r.headers, b: r.error, c: (r.cause as Error).message, cs: (r.cause as Error).stack });
    expect(text).not.toContain('canary');
    expect(r.message).toBe('401 Incorrect API key provided: ${env:SWIRL_CANARY}');
  });

  it('secretSafeError: ApplicationFailures keep type, retryability and details, redacted', () => {
    registerSecret(CANARY, 'SWIRL_CANARY');
    const f = ApplicationFailure.create({ message: `gave up: ${CANARY}`, type: 'ModelUnavailable', nonRetryable: false, details: [{ last: CANARY, n: 2 }], nextRetryDelay: 1000, cause: new Error(CANARY) });
    const g = secretSafeError(f) as ApplicationFailure;
    expect(g).toBeInstanceOf(ApplicationFailure);
    expect(g.type).toBe('ModelUnavailable');
    expect(g.nonRetryable).toBe(false);
    expect(g.nextRetryDelay).toBe(1000);
    expect(g.details).toEqual([{ last: '${env:SWIRL_CANARY}', n: 2 }]);
    expect(JSON.stringify([g.message, g.stack, (g.cause as Error).message, (g.cause as Error).stack])).not.toContain(CANARY);
  });

  it('secretSafeError: a raw 401 becomes a non-retryable ModelAuthFailed; a 500 stays retryable', () => {
    const auth = secretSafeError(Object.assign(new Error(`401 Incorrect API key provided: sk-zzzzzzzzzzzzzzzzzzzzzz`), { status: 401 })) as ApplicationFailure;
    expect(auth).toBeInstanceOf(ApplicationFailure);
    expect(auth.type).toBe('ModelAuthFailed');
    expect(auth.nonRetryable).toBe(true);
    expect(auth.message).not.toContain('zzzzzzzz');
    const server = secretSafeError(Object.assign(new Error('500 upstream sk-yyyyyyyyyyyyyyyyyyyyyy'), { status: 500 })) as Error;
    expect(server).not.toBeInstanceOf(ApplicationFailure);
    expect(server.message).toBe('500 upstream sk-[redacted]');
  });

  it('toWire (episode threads) redacts before anything leaves the thread', () => {
    registerSecret(CANARY, 'SWIRL_CANARY');
    const w = toWire(ApplicationFailure.create({ message: `x ${CANARY}`, type: 'T', nonRetryable: true, details: [CANARY] }), { kind: 'auth', retryable: false, status: 401 });
    expect(JSON.stringify(w)).not.toContain(CANARY);
    const back = fromWire(w) as ApplicationFailure;
    expect(back.type).toBe('T');
    expect(back.details).toEqual(['${env:SWIRL_CANARY}']);
  });

  it('redactDeep leaves non-plain objects and numbers as they are', () => {
    registerSecret(CANARY, 'SWIRL_CANARY');
    const d = new Date(0);
    expect(redactDeep({ a: [CANARY, 1, null], d })).toEqual({ a: ['${env:SWIRL_CANARY}', 1, null], d });
  });
});

describe('a refused key (401 / 403)', () => {
  const model: PlanModel = { provider: 'openai-compatible', model: 'm', baseUrl: 'http://127.0.0.1:1/v1', apiKeyEnv: 'SWIRL_CANARY' } as PlanModel;

  it.each([401, 403])('%s is tried once and fails non-retryably, naming the variable, without the key', async (status) => {
    registerSecret(CANARY, 'SWIRL_CANARY');
    let calls = 0;
    const gate = authChecked(gateFor(`auth-${status}`, model), `auth-${status}`, model);
    const e = await gate
      .run(async () => {
        calls++;
        throw Object.assign(new Error(`${status} Incorrect API key provided: ${CANARY}`), { status });
      })
      .catch((x: unknown) => x);
    expect(calls).toBe(1);
    expect(e).toBeInstanceOf(ApplicationFailure);
    const f = e as ApplicationFailure;
    expect(f.type).toBe('ModelAuthFailed');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toContain('SWIRL_CANARY');
    expect(String(f.details?.[0])).toContain('SWIRL_CANARY');
    expect(JSON.stringify([f.message, f.details, f.stack])).not.toContain(CANARY);
  });

  it('a 500 echoing the key is retried and gives up redacted', async () => {
    registerSecret(CANARY, 'SWIRL_CANARY');
    let calls = 0;
    const { ModelGate } = await import('../../agents/limits.js');
    const gate = new ModelGate('g500', { maxAttempts: 2, baseDelayMs: 1 });
    const e = (await gate
      .run(async () => {
        calls++;
        throw Object.assign(new Error(`500 upstream ${CANARY}`), { status: 500 });
      })
      .catch((x: unknown) => x)) as ApplicationFailure;
    expect(calls).toBe(2);
    const safe = secretSafeError(e) as ApplicationFailure;
    expect(safe.type).toBe('ModelUnavailable');
    expect(safe.nonRetryable).toBe(false);
    expect(safe.message).not.toContain(CANARY);
  });
});

describe('spec errors never print a literal key', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'swirl-redact-'));
  const spec = (apiKey: string) => `apiVersion: swirl/v1
kind: Pipeline
metadata: {name: literal-key}
models:
  policy:
    provider: openai-compatible
    model: m
    baseUrl: http://127.0.0.1:9/v1
    apiKey: ${apiKey}
tools:
  calculator: {kind: calculator}
stages:
  - id: questions
    type: dataset
    path: q.jsonl
    format: gsm8k
`;
  afterEach(() => undefined);

  it('an E_SECRET_LITERAL excerpt hides the value (and the pattern scrubber the rest)', () => {
    const file = path.join(dir, 'literal.yaml');
    writeFileSync(file, spec(CANARY));
    const r = compileFile(file, { projectRoot: dir });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.code)).toContain('E_SECRET_LITERAL');
    const printed = r.errors.map((e) => formatErrorWithExcerpt(e, r.source)).join('\n');
    expect(printed).toContain('apiKey: [redacted]');
    expect(printed).not.toContain('canary');
    expect(JSON.stringify(r.errors)).not.toContain('canary');
  });

  it('a `--set models.x.apiKey=sk-…` error does not print the key', () => {
    const file = path.join(dir, 'ok.yaml');
    writeFileSync(file, spec('${env:SWIRL_CANARY}'));
    for (const set of [`models.policy.apiKey=${CANARY}`, `models.policy.apiKey=[${CANARY}`]) {
      const r = compileFile(file, { projectRoot: dir, overrides: [set] });
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      const printed = r.errors.map((e) => formatErrorWithExcerpt(e, r.source)).join('\n');
      expect(printed).toContain('models.policy.apiKey=[redacted]');
      expect(printed + JSON.stringify(r.errors)).not.toContain('canary');
    }
  });

  it('a key elsewhere in a spec (a baseUrl query, a Bearer token) is E_SECRET_LITERAL, printed without the key', () => {
    const file = path.join(dir, 'url-key.yaml');
    writeFileSync(file, spec('${env:SWIRL_CANARY}').replace('baseUrl: http://127.0.0.1:9/v1', 'baseUrl: "http://127.0.0.1:9/v1?key=canary0123456789abcdef"'));
    const r = compileFile(file, { projectRoot: dir });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => [e.code, e.path])).toContainEqual(['E_SECRET_LITERAL', '/models/policy/baseUrl']);
    const printed = r.errors.map((e) => formatErrorWithExcerpt(e, r.source)).join('\n');
    expect(printed + JSON.stringify(r.errors)).not.toContain('canary');
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
