"""Run Captum's own occlusion tests (tests/attr/test_occlusion.py of a Captum checkout, not part of
nnscope) against nnscope.Occlusion: the file is copied to a temporary folder with its
`from captum.attr._core.occlusion import Occlusion` replaced by `from nnscope import Occlusion`,
then run with pytest. Prints pytest's summary; exits with pytest's status.

    PYTHONPATH=src python benchmarks/captum_occlusion_tests.py path/to/captum/tests/attr/test_occlusion.py

Result (2026-12-02, Captum main at faac0877, Captum 0.9.0 installed): 17 passed, 0 failed
(docs/occlusion_engine.md).
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

CAPTUM_IMPORT = "from captum.attr._core.occlusion import Occlusion"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("test_file", type=Path, help="Captum's tests/attr/test_occlusion.py")
    args = parser.parse_args()
    source = args.test_file.read_text()
    if CAPTUM_IMPORT not in source:
        print(f"{args.test_file}: no line '{CAPTUM_IMPORT}' to replace", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        test = Path(folder) / "test_captum_occlusion_on_nnscope.py"
        test.write_text(source.replace(CAPTUM_IMPORT, "from nnscope import Occlusion"))
        return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
                                "--rootdir", folder, str(test)])


if __name__ == "__main__":
    sys.exit(main())
