"""The persistent trainer's `generate`: G samples per prompt from the base plus an adapter, with the
ids actually generated and their raw log-probs, which must be what the trainer scores them at."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import write_step

PROMPTS = [
    {"stateId": "t1/0", "prompt": "<|im_start|>user\nQ: 2+3?<|im_end|>\n<|im_start|>assistant\n"},
    # Longer: the batch is left-padded, which must not change any log-prob.
    {"stateId": "t2/1", "prompt": "<|im_start|>user\nQ: what is the capital of France?<|im_end|>\n<|im_start|>assistant\n<math_exp>1+1</math_exp><|im_end|>\n<|im_start|>user\n2<|im_end|>\n<|im_start|>assistant\n"},
]
# Common bytes: most samples of a random byte-level model end on one of them within 24 tokens.
STOPS = ["a", "e", "o", "</"]


@pytest.fixture(scope="module")
def tiny_chatml(tmp_path_factory) -> Path:
    from swirl_trainer.tiny import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny-chatml") / "m", 0)


def request(base: Path, **over) -> dict:
    cfg = {"version": 2, "base": {"hfDir": str(base)}, "inputAdapter": None, "precision": "fp32", "attention": "dense",
           "prompts": PROMPTS, "samples": 4, "maxTokens": 24, "temperature": 1, "stop": STOPS, "seed": 7}
    cfg.update(over)
    return cfg


def generate(cfg: dict, session=None) -> dict:
    from swirl_trainer.generate import run_generate
    from swirl_trainer.step import Session

    return run_generate(cfg, lambda *a, **k: None, session or Session())


def teacher_forced(model, tok, prompt: str, ids: list[int]) -> list[float]:
    """Log-prob of each of `ids` after the prompt, one unpadded forward pass (temperature 1)."""
    import torch

    p = tok(prompt, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([p + ids])).logits[0].float().log_softmax(-1)
    return [float(logits[len(p) - 1 + k, t]) for k, t in enumerate(ids)]


def random_adapter(base: Path, out: Path) -> Path:
    """A PEFT adapter with random A and B (a fresh one's B is 0: it would change nothing)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(3)
    m = get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)),
                       LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "lora_" in n:
                p.normal_(0, 0.3)
    m.save_pretrained(str(out))
    return out


def check_samples(res: dict, tok, model, prompts=PROMPTS, g: int = 4, max_tokens: int = 24, stops=STOPS) -> list[str]:
    """Every sample's ids decode to its text (up to the stop), end where the contract says, and
    carry the teacher-forced log-prob of each id. Returns the finish reasons."""
    assert [r["stateId"] for r in res["results"]] == [p["stateId"] for p in prompts]
    eos = tok.eos_token_id
    finishes = []
    for r, p in zip(res["results"], prompts):
        assert len(r["samples"]) == g
        for s in r["samples"]:
            ids, lps = s["tokens"], s["logprobs"]
            assert ids and len(lps) == len(ids)
            full = tok.decode(ids, skip_special_tokens=True)
            if s["finish"] == "eos":
                assert ids[-1] == eos and eos not in ids[:-1] and full == s["text"]
            elif s["finish"] == "stop":
                # the last id completed the stop string: without it, no stop string is in the text
                assert full.startswith(s["text"]) and any(full[len(s["text"]):].startswith(x) for x in stops)
                assert not any(x in tok.decode(ids[:-1], skip_special_tokens=True) for x in stops)
                assert not any(x in s["text"] for x in stops)
            else:
                assert s["finish"] == "length" and len(ids) == max_tokens and full == s["text"]
                assert not any(x in full for x in stops)
            want = teacher_forced(model, tok, p["prompt"], ids)
            assert max(abs(a - b) for a, b in zip(lps, want)) < 1e-4, (lps, want)
            finishes.append(s["finish"])
    return finishes


def test_samples_are_the_generated_ids_with_teacher_forced_logprobs(tiny_chatml):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    res = generate(request(tiny_chatml))
    tok = AutoTokenizer.from_pretrained(str(tiny_chatml))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_chatml)).eval()
    finishes = check_samples(res, tok, model)
    assert "stop" in finishes, finishes  # the stop path was exercised
    assert res["metrics"]["rows"] == 8 and res["metrics"]["tokens"] == sum(
        len(s["tokens"]) for r in res["results"] for s in r["samples"])
    # G samples of one prompt are drawn independently, not copies of one
    assert len({tuple(s["tokens"]) for s in res["results"][0]["samples"]}) > 1


