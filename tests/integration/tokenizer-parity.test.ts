// The trainer scores sampled tokens against the prompt the sampler conditioned on: the
// prompt ids llama.cpp evaluated (BOS where the model prepends one, then the rendered turns
// with special tokens parsed) must equal the ids the Python trainer builds from the same
// text (trainer/swirl_trainer/step.py tokenize_state, Hugging Face tokenizer converted from
// the GGUF). If they differed, the importance weights π/q would compare different contexts.
// Checked on the embedded gemma3-270m (installed by setup); qwen2.5-coder-1.5b matched too
// in a probe (docs/operations.md, "The training signal").
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AIMessage, HumanMessage } from '@langchain/core/messages';
import { getLlama } from 'node-llama-cpp';
import { describe, expect, it } from 'vitest';
import { detectTemplate, renderPrompt } from '../../agents/llama-cpp-chat.js';
import { instructionPrompt } from '../../agents/protocol.js';
import { packageRoot, swirlPaths } from '../../runtime/paths.js';

const PY = String.raw`
import json, sys, tempfile
from pathlib import Path
from swirl_trainer.base import materialize_gguf, base_identity
from swirl_trainer.config import parse_config, State, Action
from swirl_trainer.step import tokenize_state
from transformers import AutoTokenizer
req = json.loads(sys.stdin.read())
batch = Path(tempfile.mkstemp(suffix=".jsonl")[1])
cfg = parse_config({"version": 2, "base": {"gguf": req["gguf"]}, "outputRoot": tempfile.gettempdir(), "batch": str(batch)})
batch.unlink()
folder = materialize_gguf(cfg.base_gguf, base_identity(cfg).rsplit(":", 1)[1], lambda p: None)
meta = json.loads((folder / "swirl-base.json").read_text())
tok = AutoTokenizer.from_pretrained(str(folder))
print(json.dumps([tokenize_state(tok, bool(meta["addBos"]), State("s", "t", p, (Action("x", 0.0),)))[0] for p in req["prompts"]]))
`;

describe('prompt ids: sampler = trainer', () => {
  it('gemma3-270m: llama.cpp and the trainer tokenize rendered states to the same ids', async () => {
    const p = swirlPaths();
    const gguf = path.join(p.models, 'gemma-3-270m-q4_k_m.gguf');
    const llama = await getLlama({ gpu: false, logLevel: 'error' as never, maxThreads: 1 });
    const model = await llama.loadModel({ modelPath: gguf, vocabOnly: true } as never);
    const template = await detectTemplate(gguf);
    const q = instructionPrompt({ question: 'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many in all?', tools: ['calculator'], maxSteps: 10 }, readFileSync(path.join(packageRoot, 'pipelines', 'prompts', 'gsm8k-one-shot.txt'), 'utf8'));
    const states = [
      [new HumanMessage(q)],
      [new HumanMessage(q), new AIMessage('First April. <math_exp>48 / 2</math_exp>'), new HumanMessage('48 / 2 -> 24.0')],
      [new HumanMessage(`${q}\n  spaces,\ttabs and ünïcödé — 1,000.50 $`)],
    ];
    const prompts = states.map((s) => renderPrompt(s, template).prompt);
    const bos = model.tokens.bos;
    const sampler = prompts.map((pr) => {
      const t = model.tokenize(pr, true);
      return bos !== null && model.tokens.shouldPrependBosToken && t[0] !== bos ? [bos, ...t] : [...t];
    });
    const out = execFileSync(p.venvPython, ['-c', PY], { input: JSON.stringify({ gguf, prompts }), env: { ...process.env, PYTHONPATH: path.join(packageRoot, 'trainer'), HF_HUB_OFFLINE: '1', TRANSFORMERS_OFFLINE: '1' }, encoding: 'utf8', maxBuffer: 1 << 24 });
    const trainer = JSON.parse(out.trim().split('\n').at(-1)!) as number[][];
    expect(trainer).toEqual(sampler);
    await model.dispose();
  }, 300_000);
});
