"""Start-up: `nnscope --help`, `nnscope CMD --help` and a bad option import neither torch nor matplotlib.

Measured as what is imported (python -X importtime), not as seconds: the machines are shared."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnscope.cli.commands import COMMANDS

SRC = str(Path(__file__).resolve().parents[1] / "src")
HEAVY = ("torch", "matplotlib", "numpy", "jinja2", "starlette")


def imported(*argv: str) -> tuple[int, str, set[str]]:
    """Exit code, stderr lines that are not import timings, and the top-level modules imported."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "nnscope", *argv], capture_output=True,
                          text=True, env=env, timeout=120)
    modules, other = set(), []
    for line in done.stderr.splitlines():
        if line.startswith("import time:"):
            modules.add(line.rsplit("|", 1)[-1].strip().split(".")[0])
        else:
            other.append(line)
    return done.returncode, "\n".join(other), modules


def test_the_top_level_help_lists_every_command_without_importing_torch():
    code, _, modules = imported("--help")
    assert code == 0 and not modules & set(HEAVY)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_commands_help_and_a_bad_option_import_nothing_heavy(command):
    code, _, modules = imported(command, "--help")
    assert code == 0 and not modules & set(HEAVY), sorted(modules & set(HEAVY))
    code, errors, modules = imported(command, "--no-such-option")
    assert code == 2 and not modules & set(HEAVY)
    assert errors.splitlines() == [f"nnscope {command}: error: unrecognized arguments: --no-such-option "
                                   f"(see 'nnscope {command} --help')"]


@pytest.mark.parametrize("argv, message", [
    (["shift", "--pixels", "-1"], "--pixels: -1"),  # its upper bound is the image's side, known once read
    (["occlude", "--stride", "9"], "--stride: 9"),  # a patch's size is checked against the image, once read
    (["longseq", "--radii", "nan"], "--radii: nan"),
    (["train", "--seed", "-1"], "--seed: -1"),
])
def test_an_option_out_of_range_is_refused_before_torch_is_imported(argv, message):
    code, errors, modules = imported(*argv)
    assert code == 2 and "torch" not in modules and "matplotlib" not in modules
    assert errors.startswith(f"nnscope {argv[0]}: error: {message}") and len(errors.splitlines()) == 1
