"""The training signal: sampled token ids are trained as given, the off-policy correction, and
the metrics that say whether an update had anything to learn from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import char_tokenizer, state_row, tiny_batch, write_step
from swirl_trainer.config import Action, State, load_batch, parse_config
from swirl_trainer.errors import ConfigError, DataError

PROMPT = "<start_of_turn>user\nQ: 2+3?<end_of_turn>\n<start_of_turn>model\n"


def run(config: Path) -> dict:
    from swirl_trainer.step import run_step

    events: list[dict] = []
    result = run_step(config, lambda event, **f: events.append({"event": event, **f}))
    result["events"] = events
    return result


def ids(text: str) -> list[int]:
    return char_tokenizer()(text, add_special_tokens=False).input_ids


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --- batch parsing ---------------------------------------------------------------------------

def test_old_batch_lines_parse_as_before(tmp_path):
    (st,) = load_batch(write_rows(tmp_path / "b.jsonl", [state_row("s", "t", "p", [("a", 1.0), ("b", 0.0)])]), "swirl", "rloo")
    assert st.actions == (Action("a", 1.0), Action("b", 0.0))
    assert st.actions[0].tokens is None and st.actions[0].sampler_logprobs is None


def test_tokens_and_sampler_logprobs_are_parsed(tmp_path):
    row = {"stateId": "s", "trajectoryId": "t", "prompt": "p", "actions": [
        {"text": "ab", "reward": 1, "tokens": [7, 8], "samplerLogprobs": [-0.5, -1]},
        {"text": "", "reward": 0, "tokens": [9]},  # with tokens, text is only for people
    ]}
    (st,) = load_batch(write_rows(tmp_path / "b.jsonl", [row]), "swirl", "rloo")
    assert st.actions[0].tokens == (7, 8) and st.actions[0].sampler_logprobs == (-0.5, -1.0)
    assert st.actions[1].tokens == (9,) and st.actions[1].sampler_logprobs is None
    assert st.where == "b.jsonl:1"


@pytest.mark.parametrize("action, words", [
    ({"tokens": [7, 8], "samplerLogprobs": [-0.5]}, "samplerLogprobs has 1 entries, tokens has 2"),
    ({"samplerLogprobs": [-0.5]}, "needs tokens"),
    ({"tokens": [7, -1]}, "non-negative integers"),
    ({"tokens": [7, True]}, "non-negative integers"),
    ({"tokens": []}, "non-negative integers"),
    ({"tokens": [7], "samplerLogprobs": [None]}, "finite numbers"),
    ({"tokens": None, "text": ""}, "text must be a non-empty string"),
])
def test_bad_tokens_or_sampler_logprobs_are_data_errors_with_file_and_line(tmp_path, action, words):
    good = state_row("s0", "t", "p", [("a", 1.0), ("b", 0.0)])
    bad = {"stateId": "s1", "trajectoryId": "t", "prompt": "p",
           "actions": [{"text": "x", "reward": 0}, {"text": "y", "reward": 1, **action}]}
    with pytest.raises(DataError) as err:
        load_batch(write_rows(tmp_path / "b.jsonl", [good, bad]), "swirl", "rloo")
    assert "b.jsonl:2: actions[1]" in str(err.value) and words in str(err.value), err.value
    assert err.value.hint


def test_sampled_ids_are_trained_as_given():
    """An action whose text would tokenize to other ids is trained on its sampled ids."""
    from swirl_trainer.step import tokenize_state

    tok = char_tokenizer()
    sampled = ids("<answer>5</answer>")
    st = State("s", "t", PROMPT, (Action("something else entirely", 1.0, tuple(sampled)), Action("<answer>7</answer>", 0.0)))
    p, (a0, a1) = tokenize_state(tok, True, st)
    assert a0 == sampled != ids("something else entirely")
    assert a1 == ids("<answer>7</answer>")  # no tokens: the text, as before
    assert p == tokenize_state(tok, True, State("s", "t", PROMPT, (Action("x", 0.0),)))[0]  # prompt unchanged


# --- config and hash -------------------------------------------------------------------------

def test_importance_clip_is_parsed_and_hashed_only_when_used(tmp_path, tiny_llama_dir):
    from swirl_trainer.step import step_identity

    without = json.loads(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck").read_text())
    assert "importanceClip" not in without
    base = parse_config(without)
    assert base.importance_clip == 0.0 and "importanceClip" not in base.canonical()
    zero = parse_config({**without, "importanceClip": 0})
    on = parse_config({**without, "importanceClip": 2})
    assert on.importance_clip == 2.0 and on.canonical()["importanceClip"] == 2.0
    h = step_identity(base)[0]
    assert step_identity(zero)[0] == h  # 0 = off = the field absent: old hashes and checkpoints stay valid
    assert step_identity(on)[0] != h
    for bad in (-1, "2", None, float("nan")):
        with pytest.raises(ConfigError, match="importanceClip"):
            parse_config({**without, "importanceClip": bad})


# --- the update --------------------------------------------------------------------------------

def test_sampled_ids_train_exactly_like_the_text_they_spell(tmp_path, tiny_llama_dir):
    """Same ids, once given as tokens under a misleading text, once as text: the same update bit for bit."""
    rows = tiny_batch()
    by_tokens = json.loads(json.dumps(rows))
    for r in by_tokens:
        for a in r["actions"]:
            a["tokens"] = ids(a["text"])
            a["text"] = "?" + a["text"][::-1]  # would tokenize to other ids
    (tmp_path / "p").mkdir()
    (tmp_path / "g").mkdir()
    plain = run(write_step(tmp_path / "p", tiny_llama_dir, tmp_path / "ck", rows=rows))
    given = run(write_step(tmp_path / "g", tiny_llama_dir, tmp_path / "ck", rows=by_tokens))
    assert given["hash"] != plain["hash"]  # another batch file
    assert plain["metrics"]["actionsFromTokens"] == 0 and given["metrics"]["actionsFromTokens"] == 12
    assert given["metrics"]["loss"] == plain["metrics"]["loss"]
    assert given["metrics"]["actionTokens"] == plain["metrics"]["actionTokens"]
    for f in ("adapter_model.safetensors", "adapter.gguf"):
        assert (Path(given["checkpoint"]) / f).read_bytes() == (Path(plain["checkpoint"]) / f).read_bytes()
    assert "samplerTokens" not in given["metrics"]  # no sampler log-probs, no off-policy metrics


def test_token_id_outside_the_vocabulary_is_a_data_error(tmp_path, tiny_llama_dir):
    rows = tiny_batch()
    rows[1]["actions"][2]["tokens"] = [5, len(char_tokenizer())]
    with pytest.raises(DataError, match=r"batch.jsonl:2: actions\[2\].tokens has id"):
        run(write_step(tmp_path, tiny_llama_dir, tmp_path / "ck", rows=rows))


def test_no_learning_signal_is_reported_and_changes_nothing(tmp_path, tiny_llama_dir):
    """All rewards equal under RLOO and no KL: zero advantages, zero gradient, the adapter does not move.
    Rewards of 0.1 also check that float noise in the baseline is not mistaken for a signal."""
    flat = [state_row(r["stateId"], r["trajectoryId"], r["prompt"], [(a["text"], 0.1) for a in r["actions"]]) for r in tiny_batch()]
    (tmp_path / "flat").mkdir()
    m = run(write_step(tmp_path / "flat", tiny_llama_dir, tmp_path / "ck", rows=flat, klBeta=0))["metrics"]
    assert m["zeroAdvantageStates"] == 1.0
    assert m["gradNorm"] == 0.0 and m["adapterDelta"] == 0.0
    assert m["adapterNorm"] > 0  # the fresh LoRA's A matrices (B starts at 0)

    mixed = tiny_batch()
    mixed[2] = state_row("t2:0", "t2", mixed[2]["prompt"], [(a["text"], 1.0) for a in mixed[2]["actions"]])
    (tmp_path / "mixed").mkdir()
    done = run(write_step(tmp_path / "mixed", tiny_llama_dir, tmp_path / "ck", rows=mixed, klBeta=0))
    m = done["metrics"]
    assert m["zeroAdvantageStates"] == pytest.approx(1 / 3)
    assert m["gradNorm"] > 0 and m["adapterDelta"] > 0
    metrics_event = next(e for e in done["events"] if e["event"] == "metrics")
    assert metrics_event["adapterDelta"] == m["adapterDelta"] and metrics_event["zeroAdvantageStates"] == m["zeroAdvantageStates"]
    manifest = json.loads((Path(done["checkpoint"]) / "swirl-checkpoint.json").read_text())
    assert manifest["metrics"]["adapterDelta"] == m["adapterDelta"]

    sft = run(write_step(tmp_path / "mixed", tiny_llama_dir, tmp_path / "ck", rows=mixed, objective="sft"))["metrics"]
    assert sft["zeroAdvantageStates"] is None and sft["adapterDelta"] > 0


def own_logprobs(cfg_path: Path, rows: list[dict]) -> list[list[list[float]]]:
    """The base model's log-probs of each action token, by a plain full forward pass (not the
    trainer's packed one): a fresh LoRA (B = 0) scores exactly as the base."""
    import torch

    from swirl_trainer.base import load_base
    from swirl_trainer.step import tokenize_state

    cfg = parse_config(json.loads(cfg_path.read_text()))
    base = load_base(cfg, "test", lambda _: None)
    out = []
    for st in load_batch(cfg.batch, "swirl", "rloo"):
        p, acts = tokenize_state(base.tokenizer, base.add_bos, st)
        per = []
        for a in acts:
            with torch.no_grad():
                logits = base.model(input_ids=torch.tensor([p + a])).logits[0].float()
            lp = torch.log_softmax(logits[len(p) - 1 : len(p) + len(a) - 1], -1).gather(-1, torch.tensor(a)[:, None])[:, 0]
            per.append(lp.tolist())
        out.append(per)
    return out


