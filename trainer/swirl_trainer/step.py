"""`python -m swirl_trainer step --config step.json`: one optimizer update, idempotent and atomic.

Output: <outputRoot>/<hash>/ with adapter_model.safetensors + adapter_config.json
(PEFT), optimizer.pt (AdamW moments, read by the next step), adapter.gguf
(llama.cpp LoRA) and swirl-checkpoint.json, the manifest written last. The
folder is assembled under <outputRoot>/.<hash>.<pid>.tmp, fsynced and renamed,
so it exists only when complete. hash = sha256 of (trainer version, base
identity, input adapter identity, batch sha256, canonical config without paths).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from .base import base_identity, load_base, log
from .config import StepConfig, State, load_batch, load_config, parse_config, sha256_file
from .errors import ConfigError, DataError

TRAINER_VERSION = "swirl-trainer-step-v1"
MANIFEST = "swirl-checkpoint.json"
Emit = Callable[..., None]


def adapter_identity(folder: Path) -> str:
    """A checkpoint of ours is named by its own hash; any other PEFT folder is hashed by content."""
    manifest = folder / MANIFEST
    if manifest.is_file():
        try:
            return "ckpt:" + json.loads(manifest.read_text())["hash"]
        except (ValueError, KeyError):
            pass
    h = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors", "optimizer.pt"):
        p = folder / name
        if p.is_file():
            h.update(name.encode() + b"\0" + sha256_file(p).encode() + b"\0")
    return "peft:" + h.hexdigest()


def step_hash(cfg: StepConfig, base_id: str, input_id: str, batch_sha: str, precision: str = "fp32",
              attention: str = "dense") -> str:
    doc = {"trainer": TRAINER_VERSION, "base": base_id, "input": input_id, "batch": batch_sha,
           "config": cfg.canonical(precision, attention)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_tmp(root: Path) -> int:
    """Removes tmp folders left by killed steps (only those whose process is gone)."""
    n = 0
    if not root.is_dir():
        return 0
    for p in root.iterdir():
        if p.name.startswith(".") and p.name.endswith(".tmp"):
            try:
                pid = int(p.name.rsplit(".", 2)[-2])
            except ValueError:
                continue
            if not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)
                n += 1
    return n


class Progress:
    """Prints a progress line at least every `every` seconds from a background thread, so
    long phases (model loading, one big forward pass) still heartbeat."""

    def __init__(self, emit: Emit, every: float = 2.0) -> None:
        self.emit, self.every = emit, every
        self.done, self.total, self.phase = 0, 0, "start"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Progress":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def set(self, phase: str | None = None, done: int | None = None, total: int | None = None) -> None:
        with self._lock:
            if phase is not None:
                self.phase = phase
                log(phase)
            if done is not None:
                self.done = done
            if total is not None:
                self.total = total
        self.beat()

    def beat(self) -> None:
        with self._lock:
            self.emit("progress", done=self.done, total=self.total, phase=self.phase)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.beat()


def _fsync_tree(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def default_threads() -> int:
    """Fixed per machine (results may depend on it in the last bits): half the cores, at most 8.
    On a shared 2-core machine one thread was 2.7x faster than two (8 vs 24 GFLOP/s sgemm):
    OpenMP threads that spin-wait lose badly when other processes hold the cores."""
    return int(os.environ.get("SWIRL_TRAINER_THREADS") or max(1, min(8, (os.cpu_count() or 2) // 2)))


def configure_torch(seed: int) -> None:
    import torch

    threads = default_threads()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)


def tokenize_state(tok: Any, add_bos: bool, state: State) -> tuple[list[int], list[list[int]]]:
    """The exact ids trained on: BOS (when the model adds one and the text lacks it) + prompt with
    special-token markers parsed, then each action: the sampled ids when the batch gives them
    (exactly what the sampler generated), else its text tokenized on its own (no BOS), as the
    sampler saw it: the prompt evaluated, the action generated after it."""
    ids = tok(state.prompt, add_special_tokens=False).input_ids
    bos = tok.bos_token_id
    if add_bos and bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return ids, [list(a.tokens) if a.tokens is not None else tok(a.text, add_special_tokens=False).input_ids
                 for a in state.actions]


def check_token_ids(state: State, vocab: int) -> None:
    """Sampled ids must exist in this tokenizer: an id from another model's vocabulary would
    train (or crash the embedding lookup) on nonsense."""
    for i, a in enumerate(state.actions):
        if a.tokens is not None and max(a.tokens) >= vocab:
            raise DataError(f"{state.where or state.state_id}: actions[{i}].tokens has id {max(a.tokens)}, "
                            f"the tokenizer has {vocab} tokens",
                            "the sampler and the trainer must use the same base model")


class Session:
    """What a trainer process keeps between steps: the base model (keyed by identity and
    precision), the LoRA model on top of it, and the checkpoint that model and `optimizer`
    equal. The one-process `step` command uses a fresh Session per step, `serve` one for its
    lifetime. A step continues from memory only when its inputAdapter is the checkpoint named
    here, so both paths compute the same bytes: the memory holds exactly what was written."""

    def __init__(self) -> None:
        self.base: Any = None
        self.base_key: tuple[str, str, str] | None = None
        self.model: Any = None  # PeftModel wrapping self.base.model
        self.lora_key: tuple[Any, ...] | None = None
        self.checkpoint: str | None = None  # "ckpt:<hash>" the model and optimizer hold
        self.optimizer: dict[str, Any] | None = None

    def clear(self) -> None:
        self.base = self.base_key = self.model = self.lora_key = self.checkpoint = self.optimizer = None
        import gc

        gc.collect()

    def _drop_adapter(self) -> None:
        if self.model is not None:
            # Removes the LoRA layers (no merge): the base modules are restored as loaded.
            self.model.unload()
        self.model = self.lora_key = self.checkpoint = self.optimizer = None

    def load_base(self, cfg: StepConfig, base_id: str, precision: str, attention: str, progress: "Progress") -> Any:
        """The base model for (identity, precision, attention implementation), loaded when another is held."""
        from .attention import hf_implementation
        from .precision import base_dtype

        key = (base_id, precision, hf_implementation(attention))
        if self.base_key != key:
            self.clear()
            self.base = load_base(cfg, base_id, lambda p: progress.set(p), attn=hf_implementation(attention),
                                  dtype=base_dtype(precision))
            self.base_key = key
        return self.base

    def prepare(self, cfg: StepConfig, base_id: str, input_id: str, precision: str, progress: "Progress",
                attention: str = "dense") -> tuple[Any, Any, dict[str, Any] | None]:
        """(base, LoRA model, optimizer state to continue) for this step."""
        import torch

        self.load_base(cfg, base_id, precision, attention, progress)
        lora_key = (cfg.lora.rank, cfg.lora.alpha, cfg.lora.dropout, tuple(sorted(cfg.lora.target_modules)))
        if self.model is not None and self.checkpoint == input_id and self.lora_key == lora_key:
            progress.set("continuing from the adapter in memory")
            model, state = self.model, self.optimizer
        else:
            self._drop_adapter()
            # The fresh adapter's init draws from this seed, whatever loading the base consumed.
            torch.manual_seed(cfg.seed)
            model = attach_lora(self.base.model, cfg, progress)
            state = None
            if cfg.input_adapter is not None and (cfg.input_adapter / "optimizer.pt").is_file():
                state = torch.load(cfg.input_adapter / "optimizer.pt", weights_only=True, map_location="cpu")
            self.model, self.lora_key = model, lora_key
        # From here on the tensors change: the memory matches no checkpoint until this step's is written.
        self.checkpoint = self.optimizer = None
        return self.base, model, state

    def finished(self, h: str, optimizer: dict[str, Any]) -> None:
        self.checkpoint, self.optimizer = "ckpt:" + h, optimizer


def step_identity(cfg: StepConfig) -> tuple[str, str, str, str, str, str]:
    """(hash, base identity, input identity, batch sha256, resolved precision, resolved attention),
    without torch when no GPU can be present."""
    from .attention import resolve_attention
    from .precision import resolve_precision

    batch_sha = sha256_file(cfg.batch)
    base_id = base_identity(cfg)
    input_id = adapter_identity(cfg.input_adapter) if cfg.input_adapter else "base:" + base_id
    precision = resolve_precision(cfg.precision)
    attention = resolve_attention(cfg.attention, cfg.packing)
    h = step_hash(cfg, base_id, input_id, batch_sha, precision, attention)
    return h, base_id, input_id, batch_sha, precision, attention


def probe_file(probe: tuple[str, str]) -> str:
    """The probe's file in a checkpoint folder, named by what it scores."""
    return "probe-" + hashlib.sha256((probe[0] + "\0" + probe[1]).encode()).hexdigest()[:16] + ".json"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run_step(config: "Path | dict[str, Any]", emit: Emit, session: Session | None = None) -> dict[str, Any]:
    t0 = time.time()
    cfg = load_config(config) if isinstance(config, Path) else parse_config(config)
    states = load_batch(cfg.batch, cfg.objective, cfg.baseline)
    h, base_id, input_id, batch_sha, precision, attention = step_identity(cfg)
    final = cfg.output_root / h
    if (final / MANIFEST).is_file():
        manifest = json.loads((final / MANIFEST).read_text())
        out = {"checkpoint": str(final), "ggufAdapter": str(final / "adapter.gguf"), "hash": h, "reused": True,
               "metrics": manifest.get("metrics", {})}
        if cfg.probe is not None:
            out["probe"] = cached_probe(cfg, final, base_id, precision, attention, session or Session(), emit)
        return out
    try:
        cfg.output_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create outputRoot {cfg.output_root}: {err}", "outputRoot must be writable") from err
    clean_stale_tmp(cfg.output_root)
    session = session or Session()

    with Progress(emit) as progress:
        t_load = time.time()  # torch, base and adapter: what a persistent trainer mostly saves
        progress.set("loading torch", 0, len(states))
        import torch

        configure_torch(cfg.seed)
        base, model, opt_state = session.prepare(cfg, base_id, input_id, precision, progress, attention)
        t_load = time.time() - t_load
        metrics = train_update(model, base, cfg, states, progress, emit, opt_state, precision, attention)
        optimizer = metrics.pop("_optimizer")
        probe = metrics.pop("_probe", None)
        progress.set("writing checkpoint")
        tmp = cfg.output_root / f".{h}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        # PEFT keeps target_modules as a set and writes it in hash-seed order: sorted, the
        # config file is the same bytes in every process.
        pc = model.peft_config["default"]
        pc.target_modules = sorted(pc.target_modules)
        model.save_pretrained(str(tmp))
        torch.save(optimizer, tmp / "optimizer.pt")
        from .gguf_adapter import export_peft_dir

        cfgm = base.model.config
        n_tensors = export_peft_dir(tmp, tmp / "adapter.gguf", base.arch,
                                    getattr(cfgm, "num_attention_heads", None), getattr(cfgm, "num_key_value_heads", None))
        metrics["wallSeconds"] = round(time.time() - t0, 3)
        metrics["loadSeconds"] = round(t_load, 3)
        metrics["precision"] = precision
        metrics["attention"] = attention
        # The probe is a report, not part of the step: the manifest (its file list included) is the
        # same with or without one, and a later step may add another probe file to this folder.
        manifest = {
            "hash": h, "trainer": TRAINER_VERSION, "base": base_id, "input": input_id, "batch": batch_sha,
            "config": cfg.canonical(precision, attention), "arch": base.arch, "ggufTensors": n_tensors, "metrics": metrics,
            "files": {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        if probe is not None:
            (tmp / probe_file(cfg.probe)).write_text(json.dumps(probe))
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
        pause = float(os.environ.get("SWIRL_TRAINER_TEST_PAUSE_BEFORE_RENAME") or 0)
        if pause:  # test hook: a kill during this window must leave no checkpoint
            progress.set("test pause before rename")
            time.sleep(pause)
        _fsync_tree(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            # a concurrent run of the same step finished first; its result is the same
            shutil.rmtree(tmp, ignore_errors=True)
            if not (final / MANIFEST).is_file():
                raise
        fd = os.open(cfg.output_root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        session.finished(h, optimizer)
        progress.set("done", len(states), len(states))
    out = {"checkpoint": str(final), "ggufAdapter": str(final / "adapter.gguf"), "hash": h, "reused": False, "metrics": metrics}
    if probe is not None:
        # a concurrent run of the same step may have won the rename: answer with what is on disk
        stored = final / probe_file(cfg.probe)
        out["probe"] = json.loads(stored.read_text()) if stored.is_file() else probe
    return out


def probe_ids(base: Any, probe: tuple[str, str]) -> tuple[list[int], list[int]]:
    """(prompt ids, continuation ids), tokenized exactly as a batch state's prompt and an action's text."""
    from .config import Action

    p, acts = tokenize_state(base.tokenizer, base.add_bos, State("probe", "probe", probe[0], (Action(probe[1], 0.0),)))
    if not acts[0]:
        raise DataError("probe.continuation tokenizes to no tokens", "give the probe a continuation with text")
    return p, acts[0]


def score_probe(model: Any, base: Any, prompt: list[int], cont: list[int], precision: str, use_adapter: bool) -> list[float]:
    """Log-prob of each continuation token (temperature 1), eval mode, no grad, the step's precision."""
    import contextlib

    import torch

    from .base import train_device
    from .packing import Seq, batch_unpacked, token_logprobs
    from .precision import autocast

    was = model.training
    model.eval()
    off = contextlib.nullcontext() if use_adapter else model.disable_adapter()
    try:
        with torch.no_grad(), off, autocast(precision, train_device()):
            lp = token_logprobs(model.get_base_model(), batch_unpacked([Seq((0, 0), prompt, cont)], 0))
    finally:
        model.train(was)
    return [float(x) for x in lp]


def probe_result(prompt: list[int], cont: list[int], before: list[float], after: list[float]) -> dict[str, Any]:
    return {"ids": prompt + cont, "start": len(prompt), "before": before, "after": after}


def cached_probe(cfg: StepConfig, final: Path, base_id: str, precision: str, attention: str, session: Session,
                 emit: Emit) -> dict[str, Any]:
    """The probe of a reused step: stored with its checkpoint, or computed now (input adapter or
    bare base before, the checkpoint's adapter after) and stored for the next reuse."""
    assert cfg.probe is not None
    stored = final / probe_file(cfg.probe)
    if stored.is_file():
        return json.loads(stored.read_text())
    from peft import PeftModel

    with Progress(emit) as progress:
        progress.set("loading torch")
        import torch

        configure_torch(cfg.seed)
        # The adapter in memory is given up (the next step reloads its input from disk, same bytes).
        session._drop_adapter()
        base = session.load_base(cfg, base_id, precision, attention, progress)
        progress.set("scoring probe")
        prompt, cont = probe_ids(base, cfg.probe)
        scores = []
        for folder in (cfg.input_adapter, final):
            if folder is None:  # no input adapter: the bare base, through a dummy wrapper's disabled adapter
                torch.manual_seed(cfg.seed)
                model = attach_lora(base.model, cfg, progress)
                scores.append(score_probe(model, base, prompt, cont, precision, use_adapter=False))
            else:
                model = PeftModel.from_pretrained(base.model, str(folder))
                scores.append(score_probe(model, base, prompt, cont, precision, use_adapter=True))
            model.unload()
        result = probe_result(prompt, cont, *scores)
        _write_atomic(stored, json.dumps(result))
        progress.set("done", 1, 1)
    return result


def attach_lora(model: Any, cfg: StepConfig, progress: Progress) -> Any:
    from peft import LoraConfig, PeftModel, get_peft_model

    progress.set("attaching LoRA")
    if cfg.input_adapter is None:
        lcfg = LoraConfig(r=cfg.lora.rank, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                          target_modules=list(cfg.lora.target_modules), bias="none", task_type="CAUSAL_LM")
        return get_peft_model(model, lcfg)
    peft = PeftModel.from_pretrained(model, str(cfg.input_adapter), is_trainable=True)
    pc = peft.peft_config["default"]
    have = (pc.r, float(pc.lora_alpha), sorted(pc.target_modules))
    want = (cfg.lora.rank, cfg.lora.alpha, sorted(cfg.lora.target_modules))
    if have != want:
        raise ConfigError(f"inputAdapter has LoRA (rank, alpha, targets) = {have}, the step config asks for {want}",
                          "keep the lora settings fixed across the steps of one training run")
    pc.lora_dropout = cfg.lora.dropout
    return peft


def build_units(states: list[State], ids: list[tuple[list[int], list[list[int]]]], cfg: StepConfig, base: Any,
                attention: str = "dense") -> list[tuple[list[Any], Any]]:
    from .packing import Seq, batch_unpacked, pack

    if cfg.packing:
        groups: "OrderedDict[str, list[Any]]" = OrderedDict()
        for si, (st, (p, acts)) in enumerate(zip(states, ids)):
            groups.setdefault(st.trajectory_id, []).extend(Seq((si, ai), p, a) for ai, a in enumerate(acts))
        return [(seqs, pack(seqs, base.model.config, attention=attention)) for seqs in groups.values()]
    pad = base.tokenizer.pad_token_id if base.tokenizer.pad_token_id is not None else 0
    units = []
    for si, (p, acts) in enumerate(ids):
        seqs = [Seq((si, ai), p, a) for ai, a in enumerate(acts)]
        units.append((seqs, batch_unpacked(seqs, pad)))
    return units


def train_update(model: Any, base: Any, cfg: StepConfig, states: list[State], progress: Progress, emit: Emit,
                 opt_state: dict[str, Any] | None = None, precision: str = "fp32", attention: str = "dense") -> dict[str, Any]:
    import torch

    from .base import train_device
    from .precision import autocast

    from .objective import action_loss, advantages, importance_ratios, k3, sft_loss
    from .packing import token_logprobs

    progress.set("tokenizing")
    ids: list[tuple[list[int], list[list[int]]]] = []
    kept: list[State] = []
    skipped = 0
    vocab = len(base.tokenizer)
    for st in states:
        check_token_ids(st, vocab)
        p, acts = tokenize_state(base.tokenizer, base.add_bos, st)
        if any(not a for a in acts):
            raise DataError(f"state {st.state_id}: an action tokenizes to no tokens",
                            "actions must contain text")
        if len(p) + max(len(a) for a in acts) > cfg.max_context_tokens:
            skipped += 1
            log(f"skipping state {st.state_id}: longer than maxContextTokens={cfg.max_context_tokens}")
            continue
        kept.append(st)
        ids.append((p, acts))
    if not kept:
        raise DataError(f"every state of the batch is longer than maxContextTokens={cfg.max_context_tokens}",
                        "raise maxContextTokens or truncate the states")

    n_actions = sum(len(s.actions) for s in kept)
    n_action_tokens = sum(len(a) for _, acts in ids for a in acts)
    adv: dict[tuple[int, int], float] = {}
    zero_states = 0  # states whose advantages are all 0: nothing to learn from them
    for si, st in enumerate(kept):
        rewards = [a.reward for a in st.actions]
        coeffs = advantages(rewards, cfg.baseline) if cfg.objective == "swirl" else rewards
        zero_states += all(c == 0 for c in coeffs)
        for ai, c in enumerate(coeffs):
            adv[(si, ai)] = c
    if cfg.objective == "swirl" and zero_states == len(kept):
        log("every state's advantages are 0 (equal rewards under RLOO): the policy-gradient term is 0")
    need_ref = cfg.objective != "sft" and cfg.kl_beta > 0

    probe_before = None
    if cfg.probe is not None:  # eval mode, no grad: draws nothing from the RNG seeded below
        probe_prompt, probe_cont = probe_ids(base, cfg.probe)
        probe_before = score_probe(model, base, probe_prompt, probe_cont, precision, use_adapter=cfg.input_adapter is not None)

    torch.manual_seed((cfg.seed * 1_000_003 + cfg.step_index) % (2**63))
    model.train() if cfg.lora.dropout > 0 else model.eval()
    causal = model.get_base_model()
    set_checkpointing(causal, cfg.gradient_checkpointing)
    units = build_units(kept, ids, cfg, base, attention)
    device = train_device()
    params = [p for _, p in sorted(model.named_parameters()) if p.requires_grad]
    for p in params:
        p.grad = None

    total_loss = 0.0
    kl_sum = 0.0
    logp_sum = 0.0
    # per-token log-prob of the actions RL pushes up (advantage > 0) and down (< 0), before the update
    pos = [0.0, 0]
    neg = [0.0, 0]
    # off-policy diagnostics over the tokens that carry a sampler log-prob q
    q_tokens = clipped = 0
    gap_sum = weight_sum = 0.0
    clip = cfg.importance_clip
    fed = seq_tokens = 0
    t_fwd = time.time()
    progress.set("forward/backward", 0, len(units))
    for ui, (seqs, unit) in enumerate(units):
        fed += unit.fed_tokens
        seq_tokens += unit.seq_tokens
        ref = None
        if need_ref:
            with torch.no_grad(), model.disable_adapter(), autocast(precision, device):
                ref = token_logprobs(causal, unit)
        with autocast(precision, device):
            logp = token_logprobs(causal, unit)
        loss = logp.new_zeros(())
        for s in seqs:
            a, b = unit.gather.spans[s.key]
            lp = logp[a:b]
            q = kept[s.key[0]].actions[s.key[1]].sampler_logprobs
            weights = None
            if q is not None:
                qt = torch.tensor(q, dtype=lp.dtype, device=lp.device)
                ratio = importance_ratios(lp, qt)
                q_tokens += len(q)
                gap_sum += float((lp.detach() - qt).double().sum())
                if clip > 0 and cfg.objective != "sft":
                    weights = ratio.clamp(max=clip)
                    clipped += int((ratio > clip).sum())
                    weight_sum += float(weights.double().sum())
                else:
                    weight_sum += float(ratio.double().sum())
            if cfg.objective == "sft":
                loss = loss + sft_loss(lp, n_action_tokens)
            else:
                loss = loss + action_loss(lp, None if ref is None else ref[a:b], adv[s.key], cfg.kl_beta, n_actions, weights)
            if ref is not None:
                kl_sum += float(k3(lp.detach(), ref[a:b]).sum())
            logp_sum += float(lp.detach().sum())
            if cfg.objective == "swirl" and adv[s.key] != 0:
                side = pos if adv[s.key] > 0 else neg
                side[0] += float(lp.detach().sum())
                side[1] += int(lp.numel())
        loss.backward()
        total_loss += float(loss.detach())
        progress.set(done=ui + 1)
    t_fwd = time.time() - t_fwd

    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)) if cfg.optim.grad_clip > 0 else float(
        torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None])))
    opt = torch.optim.AdamW(params, lr=cfg.optim.learning_rate, weight_decay=cfg.optim.weight_decay, foreach=False)
    if opt_state is not None:
        try:
            opt.load_state_dict(opt_state)
        except (ValueError, KeyError) as err:
            raise ConfigError(f"inputAdapter's optimizer.pt does not match this LoRA: {err}", "keep lora settings fixed") from err
        for g in opt.param_groups:  # the step config, not the stored one, sets the hyperparameters
            g["lr"], g["weight_decay"] = cfg.optim.learning_rate, cfg.optim.weight_decay
    before = [p.detach().clone() for p in params]
    opt.step()
    with torch.no_grad():
        # float64 sums: an update of 1e-8 per weight must not round to a delta of 0
        delta = math.sqrt(sum(float((p.detach().double() - b.double()).pow(2).sum()) for p, b in zip(params, before)))
        norm = math.sqrt(sum(float(p.detach().double().pow(2).sum()) for p in params))
    del before
    rewards = [a.reward for s in kept for a in s.actions]
    metrics: dict[str, Any] = {
        "objective": cfg.objective,
        "loss": total_loss,
        "meanReward": (sum(rewards) / len(rewards)) if cfg.objective != "sft" else None,
        "kl": (kl_sum / n_action_tokens) if need_ref else None,
        "meanActionLogprob": logp_sum / n_action_tokens,
        "gradNorm": grad_norm,
        "states": len(kept),
        "skippedStates": skipped,
        "actions": n_actions,
        "actionTokens": n_action_tokens,
        "tokens": seq_tokens,
        "packedTokens": fed,
        "units": len(units),
        "forwardBackwardSeconds": round(t_fwd, 3),
        "zeroAdvantageStates": (zero_states / len(kept)) if cfg.objective == "swirl" else None,
        "adapterDelta": delta,
        "adapterNorm": norm,
        "actionsFromTokens": sum(a.tokens is not None for s in kept for a in s.actions),
        "rewardedActionLogprob": (pos[0] / pos[1]) if pos[1] else None,
        "penalizedActionLogprob": (neg[0] / neg[1]) if neg[1] else None,
    }
    if q_tokens:
        metrics["samplerTokens"] = q_tokens
        metrics["samplerLogprobGap"] = gap_sum / q_tokens
        mean_w = weight_sum / q_tokens
        metrics["importanceWeightMean"] = mean_w if math.isfinite(mean_w) else None  # JSON has no Infinity
        if clip > 0 and cfg.objective != "sft":
            metrics["importanceClipped"] = clipped / q_tokens
    emit("metrics", **metrics)
    metrics["_optimizer"] = opt.state_dict()
    if probe_before is not None:
        after = score_probe(model, base, probe_prompt, probe_cont, precision, use_adapter=True)
        metrics["_probe"] = probe_result(probe_prompt, probe_cont, probe_before, after)
    return metrics


def set_checkpointing(causal: Any, on: bool) -> None:
    """Gradient checkpointing of the decoder layers (non-reentrant: the frozen embeddings need no
    grad-requiring input). transformers checkpoints a layer only while `layer.training`; our model
    runs in eval mode (no dropout), so only the layers' own flag is set, not their children's:
    attention dropout and LoRA dropout stay as model.train()/eval() set them."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    if on:
        if not getattr(causal, "supports_gradient_checkpointing", False):
            raise ConfigError(f"gradientCheckpointing: {type(causal).__name__} does not support gradient checkpointing",
                              "set gradientCheckpointing: false")
        causal.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    elif getattr(causal, "is_gradient_checkpointing", False):
        causal.gradient_checkpointing_disable()
    for m in causal.modules():
        if isinstance(m, GradientCheckpointingLayer):
            m.training = on or m.training
