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


def test_problem1_stages_call_the_entry_points_with_the_report_options():
    """The stage and the command call one function; what differs is only the options, written here once."""
    from nnscope.options.featuremaps import FeatureMapsOptions
    from nnscope.options.filters import FiltersOptions
    from nnscope.options.shift import ShiftOptions
    from nnscope.analyses import run_featuremaps, run_filters, run_shift
    from nnscope.report.stages import STAGES

    stages = {s.name: s for s in STAGES}
    assert stages["filters"].run is run_filters and stages["filters"].options_for(False, 0) == FiltersOptions()
    assert stages["featuremaps"].run is run_featuremaps
    assert stages["featuremaps"].options_for(False, 3) == FeatureMapsOptions(seed=3)  # the whole test set
    assert stages["featuremaps"].options_for(True, 0) == FeatureMapsOptions(limit=1000)
    assert stages["shift"].run is run_shift
    assert stages["shift"].options_for(False, 0) == ShiftOptions(sweep_images=2000, slider=6)  # slider -6..+6 px
    assert stages["shift"].options_for(True, 0) == ShiftOptions(sweep_images=300, slider=6)


def test_problem1_sections_are_what_the_entry_points_return(quick_report, trained_loaded, mnist_test):
    """results.json holds what run_<analysis> returns for the stage's options (the cheap parts recomputed)."""
    import torch

    from nnscope.report.stages import STAGES

    out, _ = quick_report
    sections = json.loads((out / "results.json").read_text())["sections"]
    stages = {s.name: s for s in STAGES}
    # the report ran these stages on one thread, beside the detached long-sequence stage; float32 sums in another
    # order differ in the 9th digit, so recompute on one thread too and compare to 1e-12
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        recomputed_sections_agree(sections, stages, trained_loaded, mnist_test)
    finally:
        torch.set_num_threads(threads)


def recomputed_sections_agree(sections: dict, stages: dict, model, data) -> None:
    """The Problem 1 sections of results.json against run_<analysis> recomputed now."""
    from dataclasses import replace

    from nnscope.analyses import run_featuremaps, run_filters, run_shift
    from nnscope.options.featuremaps import FeatureMapsOptions

    if sections["filters"]["available"]:
        mine = run_filters(model, data).to_json()
        layers = {name: {k: v for k, v in layer.items() if k != "figure"} for name, layer in sections["filters"]["layers"].items()}
        assert_same(layers, mine["layers"], "filters")
        assert sections["filters"]["answer"] == sections["filters"]["finding"] == mine["finding"]
    if sections["shift"]["available"]:
        options = replace(stages["shift"].options_for(True, 0), sweep=False)  # the sweep is tested in test_shift
        mine = run_shift(model, data, options).to_json()
        for key in ("index", "digit", "pixels", "padding", "changed", "first_change", "original", "left", "right", "slider"):
            assert_same(sections["shift"][key], mine[key], f"shift.{key}")
        assert sections["shift"]["sweep"]["images"] == 300 and sections["shift"]["answer"] == sections["shift"]["finding"]
    if sections["featuremaps"]["available"]:
        mine = run_featuremaps(model, data, FeatureMapsOptions(limit=1000, draws=1)).to_json()
        assert_same(sections["featuremaps"]["examples"], mine["examples"], "featuremaps.examples")
        assert sections["featuremaps"]["limit"] == 1000 and sections["featuremaps"]["layer"] == "conv3"


def without(d: dict, *keys) -> dict:
    """`d` without `keys` and without what only the report adds (answer, figures, timing, cache key)."""
    drop = set(keys) | {"answer", "figures", "available", "seconds", "key", "reused"}
    return {k: v for k, v in d.items() if k not in drop}


def test_recurrent_sections_are_what_their_entry_points_return(quick_report):
    """The report calls run_rnn / run_lstm, as the commands do: the section is that result plus the timing."""
    from nnscope.fileio import to_jsonable
    from nnscope.report.stages import STAGES

    out, _ = quick_report
    sections = json.loads((out / "results.json").read_text())["sections"]
    for stage in (s for s in STAGES if s.name in ("rnn", "lstm")):
        assert sections[stage.name]["available"], stage.name
        expected = to_jsonable(stage.run(None, None, stage.options_for(True, 0)))
        assert_same(without(sections[stage.name], "finding"), without(expected, "finding"), stage.name)
        assert sections[stage.name]["answer"] == sections[stage.name]["finding"] == expected["finding"]
    # and they are MISSION.md's reference figures
    assert sections["rnn"]["loss"] == pytest.approx(3.007207986556634, abs=1e-12)
    assert sections["rnn"]["loss_after_step"] == pytest.approx(3.00683079577, abs=1e-11)


def test_problem2_sections_are_what_run_occlusion_and_run_attack_return(quick_report, trained_checkpoint, mnist):
    # the command calls the same functions with its options: one comparison per stage is enough
    from nnscope.fileio import to_jsonable
    from nnscope.labelled_data import labelled_test_set
    from nnscope.models import load_model
    from nnscope.analyses import run_attack, run_occlusion
    from nnscope.report.stages import STAGES
    from nnscope.threads import one_thread

    out, _ = quick_report
    sections = json.loads((out / "results.json").read_text())["sections"]
    stages = {stage.name: stage for stage in STAGES}
    loaded = load_model(trained_checkpoint)  # as the report loads it
    for name, run in (("occlusion", run_occlusion), ("transplant", run_attack)):
        assert stages[name].run is run
        if not sections[name]["available"]:
            continue
        with one_thread():  # as the report runs its stages beside the detached one: forward passes round alike
            result = run(loaded, labelled_test_set(mnist), stages[name].quick)
            expected = json.loads(json.dumps(to_jsonable(result.as_dict())))
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


def test_longseq_section_is_the_short_study_and_its_answers_are_built_from_it(quick_report):
    """The detached stage ran run_longseq on SHORT_STUDY (that the command maps the same values to the same
    options is tested in tests/recurrent); its sentences are those the findings write from its numbers."""
    from dataclasses import asdict

    from nnscope.fileio import to_jsonable
    from nnscope.findings.longseq import describe_longseq, longseq_answers
    from nnscope.options.longseq import SHORT_STUDY
    from nnscope.recurrent.longseq_study import study_config

    out, _ = quick_report
    section = json.loads((out / "results.json").read_text())["sections"]["longseq"]
    assert section["available"]
    assert_same(section["config"], to_jsonable(asdict(study_config(SHORT_STUDY))), "longseq.config")
    assert section["answers"] == longseq_answers(section)
    assert section["answer"] == section["finding"] == describe_longseq(section)
    assert [f["file"] for f in section["figures"]] == ["longseq_gradient_norms.png", "longseq_gradient_shares.png",
                                                      "longseq_accuracy.png", "longseq_learning_curves.png"]
    assert all((out / f["file"]).is_file() for f in section["figures"])
