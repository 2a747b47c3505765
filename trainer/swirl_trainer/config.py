"""The step config (step.json) and the batch file (batch.jsonl): parsing and validation.

Everything is checked before torch is imported, so a bad config fails in well
under a second with a ConfigError/DataError that names the field.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, DataError

OBJECTIVES = ("swirl", "sft", "stored-actions")
BASELINES = ("rloo", "none")
PRECISIONS = ("auto", "fp32", "bf16")
ATTENTIONS = ("auto", "dense", "sdpa", "flex")
#: Files that hold a Hugging Face model's weights (one of them must be in base.hfDir).
WEIGHT_GLOBS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
KNOWN_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TOP_LEVEL = {
    "version", "base", "inputAdapter", "outputRoot", "batch", "objective", "lora", "optim",
    "klBeta", "baseline", "seed", "stepIndex", "packing", "maxContextTokens", "precision",
    "importanceClip", "attention", "gradientCheckpointing", "probe",
}


@dataclass(frozen=True)
class Lora:
    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class Optim:
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0


@dataclass(frozen=True)
class StepConfig:
    base_gguf: Path | None
    base_hf_dir: Path | None
    input_adapter: Path | None
    output_root: Path
    batch: Path
    objective: str = "swirl"
    lora: Lora = field(default_factory=Lora)
    optim: Optim = field(default_factory=Optim)
    kl_beta: float = 0.05
    baseline: str = "rloo"
    seed: int = 0
    step_index: int = 0
    packing: bool = True
    max_context_tokens: int = 8192
    #: As asked: auto | fp32 | bf16 (absent = fp32, as in contract version 1). The hash covers the
    #: resolved value (precision.resolve_precision), since auto depends on the machine.
    precision: str = "fp32"
    #: Truncation c of the per-token importance weight min(exp(logp - q), c) that corrects for the
    #: sampler being another policy than the one scored here; 0 = off (the plain on-policy loss).
    importance_clip: float = 0.0
    #: How a packed batch attends: auto | dense (a 4-D additive N x N mask, eager attention) | sdpa
    #: (a boolean N x N mask, PyTorch's scaled_dot_product_attention) | flex (FlexAttention with a
    #: BlockMask from the trie). The hash covers the resolved value (attention.resolve_attention).
    attention: str = "auto"
    #: Recompute each decoder layer's activations in the backward pass (memory for time).
    gradient_checkpointing: bool = False
    #: (prompt, continuation) scored with the input and the new adapter (the done event's `probe`);
    #: a report, not an input of the update: never hashed.
    probe: tuple[str, str] | None = None

    def canonical(self, precision: str = "fp32", attention: str = "dense") -> dict[str, Any]:
        """The config fields that change the result (paths excluded: they are hashed by content).
        `precision` and `attention` are the resolved ones; fp32 and dense are left out so steps
        keep the hashes they had before those fields existed (their checkpoints stay reusable)."""
        doc: dict[str, Any] = {
            "objective": self.objective,
            "lora": {"rank": self.lora.rank, "alpha": self.lora.alpha, "dropout": self.lora.dropout,
                     "targetModules": sorted(self.lora.target_modules)},
            "optim": {"learningRate": self.optim.learning_rate, "weightDecay": self.optim.weight_decay,
                      "gradClip": self.optim.grad_clip},
            "klBeta": self.kl_beta, "baseline": self.baseline, "seed": self.seed, "stepIndex": self.step_index,
            # packing changes only float summation order, but results must be reproducible bit for bit.
            "packing": self.packing, "maxContextTokens": self.max_context_tokens,
        }
        if precision != "fp32":
            doc["precision"] = precision
        # Only when used: steps without it keep the hashes they had before the field existed.
        if self.importance_clip:
            doc["importanceClip"] = self.importance_clip
        if attention != "dense":
            doc["attention"] = attention
        if self.gradient_checkpointing:
            doc["gradientCheckpointing"] = True
        return doc


@dataclass(frozen=True)
class Action:
    text: str
    reward: float
    #: The ids the sampler generated: trained on as given (re-tokenizing `text` may split it
    #: differently from how it was sampled). None = tokenize `text`.
    tokens: tuple[int, ...] | None = None
    #: The sampler's log-prob of each of `tokens` (same length), for the off-policy correction.
    sampler_logprobs: tuple[float, ...] | None = None


@dataclass(frozen=True)
class State:
    state_id: str
    trajectory_id: str
    prompt: str
    actions: tuple[Action, ...]
    #: "batch.jsonl:<line>", for errors found after parsing (token ids outside the vocabulary).
    where: str = field(default="", compare=False)


def _enum(obj: dict, key: str, default: str, allowed: "tuple[str, ...] | frozenset[str] | set[str]") -> str:
    v = obj.get(key, default)
    if v not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(allowed)}, got {v!r}", f"set {key}")
    return v


def _num(obj: dict, key: str, default: float, *, lo: float | None = None, hi: float | None = None,
         lo_open: bool = False, where: str = "") -> float:
    v = obj.get(key, default)
    name = f"{where}{key}"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{name} must be a finite number, got {v!r}", f"set {name} to a number")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ConfigError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {v}", f"set {name} to a valid value")
    if hi is not None and v > hi:
        raise ConfigError(f"{name} must be <= {hi}, got {v}", f"set {name} to a valid value")
    return float(v)


def _int(obj: dict, key: str, default: int, *, lo: int, where: str = "") -> int:
    v = obj.get(key, default)
    name = f"{where}{key}"
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{name} must be an integer, got {v!r}", f"set {name} to an integer >= {lo}")
    if v < lo:
        raise ConfigError(f"{name} must be >= {lo}, got {v}", f"set {name} to an integer >= {lo}")
    return v


def _abs_path(v: Any, name: str) -> Path:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{name} must be a path string, got {v!r}", f"set {name} to an absolute path")
    p = Path(v)
    if not p.is_absolute():
        raise ConfigError(f"{name} must be an absolute path, got {v!r}", "the caller passes absolute artifact paths")
    return p


def parse_base(base: Any) -> "tuple[Path | None, Path | None]":
    """(gguf, hfDir) of a `base` field: exactly one, existing; an HF folder with config.json and weights."""
    if not isinstance(base, dict) or len(base) != 1 or not ({"gguf", "hfDir"} & set(base)):
        raise ConfigError('base must be {"gguf": "/abs/model.gguf"} or {"hfDir": "/abs/dir"}', "set base")
    if "gguf" in base:
        gguf = _abs_path(base["gguf"], "base.gguf")
        if not gguf.is_file():
            raise ConfigError(f"base model file not found: {gguf}", "run `npm run setup` or point base.gguf at an existing GGUF file")
        return gguf, None
    hf = _abs_path(base["hfDir"], "base.hfDir")
    if not (hf / "config.json").is_file():
        raise ConfigError(f"base model folder has no config.json: {hf}", "point base.hfDir at a Hugging Face model folder")
    if not any(next(hf.glob(g), None) for g in WEIGHT_GLOBS):
        raise ConfigError(f"base model folder has config.json but no weights (*.safetensors, *.bin or a sharded "
                          f"index): {hf}",
                          "copy the model's weight files into that folder (a download that fetched only the "
                          "config leaves it like this), or point base.hfDir at a complete model folder; "
                          "`python -m swirl_trainer tiny-model --out DIR` writes a small complete one for tests")
    return None, hf


def parse_input_adapter(inp: Any) -> "Path | None":
    """A previous step's PEFT checkpoint folder, or None for a fresh LoRA / the bare base."""
    if inp is None:
        return None
    adapter = _abs_path(inp, "inputAdapter")
    if not (adapter / "adapter_config.json").is_file() or not (adapter / "adapter_model.safetensors").is_file():
        raise ConfigError(f"inputAdapter is not a PEFT checkpoint folder: {adapter}",
                          "pass the checkpoint path printed by a previous step's done event, or null for a fresh LoRA")
    return adapter


