"""Shared-prefix packing: one forward pass per trajectory.

The states of one trajectory are prefixes of one another, and the G actions of
a state all branch off it. Every sequence (prompt + action) of a trajectory is
inserted into a token trie; the trie's nodes, in insertion order (parents
before children), become one sequence in which each token attends only to its
ancestors (a 4-D additive mask) at position id = depth. A node's logits predict
its children, so the log-probability of an action token is read at its
parent's row. The result equals running every sequence on its own (tested to
1e-4 in fp32); only the summation order of floats differs.

With `attention: flex` the tree mask is not materialized: a FlexAttention
BlockMask is built on the device from each node's Euler-tour interval (key j is
an ancestor-or-self of query i iff enter[j] <= enter[i] and exit[i] <= exit[j])
and its depth (the sliding window), so memory stays O(N) plus one bit per
128 x 128 block instead of N x N floats.

The unpacked path (`packing: false`) runs each state's G sequences as one
right-padded batch with the model's own causal mask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import torch


@dataclass
class Seq:
    """One (prompt, action) pair: token ids and where the action starts."""

    key: tuple[int, int]  # (state index, action index) in the batch
    prompt: list[int]
    action: list[int]


@dataclass
class Trie:
    tokens: list[int] = field(default_factory=list)
    parent: list[int] = field(default_factory=list)
    depth: list[int] = field(default_factory=list)
    children: dict[tuple[int, int], int] = field(default_factory=dict)

    def insert(self, ids: Sequence[int]) -> list[int]:
        """Adds a token sequence (as a path from the root) and returns its node per token."""
        nodes = []
        p = -1
        for t in ids:
            n = self.children.get((p, t))
            if n is None:
                n = len(self.tokens)
                self.children[(p, t)] = n
                self.tokens.append(t)
                self.parent.append(p)
                self.depth.append(0 if p < 0 else self.depth[p] + 1)
            nodes.append(n)
            p = n
        return nodes

    def __len__(self) -> int:
        return len(self.tokens)


@dataclass
class Gather:
    """Where to read each action token's log-prob: (batch row, position) of its predecessor, and the token."""

    rows: list[int]
    cols: list[int]
    targets: list[int]
    # per sequence key: slice into the gathered vector
    spans: dict[tuple[int, int], tuple[int, int]]


