"""`python -m swirl_trainer tiny-model`: a complete, deterministic tiny ChatML model for CI; and a
Hugging Face base folder without weights is a ConfigError before torch loads."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import write_step
from test_step import run_cli, run_inprocess


def test_tiny_model_is_deterministic_loads_chats_and_trains(tmp_path):
    code, events, err = run_cli("tiny-model", "--out", str(tmp_path / "m"), "--seed", "3")
    assert code == 0, err
    assert events == [{"event": "done", "dir": str(tmp_path / "m")}]
    code, _, _ = run_cli("tiny-model", "--out", str(tmp_path / "same"), "--seed", "3")
    code2, _, _ = run_cli("tiny-model", "--out", str(tmp_path / "other"), "--seed", "4")
    assert code == code2 == 0
    m = tmp_path / "m"
    names = sorted(p.name for p in m.iterdir())
    assert "model.safetensors" in names and "config.json" in names and "tokenizer.json" in names
    for n in names:  # same seed, same bytes
        assert (m / n).read_bytes() == (tmp_path / "same" / n).read_bytes(), n
    assert (m / "model.safetensors").read_bytes() != (tmp_path / "other" / "model.safetensors").read_bytes()
    assert "chat_template" in json.loads((m / "tokenizer_config.json").read_text())
    # an existing non-empty folder is refused
    code, events, _ = run_cli("tiny-model", "--out", str(m))
    assert code == 2 and events[-1]["type"] == "ConfigError"

    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cfg = AutoConfig.from_pretrained(str(m))
    assert cfg.model_type == "llama" and 32 <= cfg.hidden_size <= 64 and cfg.num_hidden_layers == 2
    tok = AutoTokenizer.from_pretrained(str(m))
    AutoModelForCausalLM.from_pretrained(str(m))
    assert tok.eos_token == "<|im_end|>" and tok.pad_token is not None and tok.pad_token_id != tok.eos_token_id
    text = tok.apply_chat_template([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+3? ~{}|\t"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n2+3? ~{}|\t<|im_end|>\n<|im_start|>assistant\n"
    ids = tok(text, add_special_tokens=False).input_ids
    assert ids[0] == tok.convert_tokens_to_ids("<|im_start|>") and tok.eos_token_id in ids
    assert tok.decode(ids) == text
    every_ascii = "".join(chr(i) for i in range(128))
    assert tok.decode(tok(every_ascii, add_special_tokens=False).input_ids) == every_ascii

    # a train step on it, the prompt rendered by its own template
    prompt = tok.apply_chat_template([{"role": "user", "content": "Q: 2+3?"}], tokenize=False, add_generation_prompt=True)
    rows = [{"stateId": "s0", "trajectoryId": "t", "prompt": prompt,
             "actions": [{"text": "<answer>5</answer><|im_end|>", "reward": 1.0}, {"text": "<answer>6</answer><|im_end|>", "reward": 0.0}]}]
    done = run_inprocess(write_step(tmp_path, m, tmp_path / "ck", rows=rows))
    assert done["reused"] is False and done["metrics"]["adapterDelta"] > 0 and done["metrics"]["actions"] == 2


def test_hf_folder_without_weights_is_a_config_error(tmp_path, tiny_llama_dir):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    for n in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_llama_dir / n, empty / n)
    t = time.time()
    code, events, err = run_cli("step", "--config", str(write_step(tmp_path, empty, tmp_path / "ck")))
    assert code == 2, err
    ev = events[-1]
    assert ev["type"] == "ConfigError" and str(empty) in ev["message"] and "no weights" in ev["message"]
    assert "weight files" in ev["hint"]
    assert time.time() - t < 20
    assert "loading torch" not in err  # refused while parsing the config
    # a sharded checkpoint's index counts as weights
    (empty / "model.safetensors.index.json").write_text("{}")
    from swirl_trainer.config import parse_config

    parse_config(json.loads(write_step(tmp_path, empty, tmp_path / "ck").read_text()))
