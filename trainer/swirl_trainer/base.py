"""Loading the base model and tokenizer the sampler uses, on CPU (or CUDA when present).

A GGUF base is dequantized by transformers (`gguf_file=`), which is slow: the
262k-token Gemma vocabulary alone takes about a minute to convert. So the
first load writes the dequantized fp32 weights and the tokenizer as a plain
Hugging Face folder into a cache keyed by the GGUF's sha256, and later loads
read that folder (seconds). The cache is written to a temporary folder and
renamed, so a killed process never leaves a half-written cache behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .config import StepConfig, sha256_file
from .errors import ConfigError

# Hugging Face must never go to the network at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

CACHE_VERSION = 1
# transformers model_type -> llama.cpp general.architecture (for hfDir bases).
HF_TO_GGUF_ARCH = {"gemma3_text": "gemma3", "gemma3": "gemma3", "llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}


@dataclass
class Base:
    model: Any
    tokenizer: Any
    arch: str  # llama.cpp architecture name, written into the GGUF adapter
    add_bos: bool
    identity: str  # "gguf:sha256:..." or "hf:sha256:..."
    folder: Path  # the Hugging Face folder the weights were loaded from


def gguf_identity(path: Path) -> str:
    """sha256 of the GGUF, memoised in a sidecar keyed by size and mtime (hashing 250 MB costs ~1 s)."""
    st = path.stat()
    key = f"{st.st_size}:{st.st_mtime_ns}"
    memo = path.with_name(f".{path.name}.sha256")
    try:
        k, digest = memo.read_text().split()
        if k == key:
            return digest
    except (OSError, ValueError):
        pass
    digest = sha256_file(path)
    try:
        tmp = memo.with_name(memo.name + f".{os.getpid()}.tmp")
        tmp.write_text(f"{key} {digest}\n")
        os.replace(tmp, memo)
    except OSError:
        pass
    return digest


_HF_IDENTITY: dict[tuple[Any, ...], str] = {}


def hf_identity(folder: Path) -> str:
    """sha256 over the folder's files, memoised per process by (path, size, mtime) of each file:
    a persistent trainer asks for it at every step and every `generate` (gigabytes of weights)."""
    import hashlib

    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.startswith(".")]
    key = (str(folder.resolve()), tuple((str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key in _HF_IDENTITY:
        return _HF_IDENTITY[key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(folder)).encode() + b"\0" + sha256_file(p).encode() + b"\0")
    _HF_IDENTITY[key] = h.hexdigest()
    return _HF_IDENTITY[key]


def base_identity(cfg: StepConfig) -> str:
    if cfg.base_gguf is not None:
        return "gguf:sha256:" + gguf_identity(cfg.base_gguf)
    assert cfg.base_hf_dir is not None
    return "hf:sha256:" + hf_identity(cfg.base_hf_dir)


def cache_root(gguf: Path) -> Path:
    env = os.environ.get("SWIRL_TRAINER_CACHE")
    return Path(env) if env else gguf.parent / ".hf-cache"


def _gguf_meta(path: Path) -> tuple[str, bool]:
    from gguf import GGUFReader

    r = GGUFReader(str(path))

    def field(key: str) -> Any:
        f = r.get_field(key)
        return None if f is None else f.contents()

    arch = field("general.architecture")
    add_bos = field("tokenizer.ggml.add_bos_token")
    return str(arch), bool(add_bos) if add_bos is not None else True


def materialize_gguf(gguf: Path, digest: str, progress: Callable[[str], None]) -> Path:
    """The cached HF folder for a GGUF, built on first use."""
    folder = cache_root(gguf) / f"{gguf.stem}-{digest[:16]}"
    if (folder / "swirl-base.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress("converting GGUF tokenizer")
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    progress("dequantizing GGUF weights")
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    arch, add_bos = _gguf_meta(gguf)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    progress("writing base cache")
    # The weights are plain fp32 now; transformers still marks the model as GGUF-quantized and
    # refuses to save it. Drop the marker so the cache folder is an ordinary HF checkpoint.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    (tmp / "swirl-base.json").write_text(json.dumps(
        {"version": CACHE_VERSION, "gguf": str(gguf), "sha256": digest, "arch": arch, "addBos": add_bos}, indent=1))
    for p in tmp.iterdir():
        with p.open("rb") as f:
            os.fsync(f.fileno())
    try:
        os.replace(tmp, folder)
    except OSError:
        # Another process finished first (rename onto a non-empty folder fails): use theirs.
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "swirl-base.json").is_file():
            raise
    return folder


def load_base(cfg: StepConfig, identity: str, progress: Callable[[str], None], attn: str = "eager", dtype: Any = None) -> Base:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if cfg.base_gguf is not None:
        folder = materialize_gguf(cfg.base_gguf, identity.rsplit(":", 1)[1], progress)
        meta = json.loads((folder / "swirl-base.json").read_text())
        arch, add_bos = meta["arch"], bool(meta["addBos"])
    else:
        assert cfg.base_hf_dir is not None
        folder = cfg.base_hf_dir
        arch, add_bos = "", False
    progress("loading base model")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder))
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype or torch.float32, attn_implementation=attn)
    except (OSError, ValueError) as err:
        raise ConfigError(f"cannot load the base model from {folder}: {err}", "check base (a GGUF file or a Hugging Face causal LM folder)") from err
    if cfg.base_hf_dir is not None:
        arch = HF_TO_GGUF_ARCH.get(model.config.model_type, model.config.model_type)
        probe = tok("a").input_ids
        add_bos = tok.bos_token_id is not None and len(probe) > 0 and probe[0] == tok.bos_token_id
    if train_device() == "cuda":
        model.to("cuda")
    model.eval()
    return Base(model=model, tokenizer=tok, arch=arch, add_bos=add_bos, identity=identity, folder=folder)


def train_device() -> str:
    """CUDA when present (SWIRL_TRAINER_DEVICE=cpu forces the CPU)."""
    import torch

    want = os.environ.get("SWIRL_TRAINER_DEVICE", "auto")
    return "cuda" if want != "cpu" and torch.cuda.is_available() else "cpu"


def log(msg: str) -> None:
    print(f"swirl_trainer: {msg}", file=sys.stderr, flush=True)
