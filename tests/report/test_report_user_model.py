"""`nnscope report --model FILE.py:NAME --weights W --data DIR` on a model nnscope did not train (tests/user_nets.py):
the one report path, with a model section instead of training."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import user_nets  # tests/user_nets.py: tests/ is on the path (no __init__.py there)

from nnscope.cli import main
from nnscope.options.model import ModelOptions
from nnscope.options.report import ReportOptions
from nnscope.report.page import format_number, lookup
from nnscope.report.build import build_report
from .test_report_numbers import page_numbers

CLASSES = ("cat", "dog", "eel")
FIRST_CONVS = ["stem", "layer1.conv_a", "layer1.conv_b"]  # ResidualNet's first three Conv2d in forward order
MODEL_STAGES = ("model", "filters", "featuremaps", "shift", "occlusion")
SHARED_STAGES = ("rnn", "longseq", "lstm")


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> dict:
    """The user's files: nets.py, two weight files (B: class 'cat' always wins), an ImageFolder of 3 classes x 6
    RGB 3 x 30 x 26 PNGs, and the sha256 of all of them before any report."""
    root = tmp_path_factory.mktemp("user")
    shutil.copy(Path(user_nets.__file__), root / "nets.py")
    data = user_nets.write_image_folder(root / "data", CLASSES, 6)
    torch.save(trained(data), root / "a.pt")
    state = torch.load(root / "a.pt", weights_only=True)
    state["fc.bias"] = state["fc.bias"] + torch.tensor([100.0, 0, 0, 0, 0])
    torch.save(state, root / "b.pt")
    return {"root": root, "spec": f"{root}/nets.py:ResidualNet", "data": root / "data", "before": digests(root)}


def read_folder(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 3, 30, 26) float32 in [0, 1], labels) of the ImageFolder, read with PIL in sorted order."""
    images, labels = [], []
    for k, name in enumerate(sorted(CLASSES)):
        for path in sorted((data / name).iterdir()):
            images.append(np.asarray(Image.open(path), np.float32).transpose(2, 0, 1) / 255)
            labels.append(k)
    return np.stack(images), np.array(labels)


def trained(data: Path) -> dict:
    """ResidualNet's state dict after 60 seeded Adam steps on the folder (so that it gets images right)."""
    torch.manual_seed(0)
    net = user_nets.ResidualNet()
    images, labels = (torch.from_numpy(a) for a in read_folder(data))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(60):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()
    return net.state_dict()


def independent_predictions(user: dict, weights: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels, argmax predictions) of the data, read with PIL and run through the module directly."""
    net = user_nets.ResidualNet()
    net.load_state_dict(torch.load(user["root"] / weights, weights_only=True))
    net.eval()
    images, labels = read_folder(user["data"])
    with torch.no_grad():
        predicted = net(torch.from_numpy(images)).argmax(1).numpy()
    return labels, predicted


def build(user: dict, out: Path, weights: str | None = "a.pt", data: bool = True, **choice) -> dict:
    """The quick report on the user's model in this process; its summary."""
    options = ModelOptions(spec=user["spec"], weights=None if weights is None else user["root"] / weights, **choice)
    return build_report(out, ReportOptions(quick=True), options, user["data"] if data else None)


@pytest.fixture(scope="module")
def report(user, tmp_path_factory) -> tuple[Path, dict, dict]:
    """(folder, --json summary, results.json) of `nnscope report --model ... --data ... --quick` in a new process."""
    out = tmp_path_factory.mktemp("user_report") / "report"
    argv = [sys.executable, "-m", "nnscope", "report", "--model", user["spec"], "--weights", str(user["root"] / "a.pt"),
            "--data", str(user["data"]), "--quick", "--out", str(out), "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ}, timeout=600)
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout), json.loads((out / "results.json").read_text())


def test_the_page_and_results_use_the_models_layer_and_class_names(report):
    out, summary, results = report
    page = (out / "index.html").read_text()
    s = results["sections"]
    assert list(s) == [*MODEL_STAGES, "transplant", "rnn", "longseq", "lstm"]  # the model section, not training
    assert list(s["filters"]["layers"]) == FIRST_CONVS
    assert s["featuremaps"]["layer"] == "layer1.conv_b" and s["featuremaps"]["pair"] == [0, 1]
    # no --classes: the options' defaults on data that is not MNIST, the first two classes and the first one studied
    assert results["classes"] is None and s["shift"]["label"] == 0 and s["occlusion"]["label"] == 0
    assert s["occlusion"]["which_parts_matter"]["split"] == "grid 3 x 3"
    for name in FIRST_CONVS + ["layer2.shortcut.0"]:
        assert f"<code>{name}</code>" in page
    assert "which channels tell 'cat' from 'dog'?" in page and "grid 3 x 3" in page
    # the layers table: every named module with its own parameters, which add up to the total
    net = user_nets.ResidualNet()
    modules = [(n, m) for n, m in net.named_modules() if n]
    rows = s["model"]["layers"]
    assert [(r["name"], r["type"]) for r in rows] == [(n, type(m).__name__) for n, m in modules]
    assert [r["parameters"] for r in rows] == [sum(p.numel() for p in m.parameters(recurse=False)) for _, m in modules]
    assert s["model"]["parameters"] == sum(p.numel() for p in net.parameters()) == sum(r["parameters"] for r in rows)
    assert rows[0]["output_shape"] == [8, 30, 26] and s["model"]["input_shape"] == [3, 30, 26]
    # every number on the page is the one in results.json
    spans = page_numbers(out)
    assert len(spans) >= 50
    for key, fmt, text in spans:
        assert format_number(lookup(results, key), fmt) == text.strip(), key
    assert s["transplant"]["available"], s["transplant"].get("reason")
    assert s["transplant"]["class_names"][:3] == list(CLASSES) and s["transplant"]["image_shape"] == [3, 30, 26]
    assert summary["stages"]["filters"]["available"] and not summary["stages"]["filters"]["reused"]


