"""The stale-policy probe: log-probs of a fixed continuation under the input and the new adapter,
returned by every step (reused ones too), so a caller can check that the sampler serves the
policy just trained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import char_tokenizer, write_step
from test_step import run_inprocess

PROBE = {"prompt": "<start_of_turn>user\nQ: 2+3?<end_of_turn>\n<start_of_turn>model\n", "continuation": "<answer>5</answer>"}


def test_probe_before_after_reuse_and_chain(tmp_path, tiny_llama_dir):
    from swirl_trainer.step import probe_file

    cfg = write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", probe=PROBE, optim={"learningRate": 0.1})
    a = run_inprocess(cfg)
    pr = a["probe"]
    tok = char_tokenizer()
    adds_bos = tok("a").input_ids[0] == tok.bos_token_id  # as the trainer decides (this tokenizer: no)
    prompt_ids = [tok.bos_token_id] * adds_bos + tok(PROBE["prompt"], add_special_tokens=False).input_ids
    cont_ids = tok(PROBE["continuation"], add_special_tokens=False).input_ids
    assert pr["ids"] == prompt_ids + cont_ids and pr["start"] == len(prompt_ids)
    assert len(pr["before"]) == len(pr["after"]) == len(cont_ids)
    assert all(x < 0 for x in pr["before"] + pr["after"])
    assert max(abs(x - y) for x, y in zip(pr["before"], pr["after"])) > 1e-3  # the update moved the policy
    assert [e for e in a["events"] if e["event"] == "metrics"]  # the step still reports its metrics
    stored = Path(a["checkpoint"]) / probe_file((PROBE["prompt"], PROBE["continuation"]))
    assert json.loads(stored.read_text()) == pr
    manifest = json.loads((Path(a["checkpoint"]) / "swirl-checkpoint.json").read_text())
    assert stored.name not in manifest["files"]

    # not hashed, and no influence on the update
    plain = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "plain", optim={"learningRate": 0.1}))
    assert plain["hash"] == a["hash"] and "probe" not in plain
    assert (Path(plain["checkpoint"]) / "adapter_model.safetensors").read_bytes() == \
        (Path(a["checkpoint"]) / "adapter_model.safetensors").read_bytes()

    # before = the bare base: the fresh adapter scored with it disabled
    import torch
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), attn_implementation="eager").eval()
    with torch.no_grad():
        lp = torch.log_softmax(base(input_ids=torch.tensor([pr["ids"]])).logits[0].float(), -1)
    want = [float(lp[i - 1, pr["ids"][i]]) for i in range(pr["start"], len(pr["ids"]))]
    assert pr["before"] == pytest.approx(want, abs=1e-5)

    # reused: the identical probe, from the file
    again = run_inprocess(cfg)
    assert again["reused"] is True and again["probe"] == pr

    # a reused checkpoint without the file (written by a step that had no probe): computed, then stored
    no_file = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "plain", probe=PROBE, optim={"learningRate": 0.1}))
    assert no_file["reused"] is True
    assert no_file["probe"]["ids"] == pr["ids"] and no_file["probe"]["start"] == pr["start"]
    assert no_file["probe"]["before"] == pytest.approx(pr["before"], abs=1e-6)
    assert no_file["probe"]["after"] == pytest.approx(pr["after"], abs=1e-6)
    assert (Path(plain["checkpoint"]) / stored.name).is_file()

    # the next step's "before" is this step's "after": it trains the policy the last step produced
    b = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", probe=PROBE, optim={"learningRate": 0.1},
                                 inputAdapter=a["checkpoint"], stepIndex=1))
    assert b["probe"]["before"] == pytest.approx(pr["after"], abs=1e-6)
    shutil.rmtree(tmp_path / "plain")


def test_probe_in_the_persistent_trainer(tmp_path, tiny_llama_dir):
    from test_serve import Server

    srv = Server()
    try:
        first, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", probe=PROBE, optim={"learningRate": 0.1}))
        assert first["event"] == "done", first
        second, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", probe=PROBE, optim={"learningRate": 0.1},
                                        inputAdapter=first["checkpoint"], stepIndex=1))
        assert second["event"] == "done" and second["reused"] is False
        # continued from memory: its "before" is the adapter the first step left in memory
        assert second["probe"]["before"] == pytest.approx(first["probe"]["after"], abs=1e-6)
        again, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", probe=PROBE, optim={"learningRate": 0.1}))
        assert again["reused"] is True and again["probe"] == first["probe"]
    finally:
        assert srv.close() == 0