@dataclass
class Unit:
    """One forward pass: input ids [B, L], position ids, mask (tensor or per-layer-type dict), gather plan."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor | None
    attention_mask: Any
    gather: Gather
    fed_tokens: int  # tokens the model runs over (trie nodes, or padded B*L)
    seq_tokens: int  # sum of sequence lengths (what per-sequence evaluation would process)


def ancestor_mask(parent: list[int]) -> torch.Tensor:
    """bool [N, N]: mask[i, j] = j is i or an ancestor of i."""
    n = len(parent)
    m = torch.zeros((n, n), dtype=torch.bool)
    for i, p in enumerate(parent):
        if p >= 0:
            m[i] = m[p]
        m[i, i] = True
    return m


def euler_intervals(parent: list[int]) -> tuple[list[int], list[int]]:
    """Per node, its entry index in a depth-first walk of the trie and the largest entry index in
    its subtree: j is an ancestor-or-self of i iff enter[j] <= enter[i] and exit[i] <= exit[j].
    Nodes are not stored in walk order (a later sequence adds children to an early node)."""
    n = len(parent)
    kids: list[list[int]] = [[] for _ in range(n)]
    roots = []
    for i, p in enumerate(parent):
        (kids[p] if p >= 0 else roots).append(i)
    enter = [0] * n
    exit_ = [0] * n
    clock = 0
    stack = [(r, False) for r in reversed(roots)]
    while stack:  # iterative: a trie is as deep as its longest sequence
        node, done = stack.pop()
        if done:
            exit_[node] = clock - 1
            continue
        enter[node] = clock
        clock += 1
        stack.append((node, True))
        stack.extend((c, False) for c in reversed(kids[node]))
    return enter, exit_


@dataclass
class FlexTree:
    """What a FlexAttention BlockMask of a trie is built from (on the model's device, per forward)."""

    enter: list[int]
    exit: list[int]
    depth: list[int]
    #: {layer type: sliding window or None}, or None for a model with one attention type
    layer_windows: dict[str, int | None] | None


def flex_tree(parent: list[int], depth: list[int], config: Any) -> FlexTree:
    enter, exit_ = euler_intervals(parent)
    layer_types = getattr(config, "layer_types", None)
    windows = None
    if layer_types:
        windows = {}
        for lt in set(layer_types):
            if lt == "full_attention":
                windows[lt] = None
            elif lt == "sliding_attention":
                windows[lt] = int(config.sliding_window)
            else:
                from .errors import ConfigError

                raise ConfigError(f"attention layer type {lt!r} is not supported by the packed path", "set packing: false")
    return FlexTree(enter, exit_, list(depth), windows)


FLEX_BLOCK = 128  # FlexAttention's default sparse block size


def flex_block_masks(tree: FlexTree, device: Any, compile_: bool | None = None) -> Any:
    """The BlockMask (or {layer type: BlockMask}) of a trie. On CUDA the block mask is computed by a
    compiled kernel from the mask rule (no N x N tensor); the CPU path (forward only, for tests)
    evaluates the rule densely."""
    from torch.nn.attention.flex_attention import create_block_mask

    n = len(tree.enter)
    padded = -(-n // FLEX_BLOCK) * FLEX_BLOCK
    # Padding rows past n: each sees only itself and no real row sees it (enter = exit = index >= n).
    extra = torch.arange(n, padded)
    enter = torch.cat([torch.tensor(tree.enter), extra]).to(device)
    exit_ = torch.cat([torch.tensor(tree.exit), extra]).to(device)
    depth = torch.cat([torch.tensor(tree.depth), torch.zeros(padded - n, dtype=torch.long)]).to(device)
    if compile_ is None:
        compile_ = torch.device(device).type == "cuda"

    def ancestor(b: Any, h: Any, q: Any, kv: Any) -> Any:
        return (enter[kv] <= enter[q]) & (exit_[q] <= exit_[kv])

    def make(window: int | None) -> Any:
        if window is None:
            mod = ancestor
        else:
            def mod(b: Any, h: Any, q: Any, kv: Any) -> Any:
                # the per-sequence rule: key j is visible from query i when i - j < window
                return ancestor(b, h, q, kv) & (depth[q] - depth[kv] < window)
        return create_block_mask(mod, None, None, n, n, device=device, _compile=compile_)

    if tree.layer_windows is None:
        return make(None)
    return {lt: make(w) for lt, w in tree.layer_windows.items()}


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    out = torch.zeros(mask.shape, dtype=dtype)
    out.masked_fill_(~mask, torch.finfo(dtype).min)
    return out[None, None]


def tree_masks(parent: list[int], depth: list[int], config: Any, dtype: torch.dtype | None) -> Any:
    """The 4-D mask(s) for a trie: additive in `dtype` (eager attention), or boolean (True = attend)
    with dtype None (scaled_dot_product_attention). Models with per-layer attention types (Gemma 3's
    sliding-window layers) take a dict {layer type: mask}; a custom 4-D tensor would otherwise be
    used as-is for every layer, silently dropping the sliding window."""
    anc = ancestor_mask(parent)

    def additive(m: torch.Tensor, dt: torch.dtype | None) -> torch.Tensor:
        return m[None, None] if dt is None else _additive(m, dt)

    layer_types = getattr(config, "layer_types", None)
    if not layer_types:
        return additive(anc, dtype)
    d = torch.tensor(depth)
    out = {}
    for lt in set(layer_types):
        if lt == "full_attention":
            out[lt] = additive(anc, dtype)
        elif lt == "sliding_attention":
            window = config.sliding_window
            # the per-sequence rule: key j is visible from query i when i - j < window
            out[lt] = additive(anc & ((d[:, None] - d[None, :]) < window), dtype)
        else:
            from .errors import ConfigError

            raise ConfigError(f"attention layer type {lt!r} is not supported by the packed path", "set packing: false")
    return out


def pack(seqs: list[Seq], config: Any, dtype: torch.dtype = torch.float32, attention: str = "dense") -> Unit:
    """One trajectory's sequences as one trie. attention "dense": 4-D additive mask(s); "sdpa":
    4-D boolean mask(s); "flex": a FlexTree, turned into a BlockMask on the device by token_logprobs."""
    trie = Trie()
    rows: list[int] = []
    cols: list[int] = []
    targets: list[int] = []
    spans: dict[tuple[int, int], tuple[int, int]] = {}
    seq_tokens = 0
    for s in seqs:
        nodes = trie.insert(s.prompt + s.action)
        seq_tokens += len(nodes)
        start = len(targets)
        for n in nodes[len(s.prompt):]:
            rows.append(0)
            cols.append(trie.parent[n])
            targets.append(trie.tokens[n])
        spans[s.key] = (start, len(targets))
    return Unit(
        input_ids=torch.tensor([trie.tokens]),
        position_ids=torch.tensor([trie.depth]),
        attention_mask=(flex_tree(trie.parent, trie.depth, config) if attention == "flex"
                        else tree_masks(trie.parent, trie.depth, config, None if attention == "sdpa" else dtype)),
        gather=Gather(rows, cols, targets, spans),
        fed_tokens=len(trie),
        seq_tokens=seq_tokens,
    )


def batch_unpacked(seqs: list[Seq], pad_id: int) -> Unit:
    """Right-padded batch, one row per sequence, the model's own causal mask."""
    full = [s.prompt + s.action for s in seqs]
    width = max(len(f) for f in full)
    ids = torch.full((len(full), width), pad_id, dtype=torch.long)
    att = torch.zeros((len(full), width), dtype=torch.long)
    rows, cols, targets = [], [], []
    spans = {}
    for b, (s, f) in enumerate(zip(seqs, full)):
        ids[b, : len(f)] = torch.tensor(f)
        att[b, : len(f)] = 1
        start = len(targets)
        for i in range(len(s.prompt), len(f)):
            rows.append(b)
            cols.append(i - 1)
            targets.append(f[i])
        spans[s.key] = (start, len(targets))
    return Unit(
        input_ids=ids,
        position_ids=torch.arange(width)[None].expand(len(full), -1),
        attention_mask=att,
        gather=Gather(rows, cols, targets, spans),
        fed_tokens=len(full) * width,
        seq_tokens=sum(len(f) for f in full),
    )


def _chunk_logprobs(h: torch.Tensor, targets: torch.Tensor, lm_head: torch.nn.Module, softcap: float | None) -> torch.Tensor:
    logits = lm_head(h).float()
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.log_softmax(logits, dim=-1).gather(-1, targets[:, None])[:, 0]


def token_logprobs(causal_lm: Any, unit: Unit, chunk: int = 256) -> torch.Tensor:
    """Log-probs of the gathered action tokens, [T]. Differentiable when grad is enabled.

    The vocabulary projection runs only at the gathered rows and in chunks, each
    recomputed in the backward pass (Gemma's 262k vocabulary would otherwise need
    ~1 MB per token of logits, twice)."""
    inner = causal_lm.model
    dev = causal_lm.lm_head.weight.device
    mask = unit.attention_mask
    if isinstance(mask, FlexTree):
        if causal_lm.config._attn_implementation != "flex_attention":
            raise RuntimeError("a flex-packed unit needs the model loaded with attn_implementation='flex_attention'")
        mask = flex_block_masks(mask, dev)
    elif isinstance(mask, dict):
        mask = {k: v.to(dev) for k, v in mask.items()}
    else:
        mask = mask.to(dev)
    pos = None if unit.position_ids is None else unit.position_ids.to(dev)
    out = inner(input_ids=unit.input_ids.to(dev), position_ids=pos, attention_mask=mask, use_cache=False)
    hidden = out.last_hidden_state  # [B, L, H]
    g = unit.gather
    picked = hidden[torch.tensor(g.rows, device=dev), torch.tensor(g.cols, device=dev)]  # [T, H]
    targets = torch.tensor(g.targets, device=dev)
    softcap = getattr(causal_lm.config, "final_logit_softcapping", None)
    parts = []
    for i in range(0, len(g.targets), chunk):
        h, t = picked[i : i + chunk], targets[i : i + chunk]
        if torch.is_grad_enabled():
            parts.append(torch.utils.checkpoint.checkpoint(_chunk_logprobs, h, t, causal_lm.lm_head, softcap, use_reentrant=False))
        else:
            parts.append(_chunk_logprobs(h, t, causal_lm.lm_head, softcap))
    return torch.cat(parts) if parts else hidden.new_zeros(0)
