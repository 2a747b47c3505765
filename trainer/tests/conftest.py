"""Tiny random models and a character-level tokenizer, built in memory (no downloads)."""

from __future__ import annotations

import json
import os
import string
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("SWIRL_TRAINER_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads: spinning OpenMP threads crawl on a shared machine


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)  # tiny models: threads only add overhead (and the machine is shared)

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
CHARS = list(string.printable)


def char_tokenizer():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIALS + CHARS)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tk.add_special_tokens(SPECIALS)
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>")


VOCAB = len(SPECIALS) + len(CHARS)


def tiny_llama(seed: int = 0):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    cfg._attn_implementation = "eager"
    return LlamaForCausalLM(cfg).eval()


def tiny_gemma3(seed: int = 0, sliding_window: int = 4):
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    cfg = Gemma3TextConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                           num_key_value_heads=2, head_dim=8, sliding_window=sliding_window,
                           layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                           max_position_embeddings=512, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                           final_logit_softcapping=30.0)
    cfg._attn_implementation = "eager"
    return Gemma3ForCausalLM(cfg).eval()


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama().save_pretrained(str(d))
    char_tokenizer().save_pretrained(str(d))
    return d


def state_row(sid: str, traj: str, prompt: str, actions: list[tuple[str, float]]) -> dict:
    return {"stateId": sid, "trajectoryId": traj, "prompt": prompt, "actions": [{"text": t, "reward": r} for t, r in actions]}


def tiny_batch() -> list[dict]:
    """Two trajectories in the Gemma turn format; state 2 of t1 extends state 1 with the stored action and a tool result."""
    p1 = "<start_of_turn>user\nQ: 2+3?<end_of_turn>\n<start_of_turn>model\n"
    p2 = p1 + "<math_exp>2+3</math_exp><end_of_turn>\n<start_of_turn>user\n2+3 -> 5<end_of_turn>\n<start_of_turn>model\n"
    q1 = "<start_of_turn>user\nQ: capital?<end_of_turn>\n<start_of_turn>model\n"
    return [
        state_row("t1:0", "t1", p1, [("<math_exp>2+3</math_exp>", 1.0), ("<answer>6</answer>", 0.0), ("<math_exp>2*3</math_exp>", 0.0), ("<answer>5</answer>", 1.0)]),
        state_row("t1:1", "t1", p2, [("<answer>5</answer>", 1.0), ("<answer>4</answer>", 0.0), ("<answer>five</answer>", 1.0), ("<answer>5</answer>", 1.0)]),
        state_row("t2:0", "t2", q1, [("<search_query>capital</search_query>", 0.0), ("<answer>Paris</answer>", 1.0), ("<answer>Rome</answer>", 0.0), ("<answer>Oslo</answer>", 0.0)]),
    ]


def write_step(tmp: Path, base_dir: Path, out_root: Path, rows: list[dict] | None = None, **over) -> Path:
    batch = tmp / "batch.jsonl"
    if rows is not None or not batch.exists():
        batch.write_text("".join(json.dumps(r) + "\n" for r in (rows if rows is not None else tiny_batch())))
    cfg = {
        "version": 1, "base": {"hfDir": str(base_dir)}, "inputAdapter": None, "outputRoot": str(out_root),
        "batch": str(batch), "objective": "swirl",
        "lora": {"rank": 4, "alpha": 8, "dropout": 0, "targetModules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "optim": {"learningRate": 1e-2, "weightDecay": 0, "gradClip": 1.0},
        "klBeta": 0.05, "baseline": "rloo", "seed": 0, "stepIndex": 0, "packing": True, "maxContextTokens": 8192,
    }
    cfg.update(over)
    path = tmp / f"step-{abs(hash(json.dumps(cfg, sort_keys=True))) % 10**8}.json"
    path.write_text(json.dumps(cfg))
    return path