def test_the_accuracy_is_an_independent_argmax_over_the_data(report, user):
    _, summary, results = report
    labels, predicted = independent_predictions(user, "a.pt")
    accuracy = results["sections"]["model"]["accuracy"]
    assert accuracy["images"] == 18 and accuracy["correct"] == int((predicted == labels).sum()) > 0
    assert accuracy["accuracy"] == pytest.approx((predicted == labels).mean()) == summary["accuracy"]
    assert [c["correct"] for c in accuracy["per_class"]] == [int((predicted[labels == k] == k).sum()) for k in range(3)]


def test_a_rerun_reuses_every_stage_with_the_same_numbers(report, user, tmp_path):
    out, _, first = report
    again = tmp_path / "again"
    shutil.copytree(out, again)
    summary = build(user, again)
    assert all(summary["stages"][name]["reused"] for name in (*MODEL_STAGES, *SHARED_STAGES))
    second = json.loads((again / "results.json").read_text())
    for name in MODEL_STAGES:
        strip = lambda section: {k: v for k, v in section.items() if k != "reused"}  # noqa: E731
        assert strip(second["sections"][name]) == strip(first["sections"][name])


def test_changed_weights_run_the_model_stages_again(report, user, tmp_path):
    out, _, _ = report
    other = tmp_path / "other"
    shutil.copytree(out, other)
    summary = build(user, other, weights="b.pt")
    assert not any(summary["stages"][name]["reused"] for name in MODEL_STAGES)
    assert all(summary["stages"][name]["reused"] for name in SHARED_STAGES)  # they need neither model nor data
    labels, predicted = independent_predictions(user, "b.pt")
    assert (predicted == 0).all()  # the +100 bias of 'cat'
    assert summary["accuracy"] == pytest.approx(1 / 3) == pytest.approx((predicted == labels).mean())


def test_without_data_the_parts_that_need_it_are_skipped_with_a_line(report, user, tmp_path):
    out, _, _ = report
    bare = tmp_path / "bare"
    shutil.copytree(out, bare)
    summary = build(user, bare, data=False, input_shape=(3, 30, 26))
    results = json.loads((bare / "results.json").read_text())
    page = (bare / "index.html").read_text()
    assert summary["accuracy"] is None and results["data"] is None
    assert "no --data given: the accuracy against labels was not measured" in page
    for name, reason in (("featuremaps", "the feature maps need an image"), ("shift", "the shift needs an image"),
                         ("occlusion", "give the image to occlude, or a data set to pick it from")):
        assert not summary["stages"][name]["available"] and reason in summary["stages"][name]["reason"]
        assert reason in page
    assert summary["stages"]["filters"]["available"] and list(results["sections"]["filters"]["layers"]) == FIRST_CONVS


@pytest.mark.parametrize("argv, words", [
    (["--model", "{d}/nosuch.py:Net"], "nosuch.py"),
    (["--model", "{d}/nets.py:ResidualNet", "--weights", "{d}/a.pt", "--data", "{data}", "--classes", "cat", "cow"],
     "--classes: 'cow' is not a class of the data"),
    (["--model", "{d}/nets.py:ResidualNet", "--weights", "{d}/a.pt", "--input-shape", "3", "30", "26", "--classes",
      "cat", "dog"], "--classes: picks two classes of --data"),
    (["--model", "{d}/nets.py:ResidualNet", "--weights", "{d}/a.pt", "--data", "{data}", "--out", "{data}/r"],
     "inside --data"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, user, tmp_path, argv, words):
    argv = [a.replace("{d}", str(user["root"])).replace("{data}", str(user["data"])) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "r")]
    assert main(["report", *argv, "--quick"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not (tmp_path / "r").exists() and not (user["data"] / "r").exists()


def test_the_users_files_are_byte_identical_after_every_report(report, user):
    assert digests(user["root"]) == user["before"]  # none changed, none added beside them
