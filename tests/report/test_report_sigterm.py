"""SIGTERM to `nnscope report` ends it as Ctrl-C does: its long-sequence worker process (hundreds of MB) ends
with it, and the earlier page in --out is left as it was, no staging folder beside it.

The report runs on a small FILE.py:NAME model whose forward sleeps, so that the report is still busy when
the worker process (started first, for the long-sequence study) is seen and the signal is sent.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

SLOW_MODEL = """
import time

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        time.sleep(0.5)  # keeps the report busy in its own process while the worker runs
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))
"""


def children(pid: int) -> dict[int, str]:
    """pid -> command line of every process whose parent is `pid` (read from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2:].split()[1])  # the field after the state
            if parent == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):  # it ended while being read
            continue
    return found


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`: children, their children, ..."""
    found = children(pid)
    for child in list(found):
        found.update(descendants(child))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def wait_until(condition, seconds: float, step: float = 0.05) -> bool:
    """Whether `condition()` became true within `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return condition()


@pytest.mark.slow
def test_sigterm_ends_the_report_and_its_worker_and_keeps_the_old_page(tmp_path):
    (tmp_path / "net.py").write_text(SLOW_MODEL)
    out = tmp_path / "report"
    out.mkdir()
    old_page = {"results.json": b'{"sections": {}}', "index.html": b"<p>the earlier page</p>"}
    for name, content in old_page.items():
        (out / name).write_bytes(content)
    env = {**os.environ, "PYTHONPATH": str(SRC), "NNSCOPE_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    report = subprocess.Popen([sys.executable, "-m", "nnscope", "report", "--quick", "--model", f"{tmp_path / 'net.py'}:Net",
                               "--input-shape", "1", "12", "12", "--out", str(out)],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        workers = {}

        def worker_started() -> bool:
            workers.update(descendants(report.pid))
            return any("multiprocessing" in cmd for cmd in workers.values()) or report.poll() is not None

        assert wait_until(worker_started, 240), "no worker process within 240 s"
        assert report.poll() is None, report.communicate()[1][-2000:]
        time.sleep(1.0)  # the worker is importing and running the study
        workers.update(descendants(report.pid))
        report.send_signal(signal.SIGTERM)
        _, stderr = report.communicate(timeout=60)
    finally:
        if report.poll() is None:
            report.kill()
    assert report.returncode == 130, stderr[-2000:]
    assert "nnscope: interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]
    still_running = {pid: cmd for pid, cmd in workers.items() if not wait_until(lambda: not alive(pid), 10)}
    assert still_running == {}, f"processes of the report still running after SIGTERM: {still_running}"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old_page
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report.")] == []  # no staging folder left
