"""A PEFT LoRA adapter as a llama.cpp LoRA GGUF (what node-llama-cpp loads on the base GGUF).

Format (llama.cpp convert_lora_to_gguf.py, src/llama-adapter.cpp): metadata
general.architecture = the base model's architecture (must match),
general.type = "adapter", adapter.type = "lora", adapter.lora.alpha (f32);
tensors blk.N.<attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down>.weight.lora_a
[r, in] and .lora_b [out, r], PyTorch-shaped. llama.cpp scales by alpha / r.

For the `llama` architecture, llama.cpp stores q/k weights with their rows
permuted for its rope layout (convert_hf_to_gguf's LlamaModel.permute), so
lora_b of q_proj/k_proj is permuted the same way. gemma3 and qwen2 use NeoX
rope and are written unchanged.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping

import numpy as np

HF_TO_LLAMA_CPP = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}
PEFT_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.\w+)?\.weight$")
PERMUTED_ARCHS = {"llama"}


def llama_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def gguf_tensors(state: Mapping[str, np.ndarray], arch: str, n_head: int | None = None, n_kv_head: int | None = None) -> dict[str, np.ndarray]:
    """Maps a PEFT adapter state dict (numpy) to llama.cpp tensor names."""
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        m = PEFT_KEY.search(key)
        if not m:
            raise ValueError(f"adapter tensor {key} has no llama.cpp name (only {', '.join(HF_TO_LLAMA_CPP)} are mapped)")
        layer, module, ab = m.groups()
        if module not in HF_TO_LLAMA_CPP:
            raise ValueError(f"adapter module {module} has no llama.cpp name")
        w = np.ascontiguousarray(value, dtype=np.float32)
        if arch in PERMUTED_ARCHS and ab == "B" and module in ("q_proj", "k_proj"):
            if n_head is None:
                raise ValueError("the llama architecture needs the head counts to permute q/k")
            w = llama_permute(w, n_head if module == "q_proj" else (n_kv_head or n_head))
        out[f"blk.{layer}.{HF_TO_LLAMA_CPP[module]}.weight.lora_{ab.lower()}"] = w
    return dict(sorted(out.items(), key=lambda kv: (int(kv[0].split(".")[1]), kv[0])))


def write_lora_gguf(path: Path, arch: str, alpha: float, tensors: Mapping[str, np.ndarray]) -> None:
    import gguf

    w = gguf.GGUFWriter(str(path), arch)
    w.add_type(gguf.GGUFType.ADAPTER)
    w.add_string(gguf.Keys.Adapter.TYPE, "lora")
    w.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def export_peft_dir(adapter_dir: Path, out: Path, arch: str, n_head: int | None = None, n_kv_head: int | None = None) -> int:
    """Writes `out` from a PEFT folder (adapter_model.safetensors + adapter_config.json). Returns the tensor count."""
    import json

    from safetensors.numpy import load_file

    cfg = json.loads((adapter_dir / "adapter_config.json").read_text())
    state = load_file(str(adapter_dir / "adapter_model.safetensors"))
    tensors = gguf_tensors(state, arch, n_head, n_kv_head)
    write_lora_gguf(out, arch, float(cfg["lora_alpha"]), tensors)
    return len(tensors)
