"""Packed (trie + tree mask) log-probs and gradients equal the per-sequence computation."""

from __future__ import annotations

import pytest
import torch

from conftest import char_tokenizer, tiny_batch, tiny_gemma3, tiny_llama
from swirl_trainer.config import Action, State
from swirl_trainer.packing import Seq, Trie, ancestor_mask, batch_unpacked, pack, token_logprobs
from swirl_trainer.step import tokenize_state


def seqs_of(rows, tok):
    out = []
    for si, r in enumerate(rows):
        st = State(r["stateId"], r["trajectoryId"], r["prompt"], tuple(Action(a["text"], a["reward"]) for a in r["actions"]))
        p, acts = tokenize_state(tok, True, st)
        out += [Seq((si, ai), p, a) for ai, a in enumerate(acts)]
    return out


def per_sequence(model, seqs):
    """Reference: every (prompt, action) on its own, plain causal forward, batch of one."""
    res = {}
    for s in seqs:
        ids = torch.tensor([s.prompt + s.action])
        logits = model(input_ids=ids).logits[0]
        lp = torch.log_softmax(logits.float(), -1)
        pos = torch.arange(len(s.prompt) - 1, len(s.prompt) + len(s.action) - 1)
        res[s.key] = lp[pos, torch.tensor(s.action)]
    return res


MODELS = {"llama": lambda: tiny_llama(), "gemma3-sliding": lambda: tiny_gemma3(sliding_window=4)}


def test_trie_shares_prefixes():
    t = Trie()
    a = t.insert([1, 2, 3, 4])
    b = t.insert([1, 2, 5])
    c = t.insert([1, 2, 3, 4, 6])
    assert len(t) == 6 and a[:2] == b[:2] and c[:4] == a
    assert t.depth == [0, 1, 2, 3, 2, 4]
    m = ancestor_mask(t.parent)
    assert m[4].tolist() == [True, True, False, False, True, False]  # 5 sees 1, 2 and itself, not 3 or 4
    assert m[5].tolist() == [True, True, True, True, False, True]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_packed_logprobs_equal_per_sequence(name):
    model = MODELS[name]()
    seqs = seqs_of(tiny_batch(), char_tokenizer())
    with torch.no_grad():
        ref = per_sequence(model, seqs)
        for group in ([s for s in seqs if s.key[0] < 2], [s for s in seqs if s.key[0] == 2]):  # one trajectory each
            unit = pack(group, model.config)
            assert unit.fed_tokens < unit.seq_tokens
            got = token_logprobs(model, unit)
            for s in group:
                a, b = unit.gather.spans[s.key]
                assert torch.allclose(got[a:b], ref[s.key], atol=1e-4, rtol=0), (s.key, (got[a:b] - ref[s.key]).abs().max())
            unp = batch_unpacked(group, pad_id=0)
            got2 = token_logprobs(model, unp)
            for s in group:
                a, b = unp.gather.spans[s.key]
                assert torch.allclose(got2[a:b], ref[s.key], atol=1e-4, rtol=0)


def test_sliding_window_is_respected():
    """Sanity of the test above: a single 4-D mask for every layer (dropping Gemma's window) gives other numbers."""
    model = tiny_gemma3(sliding_window=4)
    seqs = [s for s in seqs_of(tiny_batch(), char_tokenizer()) if s.key[0] < 2]
    unit = pack(seqs, model.config)
    with torch.no_grad():
        good = token_logprobs(model, unit)
        unit.attention_mask = unit.attention_mask["full_attention"]
        bad = token_logprobs(model, unit)
    assert (good - bad).abs().max() > 1e-3


