"""Training precision: `fp32`, or `bf16` autocast with the LoRA master weights and AdamW in fp32.

In bf16 the frozen base weights are held in bf16 too (half the memory, and the
matmuls skip a cast per call); autocast runs forward and backward in bf16, the
log-softmax over the vocabulary and the loss stay in fp32 (packing.py calls
`.float()` on the logits). PEFT keeps adapter weights in fp32
(`autocast_adapter_dtype`), so the optimizer updates fp32 tensors.

`auto` picks bf16 where the hardware does bf16 matmuls natively (CUDA with bf16
support; x86 CPUs with AVX512-BF16 or AMX-BF16), fp32 elsewhere. Measured on
this project's 2-core EPYC (avx512_bf16), Gemma 3 270M, 4 states x G=4 packed,
one thread: forward+backward 11.6 s fp32, 7.1 s bf16 autocast on fp32 weights,
4.8 s bf16 autocast on bf16 weights (docs/benchmarks.md "Training steps").
Without native bf16 the CPU converts in software, which is not expected to beat fp32 (not
measured: this machine has avx512_bf16), hence fp32 there.

Resolving `auto` must not import torch when it can be avoided: a step whose
checkpoint exists is answered from its hash, and the hash covers the resolved
precision.
"""

from __future__ import annotations

import os
from pathlib import Path

CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return any(f in flags for f in CPU_BF16_FLAGS)
    return False


def _cuda_possible() -> bool:
    if os.environ.get("SWIRL_TRAINER_DEVICE", "auto") == "cpu":
        return False
    return Path("/proc/driver/nvidia/version").exists() or bool(os.environ.get("CUDA_VISIBLE_DEVICES"))


def resolve_precision(requested: str) -> str:
    """The precision a step trains in (part of its hash)."""
    if requested != "auto":
        return requested
    if _cuda_possible():
        from .base import train_device

        if train_device() == "cuda":
            import torch

            return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def base_dtype(precision: str) -> "object":
    import torch

    return torch.bfloat16 if precision == "bf16" else torch.float32


def autocast(precision: str, device: str) -> "object":
    """The context forward and backward run in."""
    import contextlib

    import torch

    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device, dtype=torch.bfloat16)
