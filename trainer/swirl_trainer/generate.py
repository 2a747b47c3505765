"""The persistent trainer's `generate` request: G samples per prompt from the base plus an adapter.

A train stage without a sampling server (`sampler: trainer`) draws its actions here, on the
trainer's own device, from the very weights the next step scores: the Session's base and, when
the request's adapter is the checkpoint the Session holds, its LoRA model (no reload). Sampling is
transformers' `generate` at temperature 1 over the whole vocabulary, all rows of a request in one
left-padded batch. Each sample reports the ids actually generated and the log-prob of each under
the raw logits (what the trainer scores), so the batch needs no re-tokenizing and the importance
ratio is exactly 1 before an update.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ATTENTIONS, PRECISIONS, StepConfig, _enum, _int, _num, check_request, parse_base, parse_input_adapter
from .errors import ConfigError

FIELDS = {"version", "base", "inputAdapter", "precision", "attention", "prompts", "samples", "maxTokens", "temperature",
          "stop", "seed"}


@dataclass(frozen=True)
class GenerateConfig:
    base_hf_dir: Path | None
    base_gguf: Path | None
    input_adapter: Path | None
    precision: str
    attention: str
    prompts: tuple[tuple[str, str], ...]  # (stateId, prompt)
    samples: int
    max_tokens: int
    stop: tuple[str, ...]
    seed: int

    def step_config(self) -> StepConfig:
        """The fields Session.load_base reads (the paths nothing here writes to are placeholders)."""
        return StepConfig(base_gguf=self.base_gguf, base_hf_dir=self.base_hf_dir, input_adapter=self.input_adapter,
                          output_root=Path("/"), batch=Path("/"), seed=self.seed, precision=self.precision,
                          attention=self.attention)


def parse_generate(raw: Any) -> GenerateConfig:
    """Checked before torch is imported: a bad request fails at once with the field's name."""
    check_request(raw, "generate", FIELDS, (2,), "see trainer/CONTRACT.md `generate`")
    gguf, hf = parse_base(raw.get("base"))
    adapter = parse_input_adapter(raw.get("inputAdapter"))
    precision = _enum(raw, "precision", "auto", PRECISIONS)
    attention = _enum(raw, "attention", "auto", ATTENTIONS)
    prompts = raw.get("prompts")
    if not isinstance(prompts, list) or not prompts:
        raise ConfigError("prompts must be a non-empty list of {\"stateId\", \"prompt\"}", "send the states to sample")
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for i, p in enumerate(prompts):
        if not isinstance(p, dict) or set(p) != {"stateId", "prompt"} or not all(isinstance(p[k], str) and p[k] for k in p):
            raise ConfigError(f"prompts[{i}] must be {{\"stateId\": str, \"prompt\": str}}, both non-empty", "one object per state")
        if p["stateId"] in seen:
            raise ConfigError(f"prompts[{i}]: duplicate stateId {p['stateId']!r}", "state ids are unique within a request")
        seen.add(p["stateId"])
        out.append((p["stateId"], p["prompt"]))
    # Temperature 1 only: the reported log-probs (raw logits) are then those of the distribution sampled from.
    if _num(raw, "temperature", 1.0) != 1.0:
        raise ConfigError("temperature must be 1", "the trainer samples the policy it scores: temperature 1, no truncation")
    stop = raw.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ConfigError("stop must be a list of non-empty strings", "e.g. [\"</math_exp>\"]")
    return GenerateConfig(base_hf_dir=hf, base_gguf=gguf, input_adapter=adapter, precision=precision, attention=attention,
                          prompts=tuple(out), samples=_int(raw, "samples", 1, lo=1), max_tokens=_int(raw, "maxTokens", 256, lo=1),
                          stop=tuple(dict.fromkeys(stop)), seed=_int(raw, "seed", 0, lo=0))


