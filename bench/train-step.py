#!/usr/bin/env python3
"""bench/train-step.py: wall time per training step, side by side in one run:
one process per step (`swirl_trainer step`, as before) vs the persistent trainer (`serve`),
fp32 vs bf16, packed vs per-state, and for packed batches the attention (packed-dense = eager with
an additive mask, packed-sdpa = scaled_dot_product_attention with a boolean mask; plain "packed"
is the trainer's default, sdpa on CPU since session 13 — the tables in docs/benchmarks.md from
before were eager).

    nice -n 10 .venv/bin/python bench/train-step.py [--model gemma3-270m] [--steps 3] [--states 4] [--g 4]
                                                    [--only one-process/fp32/packed,persistent/bf16/packed]

Each configuration runs `--steps` chained steps (each on the adapter of the one before, as a
train stage does) on its own batches of `--states` states x G actions, synthesized from
data/hotpotqa (swirl_trainer/synth.py: a search turn with the article, then the answer turn),
into a fresh checkpoint folder, so nothing is reused. Times are taken from this process: a step's
wall includes starting Python for the one-process path. "load" = wall minus the trainer's own
update + checkpoint time (importing torch, loading base and adapter, process start); "steady" =
mean of the steps after the first; tok/s = sequence tokens (prompt + action per action, the work
before packing) per steady second. ratio = steady wall of one-process/fp32/packed (today's path)
divided by this configuration's. Last, the losses of fp32 and bf16 (persistent, packed) per step:
the same data, two curves.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "trainer"))
from swirl_trainer.models import MODELS  # noqa: E402
from swirl_trainer.synth import make_batch, write_jsonl  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(root / "trainer"), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
ALL = [f"{mode}/{prec}/{pack}" for mode in ("one-process", "persistent") for prec in ("fp32", "bf16") for pack in ("packed", "per-state")]


def step_config(base: Path, out: Path, batch: Path, k: int, prev: str | None, precision: str, packing: bool,
                attention: str | None = None) -> dict:
    return {**({"attention": attention} if attention else {}),
        "version": 2, "base": {"gguf": str(base)}, "inputAdapter": prev, "outputRoot": str(out), "batch": str(batch),
        "objective": "swirl", "lora": {"rank": 16, "alpha": 32, "dropout": 0, "targetModules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "optim": {"learningRate": 1e-5, "weightDecay": 0, "gradClip": 1.0}, "klBeta": 0.05, "baseline": "rloo",
        "seed": 0, "stepIndex": k, "packing": packing, "maxContextTokens": 8192, "precision": precision,
    }


def last_event(lines: list[str]) -> dict:
    ev = json.loads(lines[-1])
    if ev["event"] != "done":
        raise SystemExit(f"trainer failed: {ev}")
    return ev


class Persistent:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "swirl_trainer", "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=ENV, cwd="/")
        self.n = 0

    def step(self, cfg: dict) -> dict:
        self.n += 1
        self.proc.stdin.write(json.dumps({"id": str(self.n), "cmd": "step", "config": cfg}) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise SystemExit("the persistent trainer died")
            ev = json.loads(line)
            if ev.get("id") == str(self.n) and ev["event"] in ("done", "error"):
                return last_event([line])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def one_process(cfg: dict, tmp: Path) -> dict:
    path = tmp / f"step-{time.time_ns()}.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, "-m", "swirl_trainer", "step", "--config", str(path)], capture_output=True, text=True, env=ENV, cwd="/")
    if r.returncode != 0:
        raise SystemExit(f"step failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
    return last_event(r.stdout.splitlines())


def run_config(name: str, base: Path, batches: list[Path], tmp: Path) -> dict:
    mode, prec, pack = name.split("/")
    out = tmp / name.replace("/", "-")
    server = Persistent() if mode == "persistent" else None
    walls, loads, tokens, losses, logps, prev = [], [], [], [], [], None
    try:
        for k, batch in enumerate(batches):
            # "packed" = the trainer's default attention (auto: sdpa on CPU); "packed-dense" / "packed-sdpa" pin it.
            cfg = step_config(base, out, batch, k, prev, prec, pack.startswith("packed"), pack.split("-", 1)[1] if pack.startswith("packed-") else None)
            t = time.time()
            done = server.step(cfg) if server else one_process(cfg, tmp)
            wall = time.time() - t
            m = done["metrics"]
            assert not done["reused"] and m["precision"] == prec
            walls.append(wall)
            loads.append(wall - (m["wallSeconds"] - m["loadSeconds"]))
            tokens.append(m["tokens"])
            losses.append(m["loss"])
            logps.append(m["meanActionLogprob"])
            prev = done["checkpoint"]
    finally:
        if server:
            server.close()
    steady = walls[1:] or walls
    return {"name": name, "first": walls[0], "steady": sum(steady) / len(steady), "loadShare": sum(loads) / sum(walls),
            "tokS": sum(tokens[1:] or tokens) / sum(steady), "losses": losses, "logps": logps, "walls": walls}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma3-270m", help=f"one of {', '.join(sorted(MODELS))}, or a GGUF path")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--states", type=int, default=4, help="states per step (even: a search state and an answer state per question)")
    ap.add_argument("--g", type=int, default=4)
    ap.add_argument("--only", default=",".join(ALL),
                    help="comma-separated configurations MODE/PRECISION/PACKING; PACKING: packed (default attention), "
                         "packed-dense (eager), packed-sdpa, per-state")
    args = ap.parse_args()

    base = Path(args.model) if args.model.endswith(".gguf") else root / ".swirl" / "models" / MODELS[args.model].filename
    if not base.is_file():
        raise SystemExit(f"{base} is not installed (this bench does not download models)")
    tmp = Path(tempfile.mkdtemp(prefix="swirl-bench-train-step-"))
    per_step = args.states // 2
    rows = make_batch(root / "data" / "hotpotqa", per_step * args.steps, 1, args.g, seed=0)
    batches = [write_jsonl(rows[k * args.states:(k + 1) * args.states], tmp / f"batch-{k}.jsonl") for k in range(args.steps)]
    threads = os.environ.get("SWIRL_TRAINER_THREADS") or max(1, min(8, (os.cpu_count() or 2) // 2))
    print(f"model {base.name}, {args.steps} steps x {args.states} states x G={args.g}, trainer threads {threads}, LoRA r=16 q/k/v/o", flush=True)
    res = []
    for name in args.only.split(","):
        r = run_config(name, base, batches, tmp)
        res.append(r)
        print(f"  done {name}: walls {' '.join(f'{w:.1f}' for w in r['walls'])} s", flush=True)
    today = next((r["steady"] for r in res if r["name"] == "one-process/fp32/packed"), None)
    print()
    print("| configuration | first step s | steady step s | load share | tokens/s | ratio vs one-process/fp32/packed |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in res:
        ratio = f"{today / r['steady']:.2f}x" if today else "-"
        print(f"| {r['name']} | {r['first']:.1f} | {r['steady']:.1f} | {100 * r['loadShare']:.0f}% | {r['tokS']:.0f} | {ratio} |")
    curves = {r["name"].split("/")[1]: r for r in res if r["name"].startswith("persistent/") and r["name"].endswith("/packed")}
    if len(curves) == 2:
        f, b = curves["fp32"], curves["bf16"]
        print()
        print("| step | loss fp32 | loss bf16 | difference | mean action log-prob fp32 | bf16 | difference |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for k in range(len(f["losses"])):
            print(f"| {k} | {f['losses'][k]:.6f} | {b['losses'][k]:.6f} | {b['losses'][k] - f['losses'][k]:+.2e} "
                  f"| {f['logps'][k]:.4f} | {b['logps'][k]:.4f} | {b['logps'][k] - f['logps'][k]:+.2e} |")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
