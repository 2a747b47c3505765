"""Packed batches under FlexAttention: the BlockMask from the trie gives the log-probs of the dense
tree mask and of per-sequence evaluation; the hash rules of attention and gradientCheckpointing."""

from __future__ import annotations

import random

import pytest
import torch

from conftest import char_tokenizer, tiny_batch, tiny_gemma3, tiny_llama, write_step
from swirl_trainer.packing import Trie, ancestor_mask, batch_unpacked, euler_intervals, flex_block_masks, flex_tree, pack, token_logprobs
from test_packing import per_sequence, seqs_of

MODELS = {"llama": lambda: tiny_llama(), "gemma3-sliding": lambda: tiny_gemma3(sliding_window=4)}


@pytest.fixture
def eager_flex(monkeypatch):
    """transformers compiles flex_attention (about 30 s per shape on this CPU); the uncompiled
    reference implementation computes the same function, forward only (no CPU backward exists)."""
    import transformers.integrations.flex_attention as fa
    from torch.nn.attention.flex_attention import flex_attention

    monkeypatch.setattr(fa, "compile_friendly_flex_attention",
                        lambda q, k, v, training=False, **kw: flex_attention(q, k, v, **kw))


def test_euler_intervals_give_exactly_the_ancestor_mask():
    rng = random.Random(0)
    for _ in range(20):
        t = Trie()
        for _ in range(rng.randint(1, 8)):  # shared prefixes, and branches added after other branches
            t.insert([rng.randint(0, 3) for _ in range(rng.randint(1, 12))])
        enter, exit_ = torch.tensor(euler_intervals(t.parent)[0]), torch.tensor(euler_intervals(t.parent)[1])
        rule = (enter[None, :] <= enter[:, None]) & (exit_[:, None] <= exit_[None, :])
        assert torch.equal(rule, ancestor_mask(t.parent))