def with_sampler(rows: list[dict], q: list[list[list[float]]] | float) -> list[dict]:
    rows = json.loads(json.dumps(rows))
    for si, r in enumerate(rows):
        for ai, a in enumerate(r["actions"]):
            a["tokens"] = ids(a["text"])
            a["samplerLogprobs"] = q[si][ai] if isinstance(q, list) else [q] * len(a["tokens"])
    return rows


def test_off_policy_metrics_and_the_truncated_correction(tmp_path, tiny_llama_dir):
    rows = tiny_batch()
    (tmp_path / "plain").mkdir()
    plain_cfg = write_step(tmp_path / "plain", tiny_llama_dir, tmp_path / "ck", rows=rows, klBeta=0)
    plain = run(plain_cfg)["metrics"]
    own = own_logprobs(plain_cfg, rows)

    def step(name: str, q, **over) -> dict:
        (tmp_path / name).mkdir()
        return run(write_step(tmp_path / name, tiny_llama_dir, tmp_path / "ck", rows=with_sampler(rows, q), klBeta=0, **over))["metrics"]

    # the sampler is the trainer's own policy: no gap, weights 1, nothing clipped, the plain update
    same = step("same", own, importanceClip=2.0)
    assert same["samplerTokens"] == plain["actionTokens"]
    assert same["samplerLogprobGap"] == pytest.approx(0, abs=1e-5)
    assert same["importanceWeightMean"] == pytest.approx(1, abs=1e-5)
    assert same["importanceClipped"] == 0
    assert same["loss"] == pytest.approx(plain["loss"], rel=1e-5, abs=1e-7)

    # the sampler gave every token log-prob 0 (certain): gap = the trainer's mean log-prob (< 0), no correction asked
    certain = step("certain", 0.0)
    assert certain["samplerLogprobGap"] == pytest.approx(certain["meanActionLogprob"], rel=1e-6) and certain["samplerLogprobGap"] < 0
    assert "importanceClipped" not in certain and certain["loss"] == plain["loss"]

    # the sampler was far less sure than the trainer: every raw ratio is huge, each weight is capped at the clip
    capped = step("capped", -50.0, importanceClip=0.5)
    assert capped["importanceClipped"] == 1.0 and capped["importanceWeightMean"] == pytest.approx(0.5)
    assert capped["samplerLogprobGap"] > 40
    assert capped["loss"] == pytest.approx(0.5 * plain["loss"], rel=1e-5)  # KL off: the policy-gradient term alone, halved
