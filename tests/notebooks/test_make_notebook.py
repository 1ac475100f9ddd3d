"""`make notebook` starts JupyterLab on the tutorial, with --allow-root exactly when run as root (JupyterLab
refuses root without it; a container's user often is root)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None or not hasattr(os, "geteuid"), reason="needs make and a POSIX user id")
def test_make_notebook_allows_root_only_as_root():
    planned = subprocess.run(["make", "-n", "notebook"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert planned.returncode == 0, planned.stderr
    lab = [line for line in planned.stdout.splitlines() if "jupyter lab" in line]
    assert len(lab) == 1 and lab[0].endswith("docs/tutorial.ipynb")
    assert ("--allow-root" in lab[0].split()) == (os.geteuid() == 0)