def test_block_mask_equals_the_dense_mask_with_sliding_window():
    model = tiny_gemma3(sliding_window=4)
    seqs = seqs_of(tiny_batch(), char_tokenizer())
    group = [s for s in seqs if s.key[0] < 2]
    dense = pack(group, model.config).attention_mask
    tree = pack(group, model.config, attention="flex").attention_mask
    assert len(tree.enter) > 128  # several blocks and a padded last one
    masks = flex_block_masks(tree, "cpu")
    n = len(tree.enter)
    for lt, bm in masks.items():
        got = bm.to_dense()  # [1, 1, q blocks, kv blocks]: blocks that hold any visible pair
        want = (dense[lt][0, 0] == 0)
        blocks = -(-n // 128)
        pad = torch.zeros((blocks * 128, blocks * 128), dtype=torch.bool)
        pad[:n, :n] = want
        want_blocks = pad.view(blocks, 128, blocks, 128).any(3).any(1)
        assert torch.equal(got[0, 0].bool(), want_blocks), lt
        # and element-wise: the rule itself
        q, kv = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        assert torch.equal(bm.mask_mod(0, 0, q, kv), want), lt


@pytest.mark.parametrize("name", sorted(MODELS))
def test_flex_sdpa_dense_and_per_sequence_logprobs_agree(name, eager_flex):
    model = MODELS[name]()
    seqs = seqs_of(tiny_batch(), char_tokenizer())
    with torch.no_grad():
        ref = per_sequence(model, seqs)
        for group in ([s for s in seqs if s.key[0] < 2], [s for s in seqs if s.key[0] == 2]):
            dense = token_logprobs(model, pack(group, model.config))
            flex_unit = pack(group, model.config, attention="flex")
            with pytest.raises(RuntimeError, match="flex_attention"):
                token_logprobs(model, flex_unit)  # an eager model cannot take a BlockMask
            model.config._attn_implementation = "flex_attention"
            try:
                flex = token_logprobs(model, flex_unit)
            finally:
                model.config._attn_implementation = "eager"
            sdpa_unit = pack(group, model.config, attention="sdpa")
            model.config._attn_implementation = "sdpa"
            try:
                sdpa = token_logprobs(model, sdpa_unit)
            finally:
                model.config._attn_implementation = "eager"
            for s in group:
                a, b = flex_unit.gather.spans[s.key]
                assert torch.allclose(flex[a:b], ref[s.key], atol=1e-4, rtol=0), (s.key, (flex[a:b] - ref[s.key]).abs().max())
                assert torch.allclose(flex[a:b], dense[a:b], atol=1e-4, rtol=0)
                assert torch.allclose(sdpa[a:b], ref[s.key], atol=1e-4, rtol=0), (s.key, (sdpa[a:b] - ref[s.key]).abs().max())


def test_flex_tree_rejects_unknown_layer_types():
    from swirl_trainer.errors import ConfigError

    cfg = tiny_gemma3().config
    cfg.layer_types = ["chunked_attention"] * 3
    with pytest.raises(ConfigError):
        flex_tree([-1, 0], [0, 1], cfg)


def test_attention_and_checkpointing_hash_only_when_they_change_the_computation(tmp_path, tiny_llama_dir):
    import json

    from swirl_trainer.attention import resolve_attention
    from swirl_trainer.config import load_config, parse_config
    from swirl_trainer.errors import ConfigError
    from swirl_trainer.step import step_identity

    raw = json.loads(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck").read_text())
    assert "attention" not in raw and "gradientCheckpointing" not in raw
    h = step_identity(parse_config(raw))[0]
    assert resolve_attention("auto", True) == "sdpa"  # this CPU
    # absent = auto = sdpa here; dense (eager) keeps the hash steps had before sdpa existed
    for same in ({"attention": "auto"}, {"attention": "sdpa"}, {"gradientCheckpointing": False},
                 {"probe": {"prompt": "a", "continuation": "b"}}):
        assert step_identity(parse_config({**raw, **same}))[0] == h, same
    assert step_identity(parse_config({**raw, "attention": "dense"}))[0] != h
    assert "attention" not in parse_config(raw).canonical("fp32", "dense")
    assert step_identity(parse_config({**raw, "gradientCheckpointing": True}))[0] != h
    cfg = parse_config(raw)
    assert cfg.canonical("fp32", "flex")["attention"] == "flex" and "attention" not in cfg.canonical()
    with pytest.raises(ConfigError, match="flex") as err:
        step_identity(parse_config({**raw, "attention": "flex"}))
    assert "auto" in err.value.hint
    # no packing: attention does not apply, flex is accepted and not hashed
    nopack = {**raw, "packing": False}
    assert step_identity(parse_config({**nopack, "attention": "flex"}))[0] == step_identity(parse_config(nopack))[0]
    for bad in ({"attention": "eager"}, {"gradientCheckpointing": 1}, {"probe": {"prompt": "a"}},
                {"probe": {"prompt": "", "continuation": "b"}}, {"probe": "x"}):
        with pytest.raises(ConfigError):
            parse_config({**raw, **bad})
    assert load_config  # (imported for symmetry with other tests)


@pytest.fixture
def layer_calls(monkeypatch):
    """Counts forward calls of the tiny Llama's decoder layers (a recomputed layer counts again)."""
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    calls = [0]
    forward = LlamaDecoderLayer.forward

    def counting(self, *a, **kw):
        calls[0] += 1
        return forward(self, *a, **kw)

    monkeypatch.setattr(LlamaDecoderLayer, "forward", counting)
    return calls


def test_gradient_checkpointing_gives_the_same_update(tmp_path, tiny_llama_dir, layer_calls):
    from pathlib import Path

    from safetensors.torch import load_file

    from test_step import run_inprocess

    calls = layer_calls
    plain = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "a"))
    n_plain, calls[0] = calls[0], 0
    ck = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "b", gradientCheckpointing=True))
    # the backward pass recomputes every layer of the trained forward (the KL reference is not trained)
    assert calls[0] == n_plain * 3 // 2, (calls[0], n_plain)
    assert ck["hash"] != plain["hash"]
    assert ck["metrics"]["loss"] == pytest.approx(plain["metrics"]["loss"], abs=1e-6)
    assert ck["metrics"]["gradNorm"] == pytest.approx(plain["metrics"]["gradNorm"], rel=1e-5)
    ta, tb = (load_file(str(Path(x["checkpoint"]) / "adapter_model.safetensors")) for x in (plain, ck))
    assert max((ta[k] - tb[k]).abs().max().item() for k in ta) < 1e-6


def test_a_persistent_session_turns_checkpointing_off_again(tmp_path, tiny_llama_dir, layer_calls):
    from swirl_trainer.step import Session, run_step

    calls = layer_calls
    session = Session()
    counts = []
    for k, ck in enumerate((False, True, False)):
        calls[0] = 0
        run_step(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", stepIndex=k, gradientCheckpointing=ck), lambda *a, **f: None, session)
        counts.append(calls[0])
    assert counts[1] == counts[0] * 3 // 2 and counts[2] == counts[0]


def test_compiled_block_mask_equals_the_reference_one():
    """The GPU builds the BlockMask with a compiled kernel (no N x N tensor); the same compile runs
    on CPU (about 7 s here) and must give the same blocks as the dense evaluation of the rule."""
    model = tiny_gemma3(sliding_window=4)
    seqs = seqs_of(tiny_batch(), char_tokenizer())
    tree = pack([s for s in seqs if s.key[0] < 2], model.config, attention="flex").attention_mask
    ref = flex_block_masks(tree, "cpu", compile_=False)
    got = flex_block_masks(tree, "cpu", compile_=True)
    for lt in ref:
        assert torch.equal(ref[lt].to_dense(), got[lt].to_dense()), lt
        assert torch.equal(ref[lt].full_kv_num_blocks, got[lt].full_kv_num_blocks), lt