@pytest.mark.parametrize("name", sorted(MODELS))
def test_packed_gradients_equal_per_sequence(name):
    from peft import LoraConfig, get_peft_model

    seqs = seqs_of(tiny_batch(), char_tokenizer())
    coef = {s.key: float(c) for s, c in zip(seqs, torch.linspace(-1, 1, len(seqs)))}

    def grads(packed: bool):
        torch.manual_seed(1)
        peft = get_peft_model(MODELS[name](), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"], init_lora_weights=False))
        causal = peft.get_base_model()
        if packed:
            for group in ([s for s in seqs if s.key[0] < 2], [s for s in seqs if s.key[0] == 2]):
                unit = pack(group, causal.config)
                lp = token_logprobs(causal, unit, chunk=7)  # several checkpointed vocabulary chunks
                sum(coef[s.key] * lp[slice(*unit.gather.spans[s.key])].sum() for s in group).backward()
        else:
            ref = per_sequence(causal, seqs)
            sum(coef[k] * v.sum() for k, v in ref.items()).backward()
        return {n: p.grad.clone() for n, p in peft.named_parameters() if p.requires_grad}

    g1, g2 = grads(True), grads(False)
    assert g1.keys() == g2.keys() and len(g1) > 0
    for n in g1:
        scale = g2[n].abs().max().item()
        assert scale > 0
        assert torch.allclose(g1[n], g2[n], atol=1e-5 * max(1.0, scale), rtol=1e-4), (n, (g1[n] - g2[n]).abs().max())


# bf16 (precision: bf16): base weights in bf16, forward/backward under autocast, log-softmax in fp32.
# Packed and per-sequence runs round differently (other matmul shapes, other summation order), so
# they agree to a tolerance, not bit for bit. Observed on these models: 1e-3 (log-probs of
# magnitude ~5); 1e-2 leaves 10x headroom and is still a tenth of what a mask error costs in fp32.
BF16_LOGPROB_ATOL = 1e-2
# Against fp32: bf16 keeps 8 mantissa bits (relative rounding 4e-3 per op); observed 3.3e-3.
BF16_VS_FP32_ATOL = 2e-2
# LoRA gradients (fp32 master weights, bf16 activations), relative to the largest entry: observed
# up to 2.3% (a gradient is a long sum of bf16 products).
BF16_GRAD_RTOL = 5e-2


@pytest.mark.parametrize("attention", ["dense", "sdpa"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_packed_logprobs_equal_per_sequence_bf16(name, attention):
    from swirl_trainer.attention import hf_implementation

    seqs = seqs_of(tiny_batch(), char_tokenizer())
    with torch.no_grad():
        ref32 = per_sequence(MODELS[name](), seqs)
        model = MODELS[name]().to(torch.bfloat16)
        model.config._attn_implementation = hf_implementation(attention)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ref = per_sequence(model, seqs)
            worst_vs_fp32 = 0.0
            for group in ([s for s in seqs if s.key[0] < 2], [s for s in seqs if s.key[0] == 2]):
                unit = pack(group, model.config, attention=attention)
                got = token_logprobs(model, unit)
                assert got.dtype == torch.float32
                for s in group:
                    a, b = unit.gather.spans[s.key]
                    assert torch.allclose(got[a:b], ref[s.key], atol=BF16_LOGPROB_ATOL, rtol=0), (s.key, (got[a:b] - ref[s.key]).abs().max())
                    assert torch.allclose(got[a:b], ref32[s.key], atol=BF16_VS_FP32_ATOL, rtol=0)
                    worst_vs_fp32 = max(worst_vs_fp32, (got[a:b] - ref32[s.key]).abs().max().item())
    assert worst_vs_fp32 > 0  # bf16 really ran


@pytest.mark.parametrize("attention", ["dense", "sdpa"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_packed_gradients_equal_per_sequence_bf16(name, attention):
    from peft import LoraConfig, get_peft_model

    from swirl_trainer.attention import hf_implementation

    seqs = seqs_of(tiny_batch(), char_tokenizer())
    coef = {s.key: float(c) for s, c in zip(seqs, torch.linspace(-1, 1, len(seqs)))}

    def grads(packed: bool):
        torch.manual_seed(1)
        peft = get_peft_model(MODELS[name]().to(torch.bfloat16), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "o_proj", "down_proj"], init_lora_weights=False))
        causal = peft.get_base_model()
        causal.config._attn_implementation = hf_implementation(attention)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            if packed:
                loss = 0
                for group in ([s for s in seqs if s.key[0] < 2], [s for s in seqs if s.key[0] == 2]):
                    unit = pack(group, causal.config, attention=attention)
                    lp = token_logprobs(causal, unit, chunk=7)
                    loss = loss + sum(coef[s.key] * lp[slice(*unit.gather.spans[s.key])].sum() for s in group)
            else:
                ref = per_sequence(causal, seqs)
                loss = sum(coef[k] * v.sum() for k, v in ref.items())
        loss.backward()
        out = {n: p.grad.clone() for n, p in peft.named_parameters() if p.requires_grad}
        assert all(p.dtype == torch.float32 for n, p in peft.named_parameters() if p.requires_grad)  # fp32 master weights
        return out

    g1, g2 = grads(True), grads(False)
    assert g1.keys() == g2.keys() and len(g1) > 0
    for n in g1:
        scale = g2[n].abs().max().item()
        assert scale > 0
        assert (g1[n] - g2[n]).abs().max().item() <= BF16_GRAD_RTOL * scale, (n, (g1[n] - g2[n]).abs().max(), scale)
