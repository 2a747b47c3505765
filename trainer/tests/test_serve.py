"""The persistent trainer (`serve`): the same checkpoints as one process per step, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import write_step

TRAINER = Path(__file__).resolve().parents[1]
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_config.json", "optimizer.pt", "adapter.gguf")


class Server:
    def __init__(self, **env: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "swirl_trainer", "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, cwd="/", env={**os.environ, "PYTHONPATH": str(TRAINER), **env})
        self.n = 0
        first = self.next()
        assert first["event"] == "ready" and first["pid"] == self.proc.pid, first

    def next(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, f"trainer exited with {self.proc.wait(timeout=30)}"
        return json.loads(line)

    def send(self, cmd: str, **fields) -> str:
        self.n += 1
        rid = f"r{self.n}"
        self.proc.stdin.write(json.dumps({"id": rid, "cmd": cmd, **fields}) + "\n")
        self.proc.stdin.flush()
        return rid

    def step(self, config_file: Path) -> tuple[dict, list[dict]]:
        rid = self.send("step", config=json.loads(config_file.read_text()))
        events = []
        while True:
            ev = self.next()
            assert ev.get("id") == rid, ev
            events.append(ev)
            if ev["event"] in ("done", "error"):
                return ev, events

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.stdin.close()
        return self.proc.wait(timeout=60)


def run_cli_step(config: Path) -> dict:
    r = subprocess.run([sys.executable, "-m", "swirl_trainer", "step", "--config", str(config)], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(TRAINER)}, cwd="/")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


def files_of(checkpoint: str) -> dict[str, bytes]:
    return {n: (Path(checkpoint) / n).read_bytes() for n in WEIGHT_FILES}


def chain(tmp: Path, base: Path, root: Path, step, n: int, **over) -> list[dict]:
    out, prev = [], None
    for k in range(n):
        done = step(write_step(tmp, base, root, inputAdapter=prev, stepIndex=k, **over))
        assert done["event"] == "done", done
        out.append(done)
        prev = done["checkpoint"]
    return out


def test_serve_continues_in_memory_with_the_same_bytes_as_one_process_per_step(tmp_path, tiny_llama_dir):
    ref = chain(tmp_path, tiny_llama_dir, tmp_path / "cli", run_cli_step, 3)
    srv = Server()
    try:
        got, phases = [], []
        prev = None
        for k in range(3):
            done, events = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv", inputAdapter=prev, stepIndex=k))
            assert done["event"] == "done", done
            got.append(done)
            phases.append({e.get("phase") for e in events if e["event"] == "progress"})
            prev = done["checkpoint"]
        # the base is loaded once; steps 2 and 3 continue from the adapter the step before wrote
        assert "loading base model" in phases[0] and not any("loading base model" in p for p in phases[1:])
        assert all("continuing from the adapter in memory" in p for p in phases[1:])
        assert [d["hash"] for d in got] == [d["hash"] for d in ref]
        for a, b in zip(ref, got):
            assert files_of(a["checkpoint"]) == files_of(b["checkpoint"])

        # an input that is not the adapter in memory is read from disk: step 2 again on top of step 1
        # (into a fresh root, so it is computed, not reused), same bytes as the first time
        done, events = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv2", inputAdapter=got[0]["checkpoint"], stepIndex=1))
        assert "continuing from the adapter in memory" not in {e.get("phase") for e in events}
        assert files_of(done["checkpoint"]) == files_of(got[1]["checkpoint"])

        # a fresh adapter on the base the server holds (the old adapter unloaded): as in a new process
        fresh, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv", seed=1))
        assert files_of(fresh["checkpoint"]) == files_of(run_cli_step(write_step(tmp_path, tiny_llama_dir, tmp_path / "cli", seed=1))["checkpoint"])

        # a request that fails leaves the server serving
        bad, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv", lora={"rank": 0, "alpha": 8}))
        assert bad["event"] == "error" and bad["type"] == "ConfigError"
        again, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv", inputAdapter=got[1]["checkpoint"], stepIndex=2))
        assert again["reused"] is True and again["hash"] == got[2]["hash"]
        assert srv.send("ping") and srv.next()["event"] == "pong"
    finally:
        assert srv.close() == 0


def test_killed_server_rerun_reloads_the_last_checkpoint(tmp_path, tiny_llama_dir):
    ref = chain(tmp_path, tiny_llama_dir, tmp_path / "cli", run_cli_step, 2)
    srv = Server()
    first, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv", stepIndex=0))
    srv.close()
    # step 2 is killed with its checkpoint written but not renamed
    srv = Server(SWIRL_TRAINER_TEST_PAUSE_BEFORE_RENAME="120")
    srv.send("step", config=json.loads(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv", inputAdapter=first["checkpoint"], stepIndex=1).read_text()))
    while srv.next().get("phase") != "test pause before rename":
        pass
    srv.proc.send_signal(signal.SIGKILL)
    srv.proc.wait(timeout=30)
    assert not (tmp_path / "srv" / ref[1]["hash"]).exists()
    srv = Server()
    try:
        done, _ = srv.step(write_step(tmp_path, tiny_llama_dir, tmp_path / "srv", inputAdapter=first["checkpoint"], stepIndex=1))
        assert done["reused"] is False and done["hash"] == ref[1]["hash"]
        assert files_of(done["checkpoint"]) == files_of(ref[1]["checkpoint"])
        assert sorted(p.name for p in (tmp_path / "srv").iterdir()) == sorted([first["hash"], done["hash"]])  # tmp folder cleaned
    finally:
        srv.close()


def test_idle_server_exits(tmp_path):
    srv = Server(SWIRL_TRAINER_IDLE_S="1")
    t = time.time()
    ev = srv.next()
    assert ev == {"event": "exit", "reason": "idle", "idleSeconds": 1.0}
    assert srv.proc.wait(timeout=30) == 0 and time.time() - t < 20
