"""`python -m swirl_trainer tiny-model --out DIR [--seed N]`: a tiny random Llama-architecture
causal LM with a ChatML chat template, for CI (a stub inference server and the train loop run on
it in seconds; nothing is downloaded).

Tokenizer: byte-level BPE without merges, so any text encodes (one token per UTF-8 byte; the
printable ASCII characters other than space are their own token strings, space is "Ġ" and newline
"Ċ", as in GPT-2's byte alphabet), plus the specials <|im_start|>, <|im_end|> (eos) and <|pad|>.
No BOS is added (as Qwen's ChatML models). Same seed, same files: the weights come from
torch.manual_seed(seed) and every file is written by save_pretrained from fixed inputs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from .errors import ConfigError

SPECIALS = ["<|pad|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {t: i for i, t in enumerate(SPECIALS + alphabet)}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens(SPECIALS)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|pad|>",
                                  additional_special_tokens=["<|im_start|>"])
    tok.chat_template = CHAT_TEMPLATE
    return tok


def write_tiny_model(out: Path, seed: int = 0) -> Path:
    """Writes the model folder (built in a tmp folder beside it and renamed: it exists only complete)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out exists and is not empty: {out}", "pass a new folder")
    tok = tiny_tokenizer()
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                      bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    # transformers 5 writes the template to chat_template.jinja; readers of tokenizer_config.json
    # alone (a stub server) find it there too.
    tc = tmp / "tokenizer_config.json"
    doc = json.loads(tc.read_text())
    doc["chat_template"] = CHAT_TEMPLATE
    tc.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    if out.exists():
        out.rmdir()  # empty (checked above)
    os.replace(tmp, out)
    return out
