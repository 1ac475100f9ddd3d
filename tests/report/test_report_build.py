"""The report's stages, caching, page rendering and command line."""

import json
import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from nnscope.cli import main
from nnscope.options.report import ReportOptions
from nnscope.report.build import RESULTS_FILE, run_stage, stage_key
from nnscope.report.context import Context, unavailable
from nnscope.report.page import format_number, lookup, render_page
from nnscope.report.plotting import save_figure
from nnscope.report.stages import STAGES, Stage

ORDER = ["training", "filters", "featuremaps", "shift", "occlusion", "transplant", "rnn", "longseq", "lstm"]


def test_lookup_follows_dotted_keys_into_lists():
    results = {"a": {"b": [{"c": 1.5}, {"c": 2.5}]}}
    assert lookup(results, "a.b.1.c") == 2.5
    with pytest.raises(KeyError):
        lookup(results, "a.x")


@pytest.mark.parametrize("value, fmt, text", [
    (0.99312, "pct2", "99.31%"), (21634, "int", "21,634"), (3.007207986556634, "f11", "3.00720798656"),
    (-0.009961388, "f9", "-0.009961388"), (12.345, "s1", "12.3 s"), ("fast", "str", "fast"),
])
def test_formats(value, fmt, text):
    assert format_number(value, fmt) == text


def test_stages_follow_the_assignment_order():
    assert ["training"] + [s.name for s in STAGES] == ORDER


def test_a_stage_runs_its_entry_point_with_the_quick_or_full_options_and_the_report_seed():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Options:
        size: int = 5
        seed: int = 0

    calls = []

    def run_toy(model, data, options, out=None, progress=None):
        calls.append(options)
        progress(1, 1, "")
        return {"size": options.size, "finding": ["measured"], "figures": []}

    stage = Stage("toy", "a toy stage", run=run_toy, options=Options(size=50), quick=Options(size=5))
    ctx = Context(out=Path("."), data=None, model=None, checkpoint=None, seed=7, quick=True)
    events = []
    section = run_stage(stage, ctx, events.append)
    assert calls == [Options(size=5, seed=7)]
    assert section["size"] == 5 and section["answer"] == ["measured"]
    assert [e["status"] for e in events] == ["start", "step", "done"]


def test_stage_key_changes_with_what_changes_the_numbers():
    stage, options = STAGES[0], ReportOptions()
    key = stage_key(stage, options, "sha-a", "code")
    assert key == stage_key(stage, options, "sha-a", "code")
    assert key != stage_key(stage, options, "sha-b", "code")
    assert key != stage_key(stage, ReportOptions(quick=True), "sha-a", "code")
    assert key != stage_key(stage, options, "sha-a", "other code")
    recurrent = next(s for s in STAGES if not s.uses_model)  # does not depend on the CNN
    assert stage_key(recurrent, options, "sha-a", "code") == stage_key(recurrent, options, "sha-b", "code")


def fake_results(out: Path) -> dict:
    """A results dict with a training section and every stage 'not available'."""
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    save_figure(fig, out / "training_curve.png")
    training = {
        "available": True, "reused_checkpoint": True, "recipe": {"name": "fast", "batch_size": 256}, "seed": 0,
        "train_accuracy": 0.991, "test_accuracy": 0.9899, "test_errors": 101, "seconds": 9.87, "device": "cpu",
        "threads": 2, "processes": 1, "parameters": 21634, "conv_layers": 3, "epochs": 1,
        "history": [{"epoch": 1, "loss": 0.25, "seconds": 9.8, "test_accuracy": 0.9899}],
        "layers": [{"name": "conv1", "kind": "conv", "output": [8, 28, 28], "parameters": 72}],
        "loss_curve": [], "answer": ["A sentence."],
        "figures": [{"file": "training_curve.png", "alt": "curve", "caption": "c"}],
    }
    sections = {"training": training}
    sections.update({s.name: unavailable(f"reason for {s.name}") for s in STAGES})
    return {"options": {"recipe": "fast", "seed": 0, "quick": True}, "checkpoint": "runs/x.pt",
            "checkpoint_sha256": "0" * 64, "model": {"spec": "runs/x.pt", "source": "runs/x.pt", "sha256": {"model": "0" * 64}},
            "data": None, "classes": None, "versions": {"nnscope": "0.1.0"}, "sections": sections, "seconds": 1.0}


