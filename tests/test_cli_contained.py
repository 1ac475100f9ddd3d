"""What a model's own code may not do to a command: write into its --json document, or end it.

Each model here is a FILE.py:NAME file that prints, writes below Python (os.write on descriptor 1) or exits,
run through the real command line as a subprocess. With --json, stdout must parse as exactly one JSON
document and the prints must reach stderr; an exit must be one line naming the file and line, exit code 2.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SRC = Path(__file__).resolve().parents[1] / "src"

NET = """
import os
import sys

import torch
from torch import nn

{at_import}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        {in_forward}
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))
"""

PRINTS = "print('PRINTED IN FORWARD'); os.write(1, b'WRITTEN TO FD 1\\n')"


def model_file(folder: Path, at_import: str = "", in_forward: str = "pass") -> str:
    """folder/net.py with `at_import` run at import and `in_forward` at every forward call; its spec."""
    (folder / "net.py").write_text(NET.format(at_import=at_import, in_forward=in_forward))
    return f"{folder / 'net.py'}:Net"


def nnscope(folder: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "NNSCOPE_HOME": str(folder), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "nnscope", *argv], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)


def grey_image(folder: Path) -> str:
    """A 12 x 12 grey PNG with a bright square; its path."""
    pixels = np.zeros((12, 12), np.uint8)
    pixels[3:8, 4:9] = 255
    Image.fromarray(pixels).save(folder / "digit.png")
    return str(folder / "digit.png")


COMMANDS = {  # each command on a 1 x 12 x 12 image, as small as it runs
    "layers": ["layers", "--input-shape", "1", "12", "12"],
    "filters": ["filters", "--input-shape", "1", "12", "12"],
    "occlude": ["occlude", "--image", "{image}", "--patch", "4", "--stride", "4"],
    "shift": ["shift", "--image", "{image}", "--pixels", "1", "--no-sweep"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["forward", "import"])
def test_prints_of_a_model_go_to_stderr_and_json_stays_one_document(tmp_path, command, where):
    spec = model_file(tmp_path, at_import=PRINTS if where == "import" else "",
                      in_forward=PRINTS if where == "forward" else "pass")
    argv = [a.replace("{image}", grey_image(tmp_path)) for a in COMMANDS[command]]
    done = nnscope(tmp_path, *argv, "--model", spec, "--json")  # figures: tmp_path/runs/COMMAND
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)  # exactly one document: json.loads refuses anything around it
    assert isinstance(document, dict) and document
    assert "PRINTED IN FORWARD" in done.stderr and "WRITTEN TO FD 1" in done.stderr
    assert "PRINTED" not in done.stdout and "WRITTEN" not in done.stdout


def test_without_json_the_prints_stay_on_stdout(tmp_path):
    """The guard is for --json only: a plain run shows the model's prints where the model wrote them."""
    done = nnscope(tmp_path, "layers", "--input-shape", "1", "12", "12", "--model", model_file(tmp_path, in_forward=PRINTS))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "PRINTED IN FORWARD" in done.stdout and "WRITTEN TO FD 1" in done.stdout


EXITS = {
    "sys.exit in the probing pass": ("sys.exit(0)", "net.py:Net called sys.exit(0) in its forward pass"),
    "sys.exit after the probing passes": ("sys.exit(0) if self.calls > 3 else None", "net.py line 21 called sys.exit(0)"),
    "os._exit in the probing pass": ("os._exit(0)", "net.py line 21 called os._exit(0)"),
    "os._exit after the probing passes": ("os._exit(0) if self.calls > 3 else None", "net.py line 21 called os._exit(0)"),
    "os._exit with code 3": ("os._exit(3) if self.calls > 3 else None", "net.py line 21 called os._exit(3)"),
}


@pytest.mark.parametrize("case", EXITS)
def test_a_model_that_exits_is_one_line_never_a_silent_end(tmp_path, case):
    in_forward, expect = EXITS[case]
    done = nnscope(tmp_path, "occlude", "--image", grey_image(tmp_path), "--patch", "4", "--stride", "4", "--json",
                   "--out", str(tmp_path / "out"), "--model", model_file(tmp_path, in_forward=in_forward))
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert lines[0].startswith("nnscope occlude: error: ") and expect in lines[0], lines[0]


@pytest.mark.parametrize("call, expect", [("sys.exit(0)", "net.py line 8: SystemExit: 0"),
                                          ("os._exit(0)", "net.py line 8 called os._exit(0)")])
def test_a_model_file_that_exits_at_import_is_one_line(tmp_path, call, expect):
    done = nnscope(tmp_path, "layers", "--json", "--input-shape", "1", "12", "12",
                   "--model", model_file(tmp_path, at_import=call))
    assert done.returncode == 2 and done.stdout == "", done.stderr[-2000:]
    assert len(done.stderr.splitlines()) == 1 and expect in done.stderr, done.stderr


def test_a_forked_child_still_ends_with_os_exit_and_the_guard_is_lifted_after():
    """The guard refuses os._exit in the command's own process only, and only while the command runs."""
    from nnscope.cli.contained import ExitCalled, exits_refused

    real = os._exit
    with exits_refused():
        with pytest.raises(ExitCalled, match=r"test_cli_contained.py line \d+ called os._exit\(5\)"):
            os._exit(5)
        pid = os.fork()
        if pid == 0:  # the child: os._exit must end it with its code, not raise
            os._exit(7)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 7
    assert os._exit is real


def test_json_in_process_goes_to_the_callers_stdout(capsys):
    """main() called in-process (a test, a notebook) writes the document to sys.stdout as it finds it."""
    from nnscope.cli import main

    assert main(["lstm", "--explain", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)