class _Recorder:
    """A logits processor that keeps the raw log-prob of each sampled token. It sees the scores of
    step t before the token is drawn, so it gathers step t-1's token from the ids of step t (and
    the last one from the final ids)."""

    def __init__(self) -> None:
        self.prev: Any = None
        self.picked: list[Any] = []

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.take(input_ids[:, -1])
        self.prev = scores.float().log_softmax(-1)
        return scores

    def take(self, last_ids: Any) -> None:
        if self.prev is not None:
            self.picked.append(self.prev.gather(1, last_ids.view(-1, 1)).squeeze(1))
            self.prev = None


class _StopStrings:
    """Ends a row whose generated text has completed one of the stop strings at its last token.
    Only a tail of ids is decoded per step: a stop string's bytes come from at most as many tokens
    as it has bytes, so `window` tokens hold it whole when it ends at the last one."""

    def __init__(self, tok: Any, stops: tuple[str, ...], prompt_len: int, rows: int) -> None:
        self.tok, self.stops, self.prompt_len = tok, stops, prompt_len
        self.window = max((len(s.encode()) for s in stops), default=0) + 4
        self.ended_at: list[int | None] = [None] * rows  # generated length at the stop

    def __call__(self, input_ids: Any, scores: Any, **_: Any) -> Any:
        import torch

        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if not self.stops:
            return done
        gen = input_ids[:, self.prompt_len:].tolist()
        for r, ids in enumerate(gen):
            if self.ended_at[r] is not None:
                done[r] = True
                continue
            tail = self.tok.decode(ids[-self.window:], skip_special_tokens=True)
            if any(s in tail for s in self.stops):
                self.ended_at[r] = len(ids)
                done[r] = True
        return done


def _cut(tok: Any, ids: list[int], lps: list[float], eos: set[int], stops: tuple[str, ...], ended_at: int | None) -> dict[str, Any]:
    """One row's sample: the ids up to and including the one that ended it (EOS, or the token that
    completed a stop string), their log-probs, and the text before the stop (special tokens dropped)."""
    n, finish = len(ids), "length"
    for k, t in enumerate(ids):
        if t in eos:
            n, finish = k + 1, "eos"
            break
    if ended_at is not None and ended_at <= n:
        n, finish = ended_at, "stop"
    text = tok.decode(ids[:n], skip_special_tokens=True)
    if finish == "stop":
        text = text[:min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))]
    return {"text": text, "tokens": ids[:n], "logprobs": lps[:n], "finish": finish}


