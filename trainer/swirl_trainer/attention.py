"""Which attention a packed batch runs with: `dense`, `sdpa` or `flex`.

`dense` hands the model a 4-D additive mask of N x N floats per trie (N = trie
nodes; a 16k-token trajectory costs 1 GiB in fp32 per mask, per layer type)
and runs transformers' eager attention, which also keeps every layer's
heads x N x N scores and probabilities for the backward pass.
`sdpa` hands it the same tree as a boolean N x N mask and runs PyTorch's
scaled_dot_product_attention: no per-head score matrices are kept (measured on
a 2-layer qwen2.5-1.5B-shaped model, one 2,300-token unit, bf16, one thread:
forward+backward 4.3 s vs 7.0 s, peak memory 1.54 vs 2.37 GB; the same loss
and gradient to 6 digits). `auto` picks it wherever flex does not run.
`flex` builds a FlexAttention BlockMask from the trie instead (packing.py): the
mask is a rule evaluated per (query, key) from three length-N vectors, and only
one bit per 128 x 128 block is stored.

FlexAttention has no backward pass on CPU (PyTorch 2.13: "FlexAttention does
not support backward on CPU"), so training with `flex` needs CUDA: `flex` on a
CPU is a ConfigError, and `auto` picks flex only on a CUDA device that runs
Triton kernels (compute capability 8.0 or newer), dense elsewhere.

Only packed batches use it; `packing: false` runs each state with the model's
own causal mask, so attention resolves to dense there and is not hashed.
Resolving must not import torch when no GPU can be present (a reused step is
answered from its hash, which covers the resolved value).
"""

from __future__ import annotations

from .errors import ConfigError
from .precision import _cuda_possible


def flex_works_here() -> bool:
    """FlexAttention can train on this machine's training device."""
    if not _cuda_possible():
        return False
    from .base import train_device

    if train_device() != "cuda":
        return False
    try:
        import torch
        import triton  # noqa: F401  (the compiled kernels are Triton's)
        from torch.nn.attention.flex_attention import flex_attention  # noqa: F401
    except ImportError:
        return False
    return torch.cuda.get_device_capability() >= (8, 0)


def resolve_attention(requested: str, packing: bool) -> str:
    """`dense`, `sdpa` or `flex` (part of the step hash unless dense)."""
    if not packing:
        return "dense"
    if requested in ("dense", "sdpa"):
        return requested
    works = flex_works_here()
    if requested == "flex" and not works:
        raise ConfigError("attention: flex needs a CUDA GPU with Triton (compute capability >= 8.0); "
                          "PyTorch's FlexAttention has no backward pass on CPU",
                          'use attention: "auto" (dense here) or "dense", or run the trainer on a GPU')
    return "flex" if works else "sdpa"


def hf_implementation(attention: str) -> str:
    """The transformers attn_implementation the base model is loaded with."""
    return {"flex": "flex_attention", "sdpa": "sdpa"}.get(attention, "eager")
