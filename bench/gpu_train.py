#!/usr/bin/env python3
"""bench/gpu_train.py: training at the scale users train (issue 20), one GPU, under 10 minutes.

    .venv/bin/python bench/gpu_train.py --out /tmp/gpu-train [--device cuda] [--shape qwen1.5b|tiny]
                                        [--K 4] [--G 8] [--trajectories 4] [--steps 3] [--time-limit 540]

A random-init model of Qwen2.5-1.5B's shape (Qwen2Config: hidden 1536, 28 layers, 12 heads, 2 KV
heads, intermediate 8960, vocab 151936; no weights needed: speed and memory do not depend on the
values) with LoRA r16 on q/k/v/o, trained by the project's own code: swirl_trainer.step.train_update
(tokenizing, packing or per-state batching, the SWiRL objective with RLOO and the KL reference pass,
AdamW), called repeatedly on the same model with the optimizer state carried over, as the
persistent trainer (`serve`) does. Rows: {bf16, fp32} x {packed + dense tree mask, packed + flex
BlockMask, per-state (packing false)}.

Batches: `--trajectories` trajectories of `--K` states, each state with `--G` actions. State k's
prompt = an instruction + k x (stored action + tool output): the shared prefixes of a SWiRL
trajectory. Text is random ASCII through the byte-level tokenizer of `tiny-model` (one token per
character), actions are given as token ids (`tokens`), so lengths are exact.

Per row: fed tokens/s (tokens the model runs over: trie nodes, or padded cells per-state), sequence
tokens/s (prompt + action per action: the work before packing), median wall per step after
`--warmup` steps, peak memory (torch.cuda.max_memory_allocated), and MFU = 6 * P * fed tokens / wall
/ peak, P = parameters of the decoder layers (embedding and lm_head left out: the vocabulary
projection runs only at action tokens). 6 = forward 2 + backward 2 (activation gradients only: the
frozen weights get none, LoRA's are negligible) + the KL reference forward 2; attention's own
FLOPs are left out (they grow with N^2 dense, less with the tree's sparsity). Peaks are dense
tensor-core numbers from the table below (fp32 = plain FP32 pipes: torch does not use TF32 unless
asked). Then an equality check in fp32: log-probs of the same trajectory packed-dense vs
packed-flex vs per-state.

An OOM (or any other failure) is recorded in its row and the bench goes on. `--time-limit` stops
cleanly before the next step that would start past it, keeping what was measured. On a CPU, flex
rows are "unsupported" (FlexAttention has no CPU backward) and the flex log-probs of the
equality check run the uncompiled reference implementation.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import statistics
import sys
import time
import traceback
from pathlib import Path

root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "trainer"))
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

from swirl_trainer.base import Base  # noqa: E402
from swirl_trainer.config import Action, Lora, Optim, State, StepConfig  # noqa: E402
from swirl_trainer.step import attach_lora, configure_torch, train_update  # noqa: E402
from swirl_trainer.tiny import tiny_tokenizer  # noqa: E402

SHAPES = {
    "qwen1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                     intermediate_size=8960, vocab_size=151936),
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=128, vocab_size=512),
}
# Dense peak TFLOPS by device name (bf16 tensor cores, plain fp32), from NVIDIA's data sheets.
PEAKS = [("H200", 989.0, 67.0), ("H100 PCIe", 756.0, 51.0), ("H100", 989.0, 67.0), ("A100", 312.0, 19.5)]


def peak_tflops(device: str, precision: str) -> float | None:
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    for key, bf16, fp32 in PEAKS:
        if key in name:
            return bf16 if precision == "bf16" else fp32
    return None


class Quiet:
    """train_update's progress sink (the step command's heartbeat thread is not needed here)."""

    def set(self, *a, **k) -> None:
        pass

    def beat(self) -> None:
        pass


def text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz      .,\n") for _ in range(n))


def make_states(rng: random.Random, trajectories: int, k: int, g: int, prompt_tokens: int, tool_tokens: int,
                action_tokens: int, vocab: int) -> list[State]:
    states = []
    for t in range(trajectories):
        prompt = "Answer the question. " + text(rng, prompt_tokens - 21)
        for s in range(k):
            acts = tuple(Action("", float(rng.random() < 0.5), tuple(rng.randrange(3, vocab) for _ in range(action_tokens)))
                         for _ in range(g))
            states.append(State(f"t{t}:{s}", f"t{t}", prompt, acts))
            # the next state: this one + its stored action (as text) + a tool output
            prompt += text(rng, action_tokens) + "\n<tool>" + text(rng, tool_tokens - 14) + "</tool>\n"
    return states


def build_model(shape: str, precision: str, device: str):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(**SHAPES[shape], max_position_embeddings=32768, tie_word_embeddings=False)
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2ForCausalLM(cfg)
    model.to(torch.bfloat16 if precision == "bf16" else torch.float32).eval()
    return model


def step_config(out: Path, precision: str, packing: bool, attention: str, k: int, checkpointing: bool) -> StepConfig:
    return StepConfig(base_gguf=None, base_hf_dir=None, input_adapter=None, output_root=out, batch=out / "none.jsonl",
                      lora=Lora(rank=16, alpha=32.0, dropout=0.0), optim=Optim(learning_rate=1e-5), seed=0, step_index=k,
                      packing=packing, precision=precision, attention=attention, gradient_checkpointing=checkpointing)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def free(device: str) -> None:
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def run_row(peft, base: Base, states: list[State], args, precision: str, mode: str, deadline: float) -> dict:
    row = {"precision": precision, "mode": mode, "steps": 0}
    device = args.device
    if mode == "flex" and device != "cuda":
        row["status"] = "unsupported: FlexAttention has no backward pass on CPU"
        return row
    causal = peft.get_base_model()
    causal.config._attn_implementation = "flex_attention" if mode == "flex" else "eager"
    packing = mode != "per-state"
    attention = "flex" if mode == "flex" else "dense"
    walls, opt_state, metrics = [], None, {}
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    try:
        for k in range(args.warmup + args.steps):
            if time.time() > deadline:
                row["status"] = "time limit"
                break
            cfg = step_config(Path(args.out), precision, packing, attention, k, args.checkpointing)
            sync(device)
            t = time.time()
            metrics = train_update(peft, base, cfg, states, Quiet(), lambda *a, **f: None, opt_state, precision, attention)
            sync(device)
            wall = time.time() - t
            opt_state = metrics.pop("_optimizer")
            row["steps"] = k + 1
            if k >= args.warmup:
                walls.append(wall)
            else:
                row["warmupSeconds"] = round(wall, 3)
            print(json.dumps({"event": "step", "precision": precision, "mode": mode, "k": k, "wall": round(wall, 3),
                              "loss": metrics["loss"]}), flush=True)
        else:
            row["status"] = "ok"
    except torch.cuda.OutOfMemoryError:
        row["status"] = "OOM"
    except Exception as err:  # noqa: BLE001 - recorded, the bench goes on
        traceback.print_exc()
        row["status"] = f"error: {type(err).__name__}: {str(err)[:300]}"
    finally:
        for p in peft.parameters():
            p.grad = None
        opt_state = None
        free(device)
    if device == "cuda":
        row["peakMemoryGiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    if walls:
        med = statistics.median(walls)
        fed, seq = metrics["packedTokens"], metrics["tokens"]
        row.update(medianStepSeconds=round(med, 3), fedTokens=fed, seqTokens=seq, fedTokensPerSecond=round(fed / med, 1),
                   seqTokensPerSecond=round(seq / med, 1), units=metrics["units"])
        params = sum(p.numel() for p in causal.model.layers.parameters())
        achieved = 6 * params * fed / med / 1e12
        row["achievedTFLOPS"] = round(achieved, 3)
        peak = peak_tflops(device, precision)
        row["mfu"] = round(achieved / peak, 4) if peak else None
    return row


def equality(peft, base: Base, states: list[State], device: str) -> dict:
    """fp32 log-probs of one trajectory: packed-dense vs packed-flex vs per-state (max |difference|)."""
    from swirl_trainer.packing import Seq, batch_unpacked, pack, token_logprobs
    from swirl_trainer.step import tokenize_state

    causal = peft.get_base_model()
    traj = [s for s in states if s.trajectory_id == states[0].trajectory_id]
    seqs = []
    for si, st in enumerate(traj):
        p, acts = tokenize_state(base.tokenizer, base.add_bos, st)
        seqs += [Seq((si, ai), p, a) for ai, a in enumerate(acts)]
    out: dict = {"states": len(traj), "sequences": len(seqs)}
    restore = None
    if device != "cuda":  # no compiled flex kernel for training on CPU; the reference implementation for forward
        import transformers.integrations.flex_attention as fa
        from torch.nn.attention.flex_attention import flex_attention

        restore = fa.compile_friendly_flex_attention
        fa.compile_friendly_flex_attention = lambda q, k, v, training=False, **kw: flex_attention(q, k, v, **kw)
    try:
        with torch.no_grad():
            causal.config._attn_implementation = "eager"
            dense_u = pack(seqs, causal.config)
            dense = token_logprobs(causal, dense_u)
            per_state = {}
            for si in range(len(traj)):
                group = [s for s in seqs if s.key[0] == si]
                u = batch_unpacked(group, base.tokenizer.pad_token_id)
                lp = token_logprobs(causal, u)
                per_state.update({s.key: lp[slice(*u.gather.spans[s.key])] for s in group})
            causal.config._attn_implementation = "flex_attention"
            flex_u = pack(seqs, causal.config, attention="flex")
            flex = token_logprobs(causal, flex_u)
        ref = torch.cat([per_state[s.key] for s in seqs])
        order = torch.cat([torch.arange(*dense_u.gather.spans[s.key]) for s in seqs])
        out["fedTokens"] = dense_u.fed_tokens
        out["maxAbsDenseVsPerState"] = float((dense[order] - ref).abs().max())
        out["maxAbsFlexVsPerState"] = float((flex[order] - ref).abs().max())
        out["maxAbsFlexVsDense"] = float((flex - dense).abs().max())
        out["ok"] = max(out["maxAbsDenseVsPerState"], out["maxAbsFlexVsPerState"]) < 1e-3
    except torch.cuda.OutOfMemoryError:
        out["status"] = "OOM"
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        out["status"] = f"error: {type(err).__name__}: {str(err)[:300]}"
    finally:
        causal.config._attn_implementation = "eager"
        if restore is not None:
            fa.compile_friendly_flex_attention = restore
        free(device)
    return out


def markdown(res: dict) -> str:
    lines = [f"# gpu_train ({res['device']}, shape {res['shape']}, K={res['K']} G={res['G']} trajectories={res['trajectories']})", "",
             "| precision | mode | status | median s/step | fed tok/s | seq tok/s | fed tokens | peak GiB | TFLOPS | MFU |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append("| {precision} | {mode} | {status} | {m} | {f} | {s} | {n} | {g} | {t} | {u} |".format(
            precision=r["precision"], mode=r["mode"], status=r.get("status", "?"), m=r.get("medianStepSeconds", "-"),
            f=r.get("fedTokensPerSecond", "-"), s=r.get("seqTokensPerSecond", "-"), n=r.get("fedTokens", "-"),
            g=r.get("peakMemoryGiB", "-"), t=r.get("achievedTFLOPS", "-"),
            u="-" if r.get("mfu") is None else f"{100 * r['mfu']:.1f}%"))
    eq = res.get("equality")
    if eq:
        lines += ["", "Equality (fp32 log-probs, one trajectory): " + json.dumps(eq)]
    lines += ["", "MFU = 6 x decoder parameters x fed tokens / wall / dense peak (see bench/gpu_train.py)."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shape", choices=sorted(SHAPES), default="qwen1.5b")
    ap.add_argument("--K", type=int, default=4, help="states per trajectory")
    ap.add_argument("--G", type=int, default=8, help="actions per state")
    ap.add_argument("--trajectories", type=int, default=4, help="trajectories per step")
    ap.add_argument("--prompt-tokens", type=int, default=512)
    ap.add_argument("--tool-tokens", type=int, default=384)
    ap.add_argument("--action-tokens", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3, help="measured steps per row")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--precisions", default="bf16,fp32")
    ap.add_argument("--modes", default="dense,flex,per-state")
    ap.add_argument("--checkpointing", action="store_true", help="gradientCheckpointing: true in every row")
    ap.add_argument("--no-equality", action="store_true")
    ap.add_argument("--time-limit", type=float, default=540.0, help="seconds; stops cleanly before a step past it")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    t0 = time.time()
    deadline = t0 + args.time_limit
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    configure_torch(0)  # as a step does: deterministic algorithms, the trainer's thread count
    tok = tiny_tokenizer()
    vocab = min(len(tok), SHAPES[args.shape]["vocab_size"])
    states = make_states(random.Random(0), args.trajectories, args.K, args.G, args.prompt_tokens, args.tool_tokens,
                         args.action_tokens, vocab)
    res: dict = {"device": torch.cuda.get_device_name() if args.device == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
                 "shape": args.shape, "K": args.K, "G": args.G, "trajectories": args.trajectories,
                 "promptTokens": args.prompt_tokens, "toolTokens": args.tool_tokens, "actionTokens": args.action_tokens,
                 "torch": torch.__version__, "rows": []}

    def save() -> None:
        res["wallSeconds"] = round(time.time() - t0, 1)
        (out / "results.json").write_text(json.dumps(res, indent=1))
        (out / "results.md").write_text(markdown(res))

    for precision in args.precisions.split(","):
        if time.time() > deadline:
            break
        try:
            model = build_model(args.shape, precision, args.device)
        except torch.cuda.OutOfMemoryError:
            res["rows"].append({"precision": precision, "mode": "build", "status": "OOM"})
            continue
        base = Base(model=model, tokenizer=tok, arch="qwen2", add_bos=False, identity="bench", folder=out)
        torch.manual_seed(0)
        peft = attach_lora(model, step_config(out, precision, True, "dense", 0, False), Quiet())
        if precision == "fp32" and not args.no_equality and time.time() < deadline:
            res["equality"] = equality(peft, base, states, args.device)
            print(json.dumps({"event": "equality", **res["equality"]}), flush=True)
            save()
        for mode in args.modes.split(","):
            row = run_row(peft, base, states, args, precision, mode, deadline)
            res["rows"].append(row)
            print(json.dumps({"event": "row", **row}), flush=True)
            save()
        del peft, model, base
        free(args.device)
    save()
    print((out / "results.md").read_text())
    print(json.dumps({"event": "done", "out": str(out), "wallSeconds": res["wallSeconds"]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
