"""Merged full-weight export: base weights + a LoRA checkpoint folded into one
Hugging Face causal-LM folder (safetensors, config, tokenizer), loadable by
transformers or vLLM without peft.

The folder is built next to its destination and renamed into place, so it
exists only complete; `swirl-merged.json` (written last) names the base, the
adapter and the sha256 of every file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Callable

from .errors import ConfigError

MERGED_VERSION = 1


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _base_folder(base_gguf: Path | None, base_hf: Path | None, progress: Callable[[str], None]) -> tuple[Path, str]:
    from .base import gguf_identity, hf_identity, materialize_gguf

    if (base_gguf is None) == (base_hf is None):
        raise ConfigError("give exactly one base: --base-gguf FILE or --base-hf DIR", "the base the adapter was trained on")
    if base_gguf is not None:
        if not base_gguf.is_file():
            raise ConfigError(f"base GGUF not found: {base_gguf}", "pass the model file the adapter was trained on (.swirl/models/...)")
        digest = gguf_identity(base_gguf.resolve())
        return materialize_gguf(base_gguf.resolve(), digest, progress), f"gguf:{digest}"
    assert base_hf is not None
    if not (base_hf / "config.json").is_file():
        raise ConfigError(f"not a Hugging Face model folder: {base_hf}", "pass a folder with config.json and weights")
    return base_hf, f"hf:{hf_identity(base_hf)}"


def export_merged(adapter: Path, out: Path, base_gguf: Path | None, base_hf: Path | None, progress: Callable[[str], None]) -> dict[str, object]:
    if not (adapter / "adapter_model.safetensors").is_file() or not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"not a PEFT adapter folder: {adapter}", "pass a checkpoint folder (adapter_model.safetensors + adapter_config.json)")
    if out.exists():
        raise ConfigError(f"output folder already exists: {out}", "choose a new --out (an export is never written over another)")
    folder, identity = _base_folder(base_gguf, base_hf, progress)

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    progress("loading base model")
    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    progress("attaching LoRA")
    try:
        peft = PeftModel.from_pretrained(model, str(adapter))
    except (ValueError, RuntimeError, KeyError) as err:
        raise ConfigError(f"the adapter does not fit this base: {err}", "export with the base the adapter was trained on") from err
    progress("merging")
    merged = peft.merge_and_unload()
    merged.eval()

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    progress("writing merged model")
    merged.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    manifest_files = {}
    for p in sorted(tmp.iterdir()):
        with p.open("rb") as f:
            os.fsync(f.fileno())
        manifest_files[p.name] = _sha256(p)
    adapter_manifest = adapter / "swirl-checkpoint.json"
    adapter_hash = json.loads(adapter_manifest.read_text()).get("hash") if adapter_manifest.is_file() else None
    manifest = {"version": MERGED_VERSION, "base": identity, "adapter": str(adapter.resolve()), "adapterHash": adapter_hash,
                "dtype": "float32", "files": manifest_files}
    (tmp / "swirl-merged.json").write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out)
    params = sum(p.numel() for p in merged.parameters())
    return {"out": str(out), "base": identity, "adapterHash": adapter_hash, "parameters": params, "files": sorted(manifest_files)}
