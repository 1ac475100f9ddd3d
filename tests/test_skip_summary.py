"""The test run's last line names each group of skipped tests, why, and how to install what they need."""

import subprocess
import sys
from pathlib import Path

SKIPPING = '''
import pytest

@pytest.fixture
def browser():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)")

@pytest.mark.browser
@pytest.mark.parametrize("n", [1, 2, 3])
def test_page(browser, n):
    pass

def test_oracle():
    pytest.importorskip("a_module_nobody_has")

@pytest.mark.skipif(True, reason="needs a CUDA device")
def test_gpu():
    pass

def test_runs():
    pass
'''


def test_the_last_line_groups_the_skips_with_their_reasons_and_installs(tmp_path):
    (tmp_path / "test_some.py").write_text(SKIPPING)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    browser: drives headless Chromium\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "skip_summary", "-p", "no:cacheprovider",
                          str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(Path(__file__).parent), "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout + run.stderr
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("skipped: 3 browser tests (Debian's chromium is not installed (apt-get install chromium))")
    assert "1 test (could not import 'a_module_nobody_has'" in last and "(pip install -e '.[test]')" in last
    assert "1 test (needs a CUDA device)" in last
    assert "1 passed, 5 skipped" in run.stdout
