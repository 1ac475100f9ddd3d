"""Golden numbers: the JSON of `occlude`, `attack` and the live page's /api/analyze on a small nnscope
checkpoint (tests/golden/cnn.pt, trained on 12,000 MNIST images: 97.6% test accuracy), frozen before the
occlusion and the attack became one path for every model. Every number must stay the same within float
rounding; keys may be added, none may go.

Regenerate (only for a change of numbers explained in its commit):
    PYTHONPATH=src .venv/bin/python tests/test_golden.py
"""

import contextlib
import io
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest

GOLDEN = Path(__file__).parent / "golden"
CHECKPOINT = GOLDEN / "cnn.pt"
TOLERANCE = 2e-4  # probabilities and means: float rounding of another engine or summation order
VOLATILE = {"seconds", "out", "figures", "npz", "images_per_second", "model", "engine"}  # timings, paths, words

# name -> command line (the checkpoint and --json --out added); the cases the one path must keep
COMMANDS = {
    "occlude_default": ["occlude", "--images", "5"],
    "occlude_patch6_stride2": ["occlude", "--patch", "6", "--stride", "2", "--images", "3", "--digit", "2"],
    "attack_small": ["attack", "--sizes", "4", "6", "--donors", "1", "--images", "3"],
    # the same network as TorchScript: the path of any other model on the MNIST test set
    "occlude_torchscript": ["occlude", "--patch", "6", "--stride", "2", "--images", "3", "--digit", "2"],
}
SCRIPTED = {"occlude_torchscript"}


def drawing() -> np.ndarray:
    """A fixed hand-made drawing (1, 28, 28) in [0, 1]: a ring with a stroke down its right side, like a '9'."""
    y, x = np.mgrid[:28, :28]
    ring = np.abs(np.hypot(y - 10, x - 13) - 5) < 1.6
    stem = (np.abs(x - 18) < 1.5) & (y >= 10) & (y < 25)
    return ((ring | stem) * 0.95).astype(np.float32)[None]


def run_command(name: str, out: Path) -> dict:
    from nnscope.cli import main

    model = CHECKPOINT
    if name in SCRIPTED:
        import torch

        from nnscope.model import load_model

        model = out / "scripted.pt"
        torch.jit.save(torch.jit.trace(load_model(CHECKPOINT), torch.zeros(1, 1, 28, 28)), model)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main([*COMMANDS[name], "--model", str(model), "--json", "--out", str(out)])
    assert code == 0, stdout.getvalue()[-2000:]
    return json.loads(stdout.getvalue())


def served_analysis() -> dict:
    """POST /api/analyze of the fixed drawing, patch 6, stride 2, fill 0.2, on the checkpoint's page."""
    from starlette.testclient import TestClient

    from nnscope.models import load_model
    from nnscope.serve import create_app

    app = create_app(load_model(CHECKPOINT), warm_up=False)
    with TestClient(app) as client:
        response = client.post("/api/analyze", json={"image": drawing()[0].tolist(), "patch": 6, "stride": 2,
                                                       "fill": 0.2})
    assert response.status_code == 200, response.text
    answer = response.json()
    answer.pop("seconds")
    return answer


NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")
SENTENCES = {"finding", "text"}  # wording may change; every number they state must still be stated, in order


def numbers_kept(golden: list[str], now: list[str]) -> bool:
    """Whether the numbers of the golden sentences appear, in order, among those of today's."""
    left = iter(NUMBER.findall(" ".join(now)))
    return all(any(n == m for m in left) for n in NUMBER.findall(" ".join(golden)))


def compare(golden, now, where: str = "") -> list[str]:
    """Every difference between a golden JSON value and today's, beyond float rounding (keys may be added)."""
    if where.rpartition(".")[2] in SENTENCES and isinstance(golden, list) and isinstance(now, list):
        return [] if numbers_kept(golden, now) else [f"{where}: {now}, expected the numbers of {golden}"]
    if isinstance(golden, dict):
        if not isinstance(now, dict):
            return [f"{where}: a {type(now).__name__}, expected an object"]
        return [d for key, value in golden.items() if key not in VOLATILE
                for d in (compare(value, now[key], f"{where}.{key}") if key in now else [f"{where}.{key}: missing"])]
    if isinstance(golden, list):
        if not isinstance(now, list) or len(now) != len(golden):
            return [f"{where}: {len(now) if isinstance(now, list) else now!r} entries, expected {len(golden)}"]
        return [d for k, (g, n) in enumerate(zip(golden, now)) for d in compare(g, n, f"{where}[{k}]")]
    if isinstance(golden, float) and isinstance(now, (int, float)) and not isinstance(now, bool):
        return [] if math.isclose(golden, now, rel_tol=TOLERANCE, abs_tol=TOLERANCE) else [f"{where}: {now}, expected {golden}"]
    return [] if golden == now else [f"{where}: {now!r}, expected {golden!r}"]


def golden(name: str):
    return json.loads((GOLDEN / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_json_keeps_its_golden_numbers(name, tmp_path):
    differences = compare(golden(name), run_command(name, tmp_path))
    assert not differences, "\n".join(differences[:20])


def test_live_page_analysis_keeps_its_golden_numbers():
    differences = compare(golden("serve_analyze"), served_analysis())
    assert not differences, "\n".join(differences[:20])


def test_compare_finds_a_changed_number_a_missing_key_and_ignores_rounding():
    assert compare({"a": [0.5, 1]}, {"a": [0.5 + 1e-6, 1], "b": 2}) == []
    assert compare({"a": [0.5, 1]}, {"a": [0.51, 1]}) == [".a[0]: 0.51, expected 0.5"]
    assert compare({"a": 1, "seconds": 3.0}, {"seconds": 9.0}) == [".a: missing"]
    assert compare({"finding": ["3 of 21 positions"]}, {"finding": ["In 3 cases of 21 positions.", "2 more."]}) == []
    assert compare({"finding": ["3 of 21"]}, {"finding": ["4 of 21"]}) != []


if __name__ == "__main__":
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    wanted = sys.argv[1:] or [*sorted(COMMANDS), "serve_analyze"]  # the names to regenerate
    for name in wanted:
        with tempfile.TemporaryDirectory() as folder:
            answer = served_analysis() if name == "serve_analyze" else run_command(name, Path(folder))
        for success in answer.get("successes", []):  # the pasted pictures follow from donor and place: not kept
            success.pop("adversarial_image", None)
        (GOLDEN / f"{name}.json").write_text(json.dumps(answer, indent=1) + "\n")
