"""A trainer whose worker is killed (-9) dies with it at once (commands._exit_with_parent)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

TRAINER = Path(__file__).resolve().parents[1]

# The middle process starts the "trainer" (the poll fallback set to a minute, so only the kernel's
# parent-death signal can stop it quickly), prints its pid, and waits to be killed.
MIDDLE = f"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, '-c', '''
import sys, time
sys.path.insert(0, {str(TRAINER)!r})
from swirl_trainer.commands import _exit_with_parent
_exit_with_parent(poll=60)
print("ready", flush=True)
time.sleep(120)
'''], stdout=subprocess.PIPE, text=True)
assert child.stdout.readline().strip() == "ready"
print(child.pid, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_trainer_dies_with_its_parent_within_a_poll() -> None:
    if not sys.platform.startswith("linux"):
        return  # the poll fallback is the only mechanism elsewhere
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE], stdout=subprocess.PIPE, text=True)
    child = int(middle.stdout.readline())
    assert _alive(child)
    middle.send_signal(signal.SIGKILL)
    middle.wait()
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    gone_after = 5 - (deadline - time.monotonic())
    assert not _alive(child), "the trainer outlived its parent by 5 s"
    assert gone_after < 1.0, f"the trainer outlived its parent by {gone_after:.2f} s (the poll is set to 60 s: the death signal did not work)"