def test_page_renders_with_every_analysis_missing(tmp_path):
    page = render_page(fake_results(tmp_path), tmp_path).read_text()
    for name in ORDER[1:]:
        assert f"reason for {name}" in page
    assert page.count("Not available in this build.") >= len(STAGES)
    assert 'id="problem1"' in page and 'id="problem5"' in page
    assert "99.31%" not in page and "98.99%" in page  # the test accuracy, as results.json has it
    assert 'src="data:image/png;base64,' in page
    # self-contained: no script, style, image or link that reaches the network
    assert not re.search(r'(src|href)="(https?:)?//', page)
    from nnscope.report.results_page import write_results_page

    text = write_results_page(fake_results(tmp_path), tmp_path).read_text()
    assert all(f"Not computed: reason for {name}" in text for name in ORDER[1:]) and "- A sentence." in text


def test_cli_bad_paths_give_one_line_and_exit_2(tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["report", "--out", str(a_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err and "is a file" in err
    assert main(["report", "--out", str(tmp_path / "r"), "--checkpoint", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--checkpoint" in err and "folder" in err


def test_cli_unknown_recipe_exits_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["report", "--recipe", "nope"])
    assert stop.value.code == 2 and "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_report_writes_page_results_and_figures(quick_report):
    out, summary = quick_report
    results = json.loads((out / RESULTS_FILE).read_text())
    assert list(results["sections"]) == ORDER
    assert summary["reused_checkpoint"], "a checkpoint of the same recipe and seed must be reused, not retrained"
    training = results["sections"]["training"]
    assert training["test_accuracy"] > 0.97 and training["parameters"] > 0
    assert sum(row["parameters"] for row in training["layers"]) == training["parameters"]
    page = (out / "index.html").read_text()
    for name, section in results["sections"].items():
        for record in section.get("figures", []):
            assert (out / record["file"]).is_file() and record["alt"]
        if not section["available"]:
            assert section["reason"] in page


@pytest.mark.slow
def test_rerun_reuses_every_stage_and_gives_the_same_numbers(quick_report, trained_checkpoint):
    out, first = quick_report
    before = json.loads((out / RESULTS_FILE).read_text())
    from nnscope.report.build import build_report

    again = build_report(out, ReportOptions(recipe="fast", quick=True), model=trained_checkpoint)
    after = json.loads((out / RESULTS_FILE).read_text())
    for name, stage in again["stages"].items():
        assert stage["reused"] or not stage["available"], name
    for name in ORDER[1:]:
        drop = lambda s: {k: v for k, v in s.items() if k not in ("reused",)}  # noqa: E731
        assert drop(after["sections"][name]) == drop(before["sections"][name]), name


def test_a_checkpoint_of_another_recipe_is_kept_not_overwritten(tmp_path):
    from nnscope.model import CNN, CNNConfig, save_checkpoint
    from nnscope.report.training import checkpoint_matches, keep_aside
    from nnscope.train import make_recipe, recipe_dict

    path = tmp_path / "mnist_cnn.pt"
    best = recipe_dict(make_recipe("best"))
    save_checkpoint(path, CNN(CNNConfig()), train_config=best, metrics={"dataset": "mnist"}, seed=3)
    assert checkpoint_matches(path, best, 3)
    assert not checkpoint_matches(path, best, 0)
    assert not checkpoint_matches(path, recipe_dict(make_recipe("default")), 3)
    kept = keep_aside(path)
    assert kept == tmp_path / "mnist_cnn.best-seed3.pt" and kept.is_file() and not path.exists()
    assert keep_aside(path) is None  # nothing left to keep
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert keep_aside(tmp_path / "junk.pt") is None and (tmp_path / "junk.pt").exists()


def test_a_kept_checkpoint_is_never_overwritten_and_a_foreign_file_is_refused(tmp_path):
    from nnscope.errors import NnscopeError
    from nnscope.model import CNN, CNNConfig, save_checkpoint
    from nnscope.report.build import check_paths
    from nnscope.report.training import keep_aside
    from nnscope.train import make_recipe, recipe_dict

    path, best = tmp_path / "mnist_cnn.pt", recipe_dict(make_recipe("best"))
    (tmp_path / "mnist_cnn.best-seed3.pt").write_bytes(b"kept earlier")
    (tmp_path / "mnist_cnn.best-seed3.2.pt").write_bytes(b"kept earlier too")
    save_checkpoint(path, CNN(CNNConfig()), train_config=best, metrics={"dataset": "mnist"}, seed=3)
    written = path.read_bytes()
    kept = keep_aside(path)
    assert kept == tmp_path / "mnist_cnn.best-seed3.3.pt" and kept.read_bytes() == written and not path.exists()
    assert (tmp_path / "mnist_cnn.best-seed3.pt").read_bytes() == b"kept earlier"
    assert (tmp_path / "mnist_cnn.best-seed3.2.pt").read_bytes() == b"kept earlier too"
    import torch

    torch.save(CNN().state_dict(), path)  # the user's own weights, not an nnscope checkpoint
    before = path.read_bytes()
    with pytest.raises(NnscopeError, match="--checkpoint: .*mnist_cnn.pt exists and is not a usable nnscope checkpoint"):
        check_paths(tmp_path / "report", path)
    assert path.read_bytes() == before and not (tmp_path / "report").exists()


def test_the_results_page_quotes_every_sections_measured_sentences(quick_report):
    out, summary = quick_report
    results = json.loads((out / RESULTS_FILE).read_text())
    text = (out / "results.md").read_text()
    assert summary["results_page"] == str(out / "results.md")
    for name in ORDER:
        section = results["sections"][name]
        if section.get("available"):
            answer = section["answer"]
            for sentence in (answer.values() if isinstance(answer, dict) else answer):
                assert sentence in text, (name, sentence)
    assert results["checkpoint_sha256"][:12] in text and "quick sizes" in text


def test_the_training_section_trains_as_nnscope_train_does(tmp_path):
    """The report's training section and `nnscope train` (run_train) on the same recipe and seed: the same
    weights and accuracies, and the section's loss curve from the steps it saw."""
    import numpy as np
    import torch

    from nnscope.data import Digits
    from nnscope.model import read_checkpoint
    from nnscope.options.train import TrainOptions
    from nnscope.report.training import train_or_reuse
    from nnscope.train import run_train

    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (700, 28, 28), dtype=np.uint8), rng.integers(0, 10, 700, dtype=np.uint8)
    digits = Digits("mnist", images[:600], labels[:600], images[600:], labels[600:], "random")
    events = []
    section = train_or_reuse(digits, "fast", 5, tmp_path / "report.pt", True, events.append)
    options = TrainOptions(recipe="fast", seed=5, device="cpu", checkpoint=tmp_path / "train.pt")
    metrics = run_train(None, digits, options)
    ours, theirs = read_checkpoint(tmp_path / "report.pt"), read_checkpoint(tmp_path / "train.pt")
    assert ours["state_dict"].keys() == theirs["state_dict"].keys()
    for name, value in ours["state_dict"].items():
        assert torch.equal(value, theirs["state_dict"][name]), name
    for key in ("train_accuracy", "test_accuracy", "epochs"):
        assert section[key] == metrics[key], key
    steps = [e for e in events if e["status"] == "step"]
    assert steps and section["loss_curve"][-1][0] == steps[-1]["completed"] == steps[-1]["total"]
