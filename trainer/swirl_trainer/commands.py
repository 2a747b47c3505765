"""The `step`, `serve` and `export-gguf` commands: stdout carries JSON lines only.

Libraries (transformers, peft, tqdm) sometimes print to stdout; file
descriptor 1 is pointed at stderr while they run, and the JSON lines go to a
duplicate of the original stdout.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .errors import ConfigError, TrainerError

# OpenMP threads that spin while waiting make torch crawl when other processes share
# the cores; must be set before torch (and its OpenMP runtime) is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# torch.use_deterministic_algorithms on CUDA needs a fixed cuBLAS workspace (set before CUDA starts).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


class JsonOut:
    def __init__(self) -> None:
        sys.stdout.flush()
        self._fd = os.dup(1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self._out = os.fdopen(self._fd, "w", buffering=1)
        self._lock = threading.Lock()

    def __call__(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, allow_nan=False, default=str)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


def _exit_with_parent(poll: float = 0.5) -> None:
    """Exits when the process that started us dies (its pid changes: we were re-parented).
    A worker killed with -9 cannot kill its children; without this its trainer kept running as an
    orphan (14 s while loading torch, a whole forward/backward later) next to the rerun. Exiting
    at any point is safe: checkpoints are written to a tmp folder and renamed."""
    parent = os.getppid()
    if parent <= 1:
        return
    # Linux: the kernel kills us the moment the parent goes (the poll below took 0.5-2 s, a window in
    # which a rerun's trainer could start beside this one). The poll stays for other systems.
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0 and os.getppid() != parent:
            os._exit(1)  # the parent died before the request took effect
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _guarded(fn: Any) -> int:
    _exit_with_parent()
    return _report(fn, JsonOut())


def _report(fn: Any, emit: Any) -> int:
    """Runs fn(emit); a failure becomes an error event and the exit code the contract gives it."""
    try:
        fn(emit)
        return 0
    except TrainerError as err:
        emit("error", type=err.type, message=str(err), hint=err.hint)
        return err.exit_code
    except MemoryError as err:
        traceback.print_exc()
        emit("error", type="RuntimeError", message=f"out of memory: {err}", hint="use fewer states per step or a shorter maxContextTokens")
        return 1
    except Exception as err:  # noqa: BLE001 - everything else is retryable by contract
        traceback.print_exc()
        emit("error", type="RuntimeError", message=f"{type(err).__name__}: {err}", hint="see the trainer's stderr")
        return 1


def step_command(config: Path) -> int:
    from .step import run_step

    def go(emit: Any) -> None:
        result = run_step(config, emit)
        emit("done", **result)

    return _guarded(go)


def serve_command() -> int:
    """`python -m swirl_trainer serve`: steps (and `generate`: samples from the current policy)
    requested as JSON lines on stdin, one at a time,
    with base model, adapter and optimizer state kept in memory between them (CONTRACT.md).
    Exits on end of input, when the parent dies, and after SWIRL_TRAINER_IDLE_S seconds
    (default 300) without a request: an idle trainer holds the base model's memory."""
    import queue

    from .generate import run_generate
    from .step import Session, run_step

    _exit_with_parent()
    out = JsonOut()
    idle = float(os.environ.get("SWIRL_TRAINER_IDLE_S") or 300)
    lines: "queue.Queue[str | None]" = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, name="requests", daemon=True).start()
    session = Session()
    out("ready", pid=os.getpid(), contract=2, idleSeconds=idle)
    while True:
        try:
            line = lines.get(timeout=idle)
        except queue.Empty:
            # A request that raced this exit is answered by nobody; the caller sees this event
            # first and sends it again to a new process (steps are idempotent).
            out("exit", reason="idle", idleSeconds=idle)
            return 0
        if line is None:
            return 0
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise ValueError("a request is a JSON object")
        except ValueError as err:
            out("error", id=None, type="ConfigError", message=f"request is not a JSON object: {err}", hint="one JSON request per line")
            continue
        rid = req.get("id")
        cmd = req.get("cmd")

        def emit(event: str, **fields: Any) -> None:
            out(event, id=rid, **fields)

        if cmd == "ping":
            emit("pong")
        elif cmd == "exit":
            return 0
        elif cmd == "step":
            def go(emit: Any) -> None:
                emit("done", **run_step(req.get("config"), emit, session))

            if _report(go, emit) != 0:
                # A failed step may have left the model half-updated (or the base wrapped by an
                # adapter that failed its checks): start the next one from disk.
                session.clear()
        elif cmd == "generate":
            def sample(emit: Any) -> None:
                emit("done", **run_generate(req.get("config"), emit, session))

            if _report(sample, emit) != 0:
                # A failure may have left a request's adapter wrapped around the base: reload from disk.
                session.clear()
        else:
            emit("error", type="ConfigError", message=f"unknown request cmd {cmd!r}", hint="cmd is step, generate, ping or exit")


def export_gguf_command(adapter: Path, base: Path, out: Path) -> int:
    def go(emit: Any) -> None:
        from .gguf_adapter import export_peft_dir

        if not (adapter / "adapter_model.safetensors").is_file():
            raise ConfigError(f"not a PEFT adapter folder: {adapter}", "pass the folder with adapter_model.safetensors")
        if not base.is_file():
            raise ConfigError(f"base GGUF not found: {base}", "pass the base model's GGUF file")
        from gguf import GGUFReader

        r = GGUFReader(str(base))
        arch = str(r.get_field("general.architecture").contents())
        heads = r.get_field(f"{arch}.attention.head_count")
        kv = r.get_field(f"{arch}.attention.head_count_kv")
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        n = export_peft_dir(adapter, tmp, arch, heads and int(heads.contents()), kv and int(kv.contents()))
        os.replace(tmp, out)
        emit("done", out=str(out), arch=arch, tensors=n)

    return _guarded(go)


def export_merged_command(adapter: Path, out: Path, base_gguf: Path | None, base_hf: Path | None) -> int:
    def go(emit: Any) -> None:
        from .base import log
        from .merge import export_merged

        result = export_merged(adapter, out, base_gguf, base_hf, lambda p: (log(p), emit("progress", done=0, total=1, phase=p)))
        emit("done", **result)

    return _guarded(go)


def prepare_base_command(gguf: Path) -> int:
    def go(emit: Any) -> None:
        import time

        from .base import gguf_identity, log, materialize_gguf

        gguf_abs = gguf.resolve()
        if not gguf_abs.is_file():
            raise ConfigError(f"base GGUF not found: {gguf_abs}", "run `npm run setup` first")
        t = time.time()
        digest = gguf_identity(gguf_abs)
        existed = False
        from .base import cache_root

        folder = cache_root(gguf_abs) / f"{gguf_abs.stem}-{digest[:16]}"
        existed = (folder / "swirl-base.json").is_file()
        folder = materialize_gguf(gguf_abs, digest, lambda p: (log(p), emit("progress", done=0, total=1, phase=p)))
        emit("done", folder=str(folder), sha256=digest, built=not existed, seconds=round(time.time() - t, 1))

    return _guarded(go)


def tiny_model_command(out: Path, seed: int) -> int:
    def go(emit: Any) -> None:
        from .tiny import write_tiny_model

        emit("done", dir=str(write_tiny_model(out, seed)))

    return _guarded(go)
