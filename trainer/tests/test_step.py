"""The step command's contract: errors, idempotence, atomicity, determinism, outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import tiny_batch, write_step

TRAINER = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> tuple[int, list[dict], str]:
    r = subprocess.run([sys.executable, "-m", "swirl_trainer", *args], capture_output=True, text=True, timeout=timeout,
                       env={**os.environ, "PYTHONPATH": str(TRAINER), **(env or {})}, cwd="/")
    events = [json.loads(line) for line in r.stdout.splitlines()]  # stdout is JSON lines only
    return r.returncode, events, r.stderr


def run_inprocess(config: Path) -> dict:
    from swirl_trainer.step import run_step

    events = []
    result = run_step(config, lambda event, **f: events.append({"event": event, **f}))
    result["events"] = events
    return result


@pytest.mark.parametrize("change, kind, words", [
    ({"base": {"gguf": "/nonexistent/model.gguf"}}, "ConfigError", "not found"),
    ({"base": {"hfDir": "/nonexistent"}}, "ConfigError", "config.json"),
    ({"lora": {"rank": 0, "alpha": 8}}, "ConfigError", "lora.rank"),
    ({"objective": "ppo"}, "ConfigError", "objective"),
    ({"optim": {"learningRate": -1}}, "ConfigError", "learningRate"),
    ({"lora": {"rank": 4, "targetModules": ["embed_tokens"]}}, "ConfigError", "targetModules"),
    ({"surprise": 1}, "ConfigError", "unknown"),
    ({"rows": []}, "DataError", "no states"),
    ({"rows": [{"stateId": "a", "trajectoryId": "t", "prompt": "p", "actions": [{"text": "x", "reward": 1}]}]}, "DataError", "at least 2"),
    ({"rows": [{"stateId": "a", "trajectoryId": "t", "prompt": "p", "actions": []}]}, "DataError", "actions"),
])
def test_bad_config_fails_fast_and_non_retryable(tmp_path, tiny_llama_dir, change, kind, words):
    change = dict(change)
    rows = change.pop("rows", None)
    cfg = write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", rows=rows, **change)
    t = time.time()
    code, events, err = run_cli("step", "--config", str(cfg))
    assert code == 2, err
    assert events[-1]["event"] == "error" and events[-1]["type"] == kind, events
    assert words in events[-1]["message"] and events[-1]["hint"]
    assert time.time() - t < 20  # validation happens before torch is imported
    assert not (tmp_path / "ck").exists() or not any((tmp_path / "ck").iterdir())


def test_missing_config_file_is_a_config_error(tmp_path):
    code, events, _ = run_cli("step", "--config", str(tmp_path / "nope.json"))
    assert code == 2 and events[-1]["type"] == "ConfigError"


def test_step_cli_outputs_and_reuse(tmp_path, tiny_llama_dir):
    cfg = write_step(tmp_path, tiny_llama_dir, tmp_path / "ck")
    code, events, err = run_cli("step", "--config", str(cfg))
    assert code == 0, err
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done" and "metrics" in kinds and kinds.count("progress") >= 3
    done = events[-1]
    ck = Path(done["checkpoint"])
    assert ck == tmp_path / "ck" / done["hash"] and done["reused"] is False
    assert {"adapter_model.safetensors", "adapter_config.json", "adapter.gguf", "optimizer.pt", "swirl-checkpoint.json"} <= {p.name for p in ck.iterdir()}
    m = done["metrics"]
    assert m["states"] == 3 and m["actions"] == 12 and m["packedTokens"] < m["tokens"] and m["kl"] == pytest.approx(0, abs=1e-9)
    assert m["meanReward"] == pytest.approx(sum(a["reward"] for r in tiny_batch() for a in r["actions"]) / 12)

    # the GGUF adapter: llama.cpp's names and PyTorch shapes
    from gguf import GGUFReader

    r = GGUFReader(done["ggufAdapter"])
    assert r.get_field("general.architecture").contents() == "llama"
    assert r.get_field("general.type").contents() == "adapter"
    assert r.get_field("adapter.type").contents() == "lora"
    assert r.get_field("adapter.lora.alpha").contents() == 8.0
    names = {t.name: tuple(int(x) for x in reversed(t.shape)) for t in r.tensors}
    assert len(names) == 2 * 2 * 4  # 2 layers x 4 modules x (a, b)
    assert names["blk.0.attn_q.weight.lora_a"] == (4, 32) and names["blk.1.attn_output.weight.lora_b"] == (32, 4)
    assert names["blk.0.attn_k.weight.lora_b"] == (16, 4)  # 2 kv heads x head_dim 8

    # rerun: same hash, nothing computed
    t = time.time()
    code, events, _ = run_cli("step", "--config", str(cfg))
    assert code == 0 and events[-1]["reused"] is True and events[-1]["hash"] == done["hash"]
    assert time.time() - t < 15


def test_same_seed_same_adapter_and_chained_steps(tmp_path, tiny_llama_dir):
    a = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "a"))
    b = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "b"))
    assert a["hash"] == b["hash"]
    fa, fb = (Path(x["checkpoint"]) / "adapter_model.safetensors" for x in (a, b))
    assert fa.read_bytes() == fb.read_bytes()  # bit-exact
    assert (Path(a["checkpoint"]) / "adapter.gguf").read_bytes() == (Path(b["checkpoint"]) / "adapter.gguf").read_bytes()

    # packing off: same update to float tolerance, another hash
    from safetensors.torch import load_file

    c = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "a", packing=False))
    assert c["hash"] != a["hash"] and c["metrics"]["packedTokens"] > a["metrics"]["packedTokens"]
    ta, tc = load_file(str(fa)), load_file(str(Path(c["checkpoint"]) / "adapter_model.safetensors"))
    assert max((ta[k] - tc[k]).abs().max().item() for k in ta) < 1e-5
    assert c["metrics"]["loss"] == pytest.approx(a["metrics"]["loss"], abs=1e-5)

    # a second step on top of the first: KL is now positive, the adapter moves on
    d = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "a", inputAdapter=a["checkpoint"], stepIndex=1))
    assert d["hash"] != a["hash"] and d["metrics"]["kl"] > 0
    td = load_file(str(Path(d["checkpoint"]) / "adapter_model.safetensors"))
    assert max((ta[k] - td[k]).abs().max().item() for k in ta) > 0

    # sft and stored-actions objectives run too
    sft = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "a", objective="sft"))
    assert sft["metrics"]["loss"] > 0 and sft["metrics"]["kl"] is None
    sa = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "a", objective="stored-actions"))
    assert sa["hash"] not in (a["hash"], sft["hash"])

    # a changed LoRA shape on top of an adapter is a ConfigError
    from swirl_trainer.errors import ConfigError

    with pytest.raises(ConfigError):
        run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "a", inputAdapter=a["checkpoint"], lora={"rank": 8, "alpha": 8}))


def test_kill_midway_leaves_no_checkpoint(tmp_path, tiny_llama_dir):
    cfg = write_step(tmp_path, tiny_llama_dir, tmp_path / "ck")
    proc = subprocess.Popen([sys.executable, "-m", "swirl_trainer", "step", "--config", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd="/",
                            env={**os.environ, "PYTHONPATH": str(TRAINER), "SWIRL_TRAINER_TEST_PAUSE_BEFORE_RENAME": "120"})
    try:
        for line in proc.stdout:  # wait until the checkpoint files are written but not yet renamed
            if json.loads(line).get("phase") == "test pause before rename":
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    root = tmp_path / "ck"
    left = [p.name for p in root.iterdir()]
    assert left and all(n.startswith(".") and n.endswith(".tmp") for n in left), left  # only the tmp folder

    redo = run_inprocess(cfg)
    assert redo["reused"] is False
    assert [p.name for p in root.iterdir()] == [redo["hash"]]  # the dead process's tmp folder is cleaned
    clean = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "clean"))
    assert (Path(redo["checkpoint"]) / "adapter_model.safetensors").read_bytes() == (Path(clean["checkpoint"]) / "adapter_model.safetensors").read_bytes()


def test_bf16_and_fp32_agree_on_the_loss_and_precision_is_hashed(tmp_path, tiny_llama_dir):
    """Same data, two chained steps each: bf16 losses equal fp32's to 1% (bf16 rounds activations
    to 8 mantissa bits; observed well below that), under another hash."""
    from safetensors.torch import load_file

    from swirl_trainer.precision import resolve_precision

    runs = {}
    for prec in ("fp32", "bf16"):
        a = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / prec, precision=prec))
        b = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / prec, precision=prec, inputAdapter=a["checkpoint"], stepIndex=1))
        runs[prec] = (a, b)
        assert a["metrics"]["precision"] == prec
    (f1, f2), (b1, b2) = runs["fp32"], runs["bf16"]
    assert f1["hash"] != b1["hash"]
    for f, b in ((f1, b1), (f2, b2)):
        assert b["metrics"]["loss"] == pytest.approx(f["metrics"]["loss"], rel=1e-2, abs=1e-4)
        assert b["metrics"]["meanActionLogprob"] == pytest.approx(f["metrics"]["meanActionLogprob"], rel=1e-2)
    assert b2["metrics"]["loss"] != f2["metrics"]["loss"]  # bf16 really ran
    tf, tb = (load_file(str(Path(x["checkpoint"]) / "adapter_model.safetensors")) for x in (f2, b2))
    assert all(tb[k].dtype == tf[k].dtype == torch_float32() for k in tf)  # master weights stay fp32
    # (No closeness test on the weights: Adam's first steps move every weight by about +-lr whatever
    # the gradient's size, so a gradient entry near 0 may flip sign between fp32 and bf16.)

    # fp32 keeps the hash it had before precision existed; auto is hashed as what it resolves to
    assert f1["hash"] == run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / "fp32", precision="fp32"))["hash"]
    auto = run_inprocess(write_step(tmp_path, tiny_llama_dir, tmp_path / resolve_precision("auto"), precision="auto"))
    assert auto["reused"] is True and auto["hash"] == runs[resolve_precision("auto")][0]["hash"]


def torch_float32():
    import torch

    return torch.float32
