"""Today's numbers, frozen: the JSON of `filters`, `featuremaps` and `shift` on the test session's checkpoint.

The files in tests/golden/ were written by this test with NNSCOPE_WRITE_GOLDEN=1 before the analyses were
rewritten; every later version must give the same numbers (within float rounding: the model runs in
float32, and an engine may sum in another order) and keep every key. New keys are allowed. A change that
moves a number on purpose rewrites the file in the commit that explains it.
"""

import json
import math
import os
from pathlib import Path

import pytest

from nnscope.cli import main

GOLDEN = Path(__file__).parent / "golden"
COMMANDS = {
    "filters": ["filters"],
    "featuremaps": ["featuremaps", "--images", "1000", "--draws", "2"],
    "shift": ["shift", "--images", "300", "--sweep-max", "2"],
}
PATH_KEYS = ("out", "checkpoint", "file", "model")  # where the run read and wrote: differs from run to run
REL, ABS = 1e-4, 1e-5  # float32 rounding, summed in another order


def assert_same(golden, now, where: str = "") -> None:
    """`now` holds every key of `golden` with the same value: numbers within rounding, the rest exactly."""
    if isinstance(golden, dict):
        assert isinstance(now, dict), where
        for key, value in golden.items():
            if key in PATH_KEYS:
                continue
            assert key in now, f"{where}: key {key!r} is gone"
            assert_same(value, now[key], f"{where}.{key}")
    elif isinstance(golden, list):
        assert isinstance(now, list) and len(now) == len(golden), f"{where}: length {len(golden)}"
        for i, (g, n) in enumerate(zip(golden, now)):
            assert_same(g, n, f"{where}[{i}]")
    elif isinstance(golden, float) and not isinstance(golden, bool):
        assert isinstance(now, (int, float)) and math.isclose(golden, now, rel_tol=REL, abs_tol=ABS), \
            f"{where}: {now} != {golden}"
    else:
        assert golden == now, f"{where}: {now!r} != {golden!r}"


@pytest.mark.slow
@pytest.mark.parametrize("name", COMMANDS)
def test_command_json_is_todays(name, trained_checkpoint, tmp_path, capsys):
    argv = [*COMMANDS[name], "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path), "--json"]
    assert main(argv) == 0
    now = json.loads(capsys.readouterr().out)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("NNSCOPE_WRITE_GOLDEN"):
        path.write_text(json.dumps(now, indent=None, separators=(",", ":")) + "\n")
    assert_same(json.loads(path.read_text()), now, name)
