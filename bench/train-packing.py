#!/usr/bin/env python3
"""bench/train-packing.py: one trainer update, packed (shared-prefix trie) vs per-state, side by side.

    .venv/bin/python bench/train-packing.py [--questions 4] [--steps 3] [--g 4] [--base .swirl/models/gemma-3-270m-q4_k_m.gguf]

Data: SWiRL-shaped trajectories synthesized from data/hotpotqa (swirl_trainer/synth.py):
per question `steps` search turns (article text as the tool result) and a final
answer, so `steps + 1` states per trajectory, each with G actions. Both runs do
the same update (objective swirl, RLOO, KL 0.05, LoRA r=16 on q/k/v/o) on the
embedded Gemma 3 270M and print tokens fed to the model and forward+backward wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "trainer"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads (see swirl_trainer/commands.py)

from swirl_trainer.synth import make_batch, write_jsonl  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--g", type=int, default=4)
    ap.add_argument("--base", default=str(root / ".swirl" / "models" / "gemma-3-270m-q4_k_m.gguf"))
    args = ap.parse_args()

    from swirl_trainer.step import default_threads, run_step

    tmp = Path(tempfile.mkdtemp(prefix="swirl-bench-train-"))
    rows = make_batch(root / "data" / "hotpotqa", args.questions, args.steps, args.g, seed=0)
    batch = write_jsonl(rows, tmp / "batch.jsonl")
    res = {}
    for packing in (True, False):
        cfg = {
            "version": 1, "base": {"gguf": str(Path(args.base).resolve())}, "inputAdapter": None,
            "outputRoot": str(tmp / ("packed" if packing else "per-state")), "batch": str(batch), "objective": "swirl",
            "lora": {"rank": 16, "alpha": 32, "dropout": 0, "targetModules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
            "optim": {"learningRate": 1e-5, "weightDecay": 0, "gradClip": 1.0}, "klBeta": 0.05, "baseline": "rloo",
            "seed": 0, "stepIndex": 0, "packing": packing, "maxContextTokens": 8192,
        }
        path = tmp / f"step-{packing}.json"
        path.write_text(json.dumps(cfg))
        t = time.time()
        out = run_step(path, lambda *a, **k: None)
        m = out["metrics"]
        res[packing] = m
        print(f"{'packed' if packing else 'per-state':>9}: states {m['states']}, actions {m['actions']}, "
              f"sequence tokens {m['tokens']}, tokens fed {m['packedTokens']}, forward passes {m['units']}, "
              f"forward+backward {m['forwardBackwardSeconds']:.1f} s, step wall {time.time() - t:.1f} s, loss {m['loss']:.5f}",
              flush=True)
    p, s = res[True], res[False]
    print(f"tokens fed: per-state / packed = {s['packedTokens'] / p['packedTokens']:.2f}x "
          f"(sum of unpadded sequence lengths / packed = {p['tokens'] / p['packedTokens']:.2f}x)")
    print(f"forward+backward time: per-state / packed = {s['forwardBackwardSeconds'] / p['forwardBackwardSeconds']:.2f}x")
    print(f"loss difference packed vs per-state: {abs(p['loss'] - s['loss']):.2e}  (threads: {default_threads()})")


if __name__ == "__main__":
    main()
