"""The llama.cpp LoRA GGUF: names, shapes, metadata, the llama q/k row permutation, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from swirl_trainer.gguf_adapter import gguf_tensors, llama_permute, write_lora_gguf

TRAINER = Path(__file__).resolve().parents[1]


def peft_state(layers=2, r=4, hidden=32, kv=16):
    rng = np.random.default_rng(0)
    st = {}
    for i in range(layers):
        for mod, out in (("self_attn.q_proj", hidden), ("self_attn.k_proj", kv), ("mlp.down_proj", hidden)):
            st[f"base_model.model.model.layers.{i}.{mod}.lora_A.weight"] = rng.standard_normal((r, hidden)).astype(np.float32)
            st[f"base_model.model.model.layers.{i}.{mod}.lora_B.weight"] = rng.standard_normal((out, r)).astype(np.float32)
    return st


def test_names_and_neox_archs_unchanged():
    st = peft_state()
    t = gguf_tensors(st, "gemma3")
    assert set(t) == {f"blk.{i}.{n}.weight.lora_{ab}" for i in range(2) for n in ("attn_q", "attn_k", "ffn_down") for ab in "ab"}
    assert np.array_equal(t["blk.1.attn_k.weight.lora_b"], st["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"])
    assert t["blk.0.attn_q.weight.lora_a"].shape == (4, 32) and t["blk.0.attn_q.weight.lora_b"].shape == (32, 4)


def test_llama_permutes_q_and_k_rows_like_convert_hf_to_gguf():
    st = peft_state()
    t = gguf_tensors(st, "llama", n_head=4, n_kv_head=2)
    qb = st["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    kb = st["base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight"]
    assert np.array_equal(t["blk.0.attn_q.weight.lora_b"], llama_permute(qb, 4))
    assert np.array_equal(t["blk.0.attn_k.weight.lora_b"], llama_permute(kb, 2))
    assert not np.array_equal(t["blk.0.attn_q.weight.lora_b"], qb)
    # A and non-rope modules are untouched; the permutation is the one applied to the base weight rows,
    # so (permuted B) @ A == permute(B @ A): the adapter's delta lands on the same rows as the base weight's.
    qa = st["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    assert np.array_equal(t["blk.0.attn_q.weight.lora_a"], qa)
    assert np.allclose(t["blk.0.attn_q.weight.lora_b"] @ qa, llama_permute(qb @ qa, 4))
    with pytest.raises(ValueError):
        gguf_tensors({"base_model.model.model.embed_tokens.lora_A.weight": np.zeros((1, 1))}, "gemma3")


def test_export_cli_round_trip(tmp_path):
    import gguf
    from safetensors.numpy import save_file

    base = tmp_path / "base.gguf"
    w = gguf.GGUFWriter(str(base), "llama")
    w.add_uint32("llama.attention.head_count", 4)
    w.add_uint32("llama.attention.head_count_kv", 2)
    w.add_tensor("token_embd.weight", np.zeros((8, 32), dtype=np.float32))
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    ad = tmp_path / "adapter"
    ad.mkdir()
    st = peft_state()
    save_file(st, str(ad / "adapter_model.safetensors"))
    (ad / "adapter_config.json").write_text(json.dumps({"lora_alpha": 8, "r": 4}))
    out = tmp_path / "out.gguf"
    r = subprocess.run([sys.executable, "-m", "swirl_trainer", "export-gguf", "--adapter", str(ad), "--base", str(base), "--out", str(out)],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(TRAINER)}, timeout=120)
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout.splitlines()[-1])
    assert done == {"event": "done", "out": str(out), "arch": "llama", "tensors": 12}
    rd = gguf.GGUFReader(str(out))
    assert rd.get_field("general.type").contents() == "adapter" and rd.get_field("adapter.lora.alpha").contents() == 8.0
    got = {t.name: np.array(t.data) for t in rd.tensors}
    assert np.array_equal(got["blk.1.attn_k.weight.lora_b"], llama_permute(st["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"], 2))


def test_write_is_plain_f32(tmp_path):
    import gguf

    p = tmp_path / "a.gguf"
    write_lora_gguf(p, "qwen2", 16, {"blk.0.attn_v.weight.lora_a": np.ones((2, 3), np.float32)})
    t = gguf.GGUFReader(str(p)).tensors[0]
    assert t.tensor_type == gguf.GGMLQuantizationType.F32 and t.name == "blk.0.attn_v.weight.lora_a"