def test_eos_ends_a_sample_and_is_kept(tiny_chatml):
    """Without stop strings and with room to run, some samples end on EOS (<|im_end|>)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    res = generate(request(tiny_chatml, stop=[], maxTokens=400, samples=6, prompts=PROMPTS[:1]))
    tok = AutoTokenizer.from_pretrained(str(tiny_chatml))
    model = AutoModelForCausalLM.from_pretrained(str(tiny_chatml)).eval()
    finishes = check_samples(res, tok, model, PROMPTS[:1], 6, max_tokens=400, stops=[])
    assert "eos" in finishes, finishes


def test_same_seed_same_samples_other_seed_others(tiny_chatml):
    a, b = generate(request(tiny_chatml)), generate(request(tiny_chatml))
    assert a["results"] == b["results"]
    c = generate(request(tiny_chatml, seed=8))
    assert [s["tokens"] for r in c["results"] for s in r["samples"]] != [s["tokens"] for r in a["results"] for s in r["samples"]]


def test_the_adapter_changes_samples_and_logprobs(tmp_path, tiny_chatml):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter = random_adapter(tiny_chatml, tmp_path / "adapter")
    bare = generate(request(tiny_chatml))
    tuned = generate(request(tiny_chatml, inputAdapter=str(adapter)))
    assert not tuned["metrics"]["adapterFromMemory"]
    ids = lambda r: [s["tokens"] for x in r["results"] for s in x["samples"]]  # noqa: E731
    assert ids(bare) != ids(tuned)
    tok = AutoTokenizer.from_pretrained(str(tiny_chatml))
    base = AutoModelForCausalLM.from_pretrained(str(tiny_chatml)).eval()
    # the adapter's samples carry the adapter's log-probs, not the base's
    s = tuned["results"][0]["samples"][0]
    under_base = teacher_forced(base, tok, PROMPTS[0]["prompt"], s["tokens"])
    assert max(abs(a - b) for a, b in zip(s["logprobs"], under_base)) > 1e-2
    check_samples(tuned, tok, PeftModel.from_pretrained(base, str(adapter)).eval())


def test_sampling_from_the_session_reuses_its_adapter_and_leaves_training_unchanged(tmp_path, tiny_llama_dir):
    """Sampling between two steps with the checkpoint the trainer holds uses that model (no reload)
    and the next step writes the same bytes as without the sampling in between."""
    from swirl_trainer.step import Session, run_step

    def chain(root: Path, sample: bool) -> tuple[bytes, dict | None]:
        session = Session()
        d0 = run_step(write_step(tmp_path, tiny_llama_dir, root, optim={"learningRate": 0.1}), lambda *a, **k: None, session)
        got = None
        if sample:
            held = session.base
            got = generate({"version": 2, "base": {"hfDir": str(tiny_llama_dir)}, "inputAdapter": d0["checkpoint"],
                            "precision": "fp32", "attention": "auto", "prompts": [{"stateId": "s", "prompt": "Q: 2+3?"}],
                            "samples": 3, "maxTokens": 8, "stop": [], "seed": 1}, session)
            assert session.base is held and session.checkpoint == "ckpt:" + d0["hash"]
        d1 = run_step(write_step(tmp_path, tiny_llama_dir, root, inputAdapter=d0["checkpoint"], stepIndex=1,
                                 optim={"learningRate": 0.1}), lambda *a, **k: None, session)
        return (Path(d1["checkpoint"]) / "adapter_model.safetensors").read_bytes(), got

    with_sampling, got = chain(tmp_path / "a", True)
    without, _ = chain(tmp_path / "b", False)
    assert got is not None and got["metrics"]["adapterFromMemory"] is True
    assert with_sampling == without


@pytest.mark.parametrize("change, words", [
    ({"temperature": 0.7}, "temperature"),
    ({"prompts": []}, "prompts"),
    ({"prompts": [{"stateId": "a", "prompt": "x"}, {"stateId": "a", "prompt": "y"}]}, "duplicate"),
    ({"samples": 0}, "samples"),
    ({"stop": [""]}, "stop"),
    ({"inputAdapter": "/nonexistent"}, "PEFT"),
    ({"topK": 40}, "unknown"),
])
def test_bad_requests_are_config_errors(tiny_chatml, change, words):
    from swirl_trainer.errors import ConfigError
    from swirl_trainer.generate import parse_generate

    with pytest.raises(ConfigError, match=words):
        parse_generate(request(tiny_chatml, **change))


def test_serve_answers_generate_by_id_and_keeps_serving(tiny_chatml):
    from test_serve import Server

    srv = Server()
    try:
        rid = srv.send("generate", config=request(tiny_chatml, samples=2, prompts=PROMPTS[:1]))
        while (ev := srv.next())["event"] not in ("done", "error"):
            assert ev["id"] == rid and ev["event"] == "progress", ev
        assert ev["event"] == "done" and ev["id"] == rid, ev
        assert len(ev["results"][0]["samples"]) == 2
        same = generate(request(tiny_chatml, samples=2, prompts=PROMPTS[:1]))
        assert ev["results"] == json.loads(json.dumps(same["results"]))
        bad = srv.send("generate", config=request(tiny_chatml, temperature=2))
        while (ev := srv.next())["event"] not in ("done", "error"):
            pass
        assert ev["id"] == bad and ev["event"] == "error" and ev["type"] == "ConfigError"
        pid = srv.send("ping")
        assert srv.next() == {"event": "pong", "id": pid}
    finally:
        assert srv.close() == 0
