// The pieces of serving a trained adapter from a runtime-LoRA server (activities/served-policy.ts)
// that need no server: version names, atomic publishing, chat-template detection of an HF folder,
// and the probe text.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterEach, describe, expect, it } from 'vitest';
import { adapterName, hfTemplate, isRuntimeLora, ledgeredCompletion, loraDirOf, probeText, publishAdapter } from '../../activities/served-policy.js';
import { MemoryLedger } from '../../store/ledger.js';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'swirl-served-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function checkpoint(): string {
  const d = temp();
  writeFileSync(path.join(d, 'adapter_config.json'), '{"r": 4}');
  writeFileSync(path.join(d, 'adapter_model.safetensors'), 'weights');
  writeFileSync(path.join(d, 'optimizer.pt'), 'not published');
  writeFileSync(path.join(d, 'adapter.gguf'), 'not published either');
  return d;
}

describe('served policy', () => {
  it('names versions per run, stage and step with characters a server accepts', () => {
    expect(adapterName('run-1/swirl', 3)).toBe('run-1-swirl-step-3');
    expect(adapterName('a b/c:d', 0)).toBe('a-b-c-d-step-0');
  });

  it('knows runtime-LoRA models', () => {
    expect(isRuntimeLora({ provider: 'openai-compatible', lora: 'runtime' })).toBe(true);
    expect(isRuntimeLora({ provider: 'openai-compatible' })).toBe(false);
    expect(isRuntimeLora({ provider: 'llama-cpp', lora: 'runtime' })).toBe(false);
  });

  it('publishes only the PEFT files, into a folder that appears whole, and keeps an existing one', () => {
    const ck = checkpoint();
    const out = temp();
    const p = publishAdapter(ck, out, 'r-s-step-1');
    expect(p).toBe(path.join(out, 'r-s-step-1'));
    expect(readdirSync(p).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(readdirSync(out)).toEqual(['r-s-step-1']); // no temporary folder left behind
    writeFileSync(path.join(ck, 'adapter_model.safetensors'), 'changed');
    publishAdapter(ck, out, 'r-s-step-1');
    expect(readFileSync(path.join(p, 'adapter_model.safetensors'), 'utf8')).toBe('weights');
  });

  it('refuses a checkpoint without a PEFT adapter, non-retryably', () => {
    const empty = temp();
    let err: unknown;
    try {
      publishAdapter(empty, temp(), 'x');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toContain('adapter_config.json');
  });

  it('reads the chat template family from tokenizer_config.json or chat_template.jinja, and refuses others', () => {
    const chatml = temp();
    writeFileSync(path.join(chatml, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}' }));
    expect(hfTemplate(chatml)).toBe('chatml');
    const gemma = temp();
    writeFileSync(path.join(gemma, 'chat_template.jinja'), '<start_of_turn>user');
    expect(hfTemplate(gemma)).toBe('gemma');
    const llama3 = temp();
    writeFileSync(path.join(llama3, 'tokenizer_config.json'), JSON.stringify({ chat_template: '<|start_header_id|>' }));
    expect(() => hfTemplate(llama3)).toThrow(/neither ChatML nor Gemma/);
  });

  it('renders the probe with the model template, ending in an open assistant turn', () => {
    const p = probeText('chatml');
    expect(p.prompt.startsWith('<|im_start|>user\n')).toBe(true);
    expect(p.prompt.endsWith('<|im_start|>assistant\n')).toBe(true);
    expect(p.continuation).toContain('<math_exp>');
    expect(probeText('gemma').prompt.endsWith('<start_of_turn>model\n')).toBe(true);
  });

  it('puts server samples through the ledger: a retry gets the same sample, another adapter or sample key does not', async () => {
    const ledger = new MemoryLedger();
    const model = { provider: 'openai-compatible', baseUrl: 'http://h:1/v1', model: 'base', lora: 'runtime', hfFingerprint: 'f'.repeat(64) };
    let calls = 0;
    const call = async () => ({ text: `t${++calls}`, tokens: [calls], logprobs: [-1], finishReason: 'stop' });
    const req = { model: 'r-s-step-1', prompt: 'P', maxTokens: 8, temperature: 1, topP: 1, seed: 7, stop: ['</x>'], logprobs: true };
    const meta = { purpose: 'sample' as const, runId: 'r', stageId: 's', sampleKey: 'st@0#0' };
    const a = await ledgeredCompletion(ledger, model, '/ck/abc', req, meta, call);
    const again = await ledgeredCompletion(ledger, model, '/ck/abc', req, meta, call);
    expect(again).toEqual(a);
    expect(calls).toBe(1);
    await ledgeredCompletion(ledger, model, '/ck/def', req, meta, call);
    await ledgeredCompletion(ledger, model, '/ck/abc', req, { ...meta, sampleKey: 'st@0#1' }, call);
    await ledgeredCompletion(ledger, model, '/ck/abc', { ...req, seed: 8 }, meta, call);
    await ledgeredCompletion(ledger, { ...model, hfFingerprint: 'e'.repeat(64) }, '/ck/abc', req, meta, call);
    expect(calls).toBe(5);
    const stats = await ledger.stats({ runId: 'r' });
    expect([stats.calls, stats.reused]).toEqual([5, 1]);
  });

  it('resolves a project-relative loraDir against the project root', () => {
    const root = temp();
    mkdirSync(path.join(root, '.swirl'));
    expect(loraDirOf({ provider: 'openai-compatible', loraDir: '.swirl/lora' }, root)).toBe(path.join(root, '.swirl', 'lora'));
    expect(loraDirOf({ provider: 'openai-compatible', loraDir: '/shared/lora' }, root)).toBe('/shared/lora');
  });
});
