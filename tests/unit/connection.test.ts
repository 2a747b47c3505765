import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { externalTarget, workflowUiUrl } from '../../runtime/connection.js';
import { SwirlError } from '../../runtime/errors.js';
import { guardPayload } from '../../activities/payload-guard.js';
import { ApplicationFailure } from '@temporalio/common';
import { didYouMean, editDistance, formatErrorWithExcerpt } from '../../compiler/errors.js';
import { parseDuration } from '../../compiler/duration.js';

describe('externalTarget', () => {
  it('is undefined without TEMPORAL_ADDRESS', () => {
    expect(externalTarget({})).toBeUndefined();
    expect(externalTarget({ TEMPORAL_ADDRESS: '  ' })).toBeUndefined();
  });

  it('reads address, namespace and API key; an API key implies TLS', () => {
    const t = externalTarget({ TEMPORAL_ADDRESS: 'example.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns1', TEMPORAL_API_KEY: 'k' })!;
    expect(t).toMatchObject({ address: 'example.tmprl.cloud:7233', namespace: 'ns1', external: true, startedServer: false });
    expect(t.connection.apiKey).toBe('k');
    expect(t.connection.tls).toEqual({});
  });

  it('loads mTLS files and refuses half a pair', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'swirl-tls-'));
    writeFileSync(path.join(dir, 'c.pem'), 'CERT');
    writeFileSync(path.join(dir, 'k.pem'), 'KEY');
    const t = externalTarget({ TEMPORAL_ADDRESS: 'h:1', TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'c.pem'), TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'k.pem') })!;
    expect(String((t.connection.tls as unknown as { clientCertPair: { crt: Buffer } }).clientCertPair.crt)).toBe('CERT');
    expect(() => externalTarget({ TEMPORAL_ADDRESS: 'h:1', TEMPORAL_TLS_CLIENT_CERT_PATH: 'x' })).toThrow(SwirlError);
    expect(() => externalTarget({ TEMPORAL_ADDRESS: 'h:1', TEMPORAL_TLS_CLIENT_CERT_PATH: '/no/c', TEMPORAL_TLS_CLIENT_KEY_PATH: '/no/k' })).toThrow(/cannot be read/);
  });

  it('builds Web UI links', () => {
    const t = { address: 'a', namespace: 'default', connection: { address: 'a' }, uiUrl: 'http://127.0.0.1:8233', external: false, startedServer: false };
    expect(workflowUiUrl(t, 'quickstart-1', 'r1')).toBe('http://127.0.0.1:8233/namespaces/default/workflows/quickstart-1/r1/history');
    expect(workflowUiUrl({ ...t, uiUrl: undefined }, 'x')).toBeUndefined();
  });
});

describe('payload guard', () => {
  it('passes small values and rejects large ones as non-retryable', () => {
    expect(guardPayload('x', { a: 1 })).toEqual({ a: 1 });
    try {
      guardPayload('big result', { blob: 'x'.repeat(70_000) });
      throw new Error('expected a failure');
    } catch (e) {
      expect(e).toBeInstanceOf(ApplicationFailure);
      expect((e as ApplicationFailure).type).toBe('PayloadTooLarge');
      expect((e as ApplicationFailure).nonRetryable).toBe(true);
    }
  });
});

describe('error helpers', () => {
  it('edit distance and suggestions', () => {
    expect(editDistance('maxStep', 'maxSteps')).toBe(1);
    expect(didYouMean('maxStep', ['samples', 'maxSteps'])).toBe('maxSteps');
    expect(didYouMean('zzzzzz', ['samples', 'maxSteps'])).toBeUndefined();
  });

  it('formats an excerpt with a caret under the column', () => {
    const s = formatErrorWithExcerpt({ code: 'E_X', message: 'bad', path: '/a', file: 'f.yaml', line: 2, column: 5, hint: 'h' }, 'a: 1\nb:  oops\n');
    expect(s).toBe('f.yaml:2:5  E_X  bad  (h)\n    2 | b:  oops\n' + ' '.repeat(12) + '^');
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(() => parseDuration('10 minutes')).toThrow();
  });
});