def run_generate(raw: Any, emit: Any, session: Any) -> dict[str, Any]:
    """Samples `samples` continuations per prompt; returns the done event's fields."""
    from .base import base_identity, train_device
    from .precision import autocast, resolve_precision
    from .attention import resolve_attention
    from .config import Action, State
    from .step import Progress, configure_torch, tokenize_state

    t0 = time.time()
    g = parse_generate(raw)
    cfg = g.step_config()
    precision = resolve_precision(g.precision)
    attention = resolve_attention(g.attention, True)
    base_id = base_identity(cfg)
    with Progress(emit) as progress:
        progress.set("loading torch", 0, len(g.prompts))
        import torch
        from transformers import GenerationConfig

        configure_torch(g.seed)
        base = session.load_base(cfg, base_id, precision, attention, progress)
        model, off, loaded = _policy(session, base, g, progress)
        t_load = time.time() - t0
        tok = base.tokenizer
        rows: list[list[int]] = []
        for _, prompt in g.prompts:
            ids, _acts = tokenize_state(tok, base.add_bos, State("gen", "gen", prompt, (Action(" ", 0.0),)))
            rows.extend([ids] * g.samples)
        eos = set(_as_list(base.model.generation_config.eos_token_id)) | set(_as_list(tok.eos_token_id))
        pad = tok.pad_token_id if tok.pad_token_id is not None else min(eos) if eos else 0
        width = max(len(r) for r in rows)
        device = next(base.model.parameters()).device
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        # A clean generation config: the model's own (top_k, top_p, repetition penalty from its
        # folder) would otherwise fill every unset field and sample another distribution.
        gen_cfg = GenerationConfig(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=g.max_tokens,
                                   eos_token_id=sorted(eos) or None, pad_token_id=pad, num_beams=1)
        rec = _Recorder()
        stops = _StopStrings(tok, g.stop, width, len(rows))
        held_cfg = base.model.generation_config
        was_training = model.training
        progress.set("sampling", 0, len(g.prompts))
        try:
            base.model.generation_config = GenerationConfig()
            model.eval()
            torch.manual_seed(g.seed)
            with torch.no_grad(), off, autocast(precision, train_device()), _attn_for_generate(base.model), _sampling_determinism():
                out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=gen_cfg,
                                     logits_processor=[rec], stopping_criteria=[stops])
            rec.take(out[:, -1])
        finally:
            base.model.generation_config = held_cfg
            model.train(was_training)
            if loaded:
                model.unload()
        gen = out[:, width:].tolist()
        lps = torch.stack(rec.picked, 1).tolist() if rec.picked else [[] for _ in rows]
        results, n_tokens = [], 0
        for pi, (sid, _) in enumerate(g.prompts):
            samples = []
            for r in range(pi * g.samples, (pi + 1) * g.samples):
                s = _cut(tok, gen[r], lps[r], eos, g.stop, stops.ended_at[r])
                n_tokens += len(s["tokens"])
                samples.append(s)
            results.append({"stateId": sid, "samples": samples})
        progress.set("done", len(g.prompts), len(g.prompts))
    return {"results": results, "metrics": {"rows": len(rows), "tokens": n_tokens, "loadSeconds": round(t_load, 3),
                                           "wallSeconds": round(time.time() - t0, 3), "precision": precision,
                                           "adapterFromMemory": g.input_adapter is not None and not loaded}}


def _policy(session: Any, base: Any, g: GenerateConfig, progress: Any) -> tuple[Any, Any, bool]:
    """(model to sample with, context that turns its adapter off or nothing, whether the adapter was
    loaded for this request only). The Session's LoRA model is used when it holds exactly the
    requested checkpoint, or with its adapter disabled for the bare base; another adapter is
    loaded from disk next to nothing (the Session's own is dropped: the next step reloads it)."""
    import contextlib

    from .step import adapter_identity

    if g.input_adapter is None:
        if session.model is not None:
            return session.model, session.model.disable_adapter(), False
        return base.model, contextlib.nullcontext(), False
    if session.model is not None and session.checkpoint == adapter_identity(g.input_adapter):
        progress.set("sampling with the adapter in memory")
        return session.model, contextlib.nullcontext(), False
    from peft import PeftModel

    session._drop_adapter()
    progress.set("loading adapter")
    return PeftModel.from_pretrained(base.model, str(g.input_adapter)), contextlib.nullcontext(), True


def _as_list(v: Any) -> list[int]:
    if v is None:
        return []
    return [int(x) for x in v] if isinstance(v, (list, tuple)) else [int(v)]


class _attn_for_generate:
    """A base loaded for FlexAttention training (block masks built by packing.py) generates with SDPA:
    transformers' generate builds its own masks for the implementation the config names."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.held = getattr(model.config, "_attn_implementation", None)

    def __enter__(self) -> None:
        if self.held == "flex_attention":
            self.model.set_attn_implementation("sdpa")

    def __exit__(self, *exc: object) -> None:
        if self.held == "flex_attention":
            self.model.set_attn_implementation(self.held)


class _sampling_determinism:
    """The trainer runs with deterministic algorithms on; a CUDA kernel generate needs that has no
    deterministic variant must warn, not fail the request (same seed, same machine: same samples on CPU)."""

    def __enter__(self) -> None:
        import torch

        self.held = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)

    def __exit__(self, *exc: object) -> None:
        import torch

        torch.use_deterministic_algorithms(self.held)