def check_request(raw: Any, kind: str, fields: "set[str] | frozenset[str]", versions: tuple[int, ...], hint: str) -> None:
    """A request's envelope: a JSON object, known fields only, a version this trainer reads."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{kind} config must be a JSON object", hint)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(f"unknown {kind} config field(s): {', '.join(unknown)}", hint)
    if raw.get("version", versions[0]) not in versions:
        raise ConfigError(f"unsupported {kind} config version {raw.get('version')!r}",
                          f"this trainer reads version{'s' if len(versions) > 1 else ''} {' and '.join(map(str, versions))}")


def parse_config(raw: Any) -> StepConfig:
    check_request(raw, "step", TOP_LEVEL, (1, 2), "see trainer/CONTRACT.md for the fields")

    gguf, hf = parse_base(raw.get("base"))
    input_adapter = parse_input_adapter(raw.get("inputAdapter"))

    output_root = _abs_path(raw.get("outputRoot"), "outputRoot")
    batch = _abs_path(raw.get("batch"), "batch")
    if not batch.is_file():
        raise DataError(f"batch file not found: {batch}", "the train stage writes the batch before calling the trainer")

    objective = _enum(raw, "objective", "swirl", OBJECTIVES)
    baseline = _enum(raw, "baseline", "rloo", BASELINES)

    lr = raw.get("lora", {})
    if not isinstance(lr, dict):
        raise ConfigError("lora must be an object", "set lora")
    unknown = sorted(set(lr) - {"rank", "alpha", "dropout", "targetModules"})
    if unknown:
        raise ConfigError(f"unknown lora field(s): {', '.join(unknown)}", "lora has rank, alpha, dropout, targetModules")
    rank = _int(lr, "rank", 16, lo=1, where="lora.")
    targets = lr.get("targetModules", list(Lora.target_modules))
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise ConfigError("lora.targetModules must be a non-empty list of module names", f"use some of {', '.join(KNOWN_MODULES)}")
    bad = [t for t in targets if t not in KNOWN_MODULES]
    if bad:
        raise ConfigError(f"lora.targetModules has unsupported module(s): {', '.join(bad)}",
                          f"the GGUF adapter export maps only {', '.join(KNOWN_MODULES)}")
    lora = Lora(rank=rank, alpha=_num(lr, "alpha", 32.0, lo=0, lo_open=True, where="lora."),
                dropout=_num(lr, "dropout", 0.0, lo=0, hi=0.99, where="lora."),
                target_modules=tuple(dict.fromkeys(targets)))

    op = raw.get("optim", {})
    if not isinstance(op, dict):
        raise ConfigError("optim must be an object", "set optim")
    unknown = sorted(set(op) - {"learningRate", "weightDecay", "gradClip"})
    if unknown:
        raise ConfigError(f"unknown optim field(s): {', '.join(unknown)}", "optim has learningRate, weightDecay, gradClip")
    optim = Optim(learning_rate=_num(op, "learningRate", 1e-5, lo=0, lo_open=True, where="optim."),
                  weight_decay=_num(op, "weightDecay", 0.0, lo=0, where="optim."),
                  grad_clip=_num(op, "gradClip", 1.0, lo=0, where="optim."))

    packing = raw.get("packing", True)
    if not isinstance(packing, bool):
        raise ConfigError(f"packing must be true or false, got {packing!r}", "set packing")
    precision = _enum(raw, "precision", "fp32", PRECISIONS)
    attention = raw.get("attention", "auto")
    if attention not in ATTENTIONS:
        raise ConfigError(f"attention must be one of {', '.join(ATTENTIONS)}, got {attention!r}", "set attention (auto picks)")
    checkpointing = raw.get("gradientCheckpointing", False)
    if not isinstance(checkpointing, bool):
        raise ConfigError(f"gradientCheckpointing must be true or false, got {checkpointing!r}", "set gradientCheckpointing")
    return StepConfig(
        base_gguf=gguf, base_hf_dir=hf, input_adapter=input_adapter, output_root=output_root, batch=batch,
        objective=objective, lora=lora, optim=optim,
        kl_beta=_num(raw, "klBeta", 0.05, lo=0), baseline=baseline,
        seed=_int(raw, "seed", 0, lo=0), step_index=_int(raw, "stepIndex", 0, lo=0),
        packing=packing, max_context_tokens=_int(raw, "maxContextTokens", 8192, lo=16), precision=precision,
        importance_clip=_num(raw, "importanceClip", 0.0, lo=0),
        attention=attention, gradient_checkpointing=checkpointing, probe=_probe(raw.get("probe")),
    )


def _probe(v: Any) -> tuple[str, str] | None:
    if v is None:
        return None
    if not isinstance(v, dict) or set(v) != {"prompt", "continuation"} or not all(
            isinstance(v[k], str) and v[k] for k in ("prompt", "continuation")):
        raise ConfigError('probe must be {"prompt": "<non-empty text>", "continuation": "<non-empty text>"}',
                          "the probe is scored as a state prompt and an action text are")
    return v["prompt"], v["continuation"]


def load_config(path: Path) -> StepConfig:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"step config not found: {path}", "pass --config /abs/step.json") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"step config is not valid JSON: {err}", "write step.json as one JSON object") from err
    return parse_config(raw)


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def _action(a: Any, i: int, where: str, objective: str) -> Action:
    name = f"{where}: actions[{i}]"
    if not isinstance(a, dict):
        raise DataError(f"{name} must be an object", 'an action is {"text": ..., "reward": ...}')
    tokens = a.get("tokens")
    if tokens is not None:
        if not isinstance(tokens, list) or not tokens or not all(
                isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens):
            raise DataError(f"{name}.tokens must be a non-empty list of non-negative integers",
                            "tokens are the ids the sampler generated for this action")
        tokens = tuple(tokens)
    # With tokens, text is only for people reading the batch; without them it is what is trained on.
    if not isinstance(a.get("text"), str) or (tokens is None and not a["text"]):
        raise DataError(f"{name}.text must be a non-empty string", "an action is the completion text")
    r = a.get("reward", 0.0 if objective == "sft" else None)
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not math.isfinite(r):
        raise DataError(f"{name}.reward must be a finite number, got {r!r}", "rewards are in [0, 1]")
    q = a.get("samplerLogprobs")
    if q is not None:
        if tokens is None:
            raise DataError(f"{name}.samplerLogprobs needs tokens",
                            "sampler log-probs belong to the sampled token ids: send both")
        if not isinstance(q, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in q):
            raise DataError(f"{name}.samplerLogprobs must be a list of finite numbers", "one log-prob per sampled token")
        if len(q) != len(tokens):
            raise DataError(f"{name}.samplerLogprobs has {len(q)} entries, tokens has {len(tokens)}",
                            "send one sampler log-prob per sampled token")
        q = tuple(float(v) for v in q)
    return Action(a["text"], float(r), tokens, q)


def load_batch(path: Path, objective: str, baseline: str) -> list[State]:
    states: list[State] = []
    seen: set[str] = set()
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{n}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not valid JSON ({err.msg})", "one JSON object per line") from err
            if not isinstance(row, dict):
                raise DataError(f"{where}: a line must be a JSON object", "one state per line")
            for key in ("stateId", "trajectoryId", "prompt"):
                if not isinstance(row.get(key), str) or (key != "prompt" and not row[key]):
                    raise DataError(f"{where}: {key} must be a string", f"every state has a {key}")
            if not row["prompt"]:
                raise DataError(f"{where}: prompt is empty", "the prompt is the rendered state text")
            if row["stateId"] in seen:
                raise DataError(f"{where}: duplicate stateId {row['stateId']!r}", "state ids are unique within a batch")
            seen.add(row["stateId"])
            acts = row.get("actions")
            if not isinstance(acts, list) or not acts:
                raise DataError(f"{where}: actions must be a non-empty list", "each state has at least one action")
            actions = []
            for i, a in enumerate(acts):
                actions.append(_action(a, i, where, objective))
            if objective == "swirl" and baseline == "rloo" and len(actions) < 2:
                raise DataError(f"{where}: the RLOO baseline needs at least 2 actions per state, got {len(actions)}",
                                "sample G >= 2 actions per state, or use baseline: none")
            states.append(State(row["stateId"], row["trajectoryId"], row["prompt"], tuple(actions), where))
    if not states:
        raise DataError(f"batch {path} has no states", "the train stage must pass at least one state")
    return states
