"""Honest numbers: what the page shows is what results.json holds, and results.json holds what the
commands print with --json for the same checkpoint."""

import json
from html.parser import HTMLParser

import pytest

from nnscope.cli import main
from nnscope.model import read_checkpoint
from nnscope.report.page import format_number, lookup

pytestmark = pytest.mark.slow


class NumberSpans(HTMLParser):
    """Collects (key, fmt, text) of every <span class="num" data-key data-fmt> of a page."""

    def __init__(self):
        super().__init__()
        self.spans, self._open = [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "span" and attrs.get("class") == "num":
            self._open = [attrs["data-key"], attrs["data-fmt"], ""]

    def handle_data(self, data):
        if self._open is not None:
            self._open[2] += data

    def handle_endtag(self, tag):
        if tag == "span" and self._open is not None:
            self.spans.append(tuple(self._open))
            self._open = None


def page_numbers(out) -> list[tuple[str, str, str]]:
    parser = NumberSpans()
    parser.feed((out / "index.html").read_text())
    return parser.spans


def command_json(capsys, *argv) -> dict:
    """Run `nnscope ARGV --json` in this process and parse its one JSON document."""
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def assert_same(a, b, where="") -> None:
    """Equal structures; floats equal to 1e-12 relative (both sides went through JSON)."""
    if isinstance(a, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(set(a) ^ set(b))} differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{where}: lengths {len(a)} and {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}.{i}")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), f"{where}: {a} != {b}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def test_every_number_on_the_page_is_the_one_in_results_json(quick_report):
    out, _ = quick_report
    results = json.loads((out / "results.json").read_text())
    spans = page_numbers(out)
    assert len(spans) >= 20
    for key, fmt, text in spans:
        assert format_number(lookup(results, key), fmt) == text.strip(), key
    shown = {key.split(".")[1] for key, _, _ in spans if key.startswith("sections.")}
    for name, section in results["sections"].items():
        if section["available"]:
            assert name in shown, f"the page shows no number of the '{name}' section"


def test_training_numbers_are_the_checkpoints(quick_report, trained_checkpoint):
    out, _ = quick_report
    training = json.loads((out / "results.json").read_text())["sections"]["training"]
    metrics = read_checkpoint(trained_checkpoint)["metrics"]
    for key in ("train_accuracy", "test_accuracy", "seconds", "parameters", "conv_layers", "epochs"):
        assert training[key] == metrics[key], key
    assert_same(training["history"], json.loads(json.dumps(metrics["history"])))


def test_problem1_numbers_match_the_commands(quick_report, trained_checkpoint, tmp_path, capsys):
    out, _ = quick_report
    sections = json.loads((out / "results.json").read_text())["sections"]
    common = ["--checkpoint", str(trained_checkpoint), "--out", str(tmp_path)]
    if sections["filters"]["available"]:
        printed = command_json(capsys, "filters", *common)
        layers = {name: {k: v for k, v in layer.items() if k != "figure"} for name, layer in printed["layers"].items()}
        assert_same(sections["filters"]["layers"], layers, "filters")
        assert sections["filters"]["answer"] == printed["description"]
    if sections["shift"]["available"]:
        printed = command_json(capsys, "shift", "--no-sweep", *common)
        for key in ("index", "digit", "pixels", "padding", "changed", "original", "left", "right"):
            assert_same(sections["shift"][key], printed[key], f"shift.{key}")
        slider = sections["shift"]["slider"]
        middle = slider["shifts"].index(0)
        assert slider["probabilities"][middle] == printed["original"]["probabilities"]
        for side, dx in (("left", -3), ("right", 3)):
            assert slider["probabilities"][slider["shifts"].index(dx)] == printed[side]["probabilities"]
    if sections["featuremaps"]["available"]:
        printed = command_json(capsys, "featuremaps", "--draws", "1", *common)
        assert_same(sections["featuremaps"]["examples"], printed["examples"], "featuremaps.examples")
        assert sections["featuremaps"]["layer"] == printed["layer"]


def without(d: dict, *keys) -> dict:
    """`d` without `keys` and without what only the report adds (answer, figures, timing, cache key)."""
    drop = set(keys) | {"answer", "figures", "available", "seconds", "key", "reused"}
    return {k: v for k, v in d.items() if k not in drop}


def test_recurrent_numbers_match_the_commands(quick_report, capsys):
    out, _ = quick_report
    sections = json.loads((out / "results.json").read_text())["sections"]
    for name in ("rnn", "lstm"):
        if sections[name]["available"]:
            assert_same(without(sections[name]), command_json(capsys, name), name)
    if sections["rnn"]["available"]:  # and they are MISSION.md's reference figures
        assert sections["rnn"]["loss"] == pytest.approx(3.007207986556634, abs=1e-12)
        assert sections["rnn"]["loss_after_step"] == pytest.approx(3.00683079577, abs=1e-11)


def test_problem2_sections_are_what_run_occlusion_and_run_attack_return(quick_report, trained_model, mnist):
    # the command calls the same functions with its options: one comparison per stage is enough
    from nnscope.fileio import to_jsonable
    from nnscope.report.stages import STAGES
    from nnscope.threads import one_thread
    from nnscope.vision.attack import run_attack
    from nnscope.vision.occlusion import run_occlusion

    out, _ = quick_report
    sections = json.loads((out / "results.json").read_text())["sections"]
    stages = {stage.name: stage for stage in STAGES}
    for name, run in (("occlusion", run_occlusion), ("transplant", run_attack)):
        assert stages[name].run is run
        if not sections[name]["available"]:
            continue
        with one_thread():  # as the report runs its stages beside the detached one: forward passes round alike
            expected = json.loads(json.dumps(to_jsonable(run(trained_model, mnist, stages[name].quick))))
        assert_same(without(sections[name]), without(expected), name)
    occlusion = sections["occlusion"]
    if occlusion["available"]:
        assert occlusion["aggregate"]["images"] == stages["occlusion"].quick.images
        assert occlusion["explorer"]["image"] == mnist.test_images[occlusion["index"]].tolist()
        assert occlusion["explorer"]["probabilities"] == occlusion["probabilities"]
    transplant = sections["transplant"]
    if transplant["available"]:  # the report keeps the pictures of the drawn examples only
        assert transplant["rate"]["images"] == stages["transplant"].quick.images
        assert [k for k, s in enumerate(transplant["successes"]) if "adversarial_image" in s] == transplant["examples"]


def test_longseq_numbers_match_the_command(quick_report, tmp_path, capsys):
    from nnscope.report.sections_recurrent import longseq_config

    out, _ = quick_report
    section = json.loads((out / "results.json").read_text())["sections"]["longseq"]
    if not section["available"]:
        pytest.skip("the long-sequence study is not in this build")
    c = longseq_config(quick=True, seed=0)
    printed = command_json(
        capsys, "longseq", "--out", str(tmp_path), "--lengths", *map(str, c.lengths), "--distances", *map(str, c.distances),
        "--radii", *map(str, c.spectral_radii), "--forget-biases", *map(str, c.forget_biases), "--hidden", str(c.hidden),
        "--train-count", str(c.train_count), "--test-count", str(c.test_count), "--updates", str(c.budget.updates))
    assert_same(section["config"], printed["config"], "longseq.config")
    assert_same(section["gradients"], printed["gradients"], "longseq.gradients")
    assert_same(section["esn"], printed["esn"], "longseq.esn")
    for kind in ("rnn", "lstm"):
        for mine, theirs in zip(section["trained"][kind], printed["trained"][kind]):
            assert_same(without(mine), without(theirs), f"longseq.trained.{kind}")
    assert section["answers"] == printed["answers"]
