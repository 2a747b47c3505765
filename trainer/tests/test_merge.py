"""export-merged: the merged folder computes what base + adapter compute, loads without peft, never half-written."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import write_step
from test_step import run_cli, run_inprocess


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0]


def test_merged_equals_base_plus_adapter(tmp_path, tiny_llama_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    step = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck"))
    out = tmp_path / "merged"
    code, events, err = run_cli("export-merged", "--adapter", step["checkpoint"], "--base-hf", str(tiny_llama_dir), "--out", str(out))
    assert code == 0, err
    done = events[-1]
    assert done["event"] == "done" and done["adapterHash"] == step["hash"]
    manifest = json.loads((out / "swirl-merged.json").read_text())
    assert "model.safetensors" in manifest["files"] and manifest["base"].startswith("hf:")
    assert not list(tmp_path.glob(".merged.*.tmp"))

    ids = [1, 10, 20, 30, 40, 50, 60]
    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32).eval()
    base_logits = _logits(base, ids)
    with_adapter = PeftModel.from_pretrained(base, step["checkpoint"]).eval()
    expected = _logits(with_adapter, ids)
    merged = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    got = _logits(merged, ids)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()
    # The adapter changed something (lr 1e-2), so equality above is not base == base.
    assert (expected - base_logits).abs().max() > 1e-4


def test_merged_export_errors_are_config_errors(tmp_path, tiny_llama_dir):
    step = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck"))
    code, events, _ = run_cli("export-merged", "--adapter", str(tmp_path), "--base-hf", str(tiny_llama_dir), "--out", str(tmp_path / "m1"))
    assert code == 2 and events[-1]["type"] == "ConfigError" and "PEFT" in events[-1]["message"]
    code, events, _ = run_cli("export-merged", "--adapter", step["checkpoint"], "--base-gguf", "/nonexistent.gguf", "--out", str(tmp_path / "m2"))
    assert code == 2 and "not found" in events[-1]["message"]
    code, events, _ = run_cli("export-merged", "--adapter", step["checkpoint"], "--out", str(tmp_path / "m3"))
    assert code == 2 and "exactly one base" in events[-1]["message"]
    (tmp_path / "m4").mkdir()
    code, events, _ = run_cli("export-merged", "--adapter", step["checkpoint"], "--base-hf", str(tiny_llama_dir), "--out", str(tmp_path / "m4"))
    assert code == 2 and "already exists" in events[-1]["message"]
