"""docs/tutorial.ipynb executed top to bottom by nbclient on a real ipykernel, on the session's checkpoint:
no cell may fail, and what it shows equals what the report computes for the same checkpoint. The report's
numbers come from its own stage runner (`report.build.run_stage`, the code that fills results.json) with the
quick report's options, for the stages that take seconds; building the whole quick report here would double
the test's time."""

import html
import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbclient")
pytest.importorskip("anywidget")

pytestmark = pytest.mark.slow

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.ipynb"
COMPARED = ("filters", "shift", "occlusion", "rnn", "lstm")  # the report's stages checked number by number
# the last cell the test adds: the tutorial's results as the report would store them
DUMP = """
import json
from nnscope.fileio import to_jsonable
print("NNSCOPE-RESULTS " + json.dumps(to_jsonable({"filters": filters, "shift": shifted, "occlusion": occluded,
                                                  "rnn": rnn, "lstm": lstm})))
"""


def outputs_text(notebook) -> str:
    """Everything the cells printed or showed, as text (HTML unescaped)."""
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            data = output.get("data", {})
            parts.append(html.unescape(data.get("text/html", "")))
            parts.append(data.get("text/plain", ""))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def executed(trained_checkpoint, tmp_path_factory, monkeypatch_module):
    """The tutorial run in a fresh folder on the session's checkpoint: (notebook, its results as JSON)."""
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("tutorial")
    notebook = nbformat.read(TUTORIAL, as_version=4)
    parameters = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1, "the tutorial has one cell tagged 'parameters'"
    parameters[0].source = f"CHECKPOINT = {str(trained_checkpoint)!r}"
    notebook.cells.append(nbformat.v4.new_code_cell(DUMP))
    # the kernel's torch on as many threads as this process's, which computes the report's side: another count
    # (OMP_NUM_THREADS or MKL_NUM_THREADS in the environment, say) sums in another order, and the occlusion's
    # mean drops differ in the 8th digit
    import torch

    notebook.cells.insert(0, nbformat.v4.new_code_cell(f"import torch\ntorch.set_num_threads({torch.get_num_threads()})"))
    # the kernel imports this nnscope, wherever the tests import it from
    source_root = str(Path(__import__("nnscope").__file__).resolve().parents[1])
    monkeypatch_module.setenv("PYTHONPATH", os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])))
    NotebookClient(notebook, timeout=600, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(folder)}}).execute()
    last = notebook.cells[-1].outputs[0]["text"]
    results = json.loads(last[last.index("NNSCOPE-RESULTS ") + len("NNSCOPE-RESULTS "):])
    yield notebook, results, folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def report_sections(trained_checkpoint, mnist, tmp_path_factory):
    """The sections the quick report stores in results.json for COMPARED, from the report's stage runner."""
    from nnscope import labelled_test_set, load_model
    from nnscope.report.build import run_stage
    from nnscope.report.context import Context
    from nnscope.report.stages import STAGES

    ctx = Context(out=tmp_path_factory.mktemp("report"), data=labelled_test_set(mnist),
                  model=load_model(trained_checkpoint), checkpoint=trained_checkpoint, seed=0, quick=True)
    return {stage.name: run_stage(stage, ctx, on_event=lambda event: None) for stage in STAGES if stage.name in COMPARED}


def test_every_cell_runs_and_every_step_shows_something(executed):
    notebook, _, _ = executed
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.get("execution_count") for cell in code)
    results = ("filters", "maps", "shifted", "occluded", "attack", "rnn", "longseq", "lstm", "run_layers(mine)")
    widgets = ("Draw(", "pad", "OcclusionExplorer(", "ShiftSlider(", "FeatureMapBrowser(", "RecurrentExplorer(")
    last_lines = [cell.source.strip().splitlines()[-1] for cell in code]
    assert [line for line in last_lines if line in results] == list(results)  # each result shows itself
    steps = [cell for cell, line in zip(code, last_lines) if line in results or line.startswith(widgets)]
    assert len(steps) == 16  # 9 results, 5 widgets on them, 2 pads
    for cell in steps:
        kinds = {kind for output in cell.outputs for kind in output.get("data", {})}
        assert kinds & {"text/html", "application/vnd.jupyter.widget-view+json"}, f"this step shows nothing:\n{cell.source}"


def test_the_numbers_equal_the_report_s(executed, report_sections):
    _, results, _ = executed
    for name in COMPARED:
        assert results[name]["finding"] == report_sections[name]["finding"], name
    occlusion, section = results["occlusion"], report_sections["occlusion"]
    assert occlusion["index"] == section["index"]
    assert occlusion["which_parts_matter"] == section["which_parts_matter"]
    assert occlusion["probabilities"] == section["probabilities"]
    assert occlusion["aggregate"]["mean_true_class_probability"] == section["aggregate"]["mean_true_class_probability"]
    assert results["shift"]["slider"]["probabilities"] == report_sections["shift"]["slider"]["probabilities"]
    assert results["shift"]["sweep"] == report_sections["shift"]["sweep"]
    assert results["rnn"]["grads"] == report_sections["rnn"]["grads"]
    assert results["lstm"]["bias_choice"] == report_sections["lstm"]["bias_choice"]


def test_the_sentences_it_shows_are_the_report_s(executed, report_sections):
    notebook, _, _ = executed
    shown = outputs_text(notebook)
    for name in COMPARED:
        for sentence in report_sections[name]["finding"][:3]:  # the first three are on show, the rest folded
            assert sentence in shown, f"{name}: {sentence}"


def test_the_saved_widgets_carry_the_analyses_numbers(executed):
    """The widget state saved in the notebook (what a reopened notebook shows without a kernel)."""
    notebook, results, _ = executed
    saved = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    kinds = {}
    for model in saved.values():
        state = model.get("state", {})
        if state.get("kind"):
            kinds.setdefault(state["kind"], []).append(state)
    assert sorted((kind, len(states)) for kind, states in kinds.items()) == [
        ("bptt", 2), ("draw", 2), ("fmaps", 1), ("occlusion", 1), ("shift", 1)]
    assert kinds["occlusion"][0]["data"]["probabilities"] == results["occlusion"]["probabilities"]
    assert kinds["shift"][0]["data"]["predictions"] == results["shift"]["slider"]["predictions"]
    assert [draw["config"]["classes"] for draw in kinds["draw"]] == [[str(k) for k in range(10)]] * 2
    assert [graph["data"]["network"] for graph in kinds["bptt"]] == ["rnn", "lstm"]
