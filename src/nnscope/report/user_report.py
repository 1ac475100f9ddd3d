"""`nnscope report --model SPEC --data DIR`: the whole report on the user's own model.

The model, weights, class-names, image and data files are only read: the report writes into --out
alone. Each stage's key holds the sha256 of every file the model options name (the .py or model file,
--weights, --class-names, --image), the options themselves, a sha256 of the data set as read (pixels,
labels, class names) and the class pair, so a rerun into the same folder reuses every stage, and
changed weights or data run them again.
"""

import hashlib
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from nnscope.errors import NnscopeError
from nnscope.fileio import staged_folder, versions, write_json
from nnscope.models import load_model_image_and_data
from nnscope.models.pyfile import split_python_spec
from nnscope.options.model import ModelOptions
from nnscope.options.report import ReportOptions
from nnscope.outputs import check_output_dir
from nnscope.report.build import (RESULTS_FILE, Event, check_report_folder, file_hash, previous_results, run_stages,
                                  source_hash, stage_key)
from nnscope.report.context import Context
from nnscope.report.page import render_page
from nnscope.report.results_page import write_results_page
from nnscope.report.user_stages import USER_STAGES, UserInputs, checked_pair


def model_files(choice: ModelOptions) -> dict[str, Path]:
    """The user's files the model options name: the model (the .py of FILE.py:NAME), weights, class names, image."""
    python = split_python_spec(choice.spec)
    files = {"model": python[0] if python else Path(choice.spec), "weights": choice.weights,
             "class_names": choice.class_names, "image": choice.image}
    return {name: Path(path) for name, path in files.items() if path is not None}


def model_identity(choice: ModelOptions) -> dict:
    """The model options and the sha256 of each file they name (read once the model has loaded)."""
    return {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(choice).items()},
            "sha256": {name: file_hash(path) for name, path in model_files(choice).items()}}


def data_identity(data) -> dict | None:
    """Where the data set came from, its size and a sha256 of what was read: pixels, labels, class names."""
    if data is None:
        return None
    digest = hashlib.sha256()
    for array in (data.images, data.labels):
        digest.update(str(array.dtype).encode() + str(array.shape).encode() + np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps(list(data.class_names)).encode())
    return {"source": data.source, "images": int(len(data.labels)), "input_shape": list(data.input_shape),
            "class_names": list(data.class_names), "sha256": digest.hexdigest()}


def inside(path: Path, folder: Path) -> bool:
    """Whether `path` is `folder` or lies under it."""
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def check_user_paths(out: Path, choice: ModelOptions, data_path) -> None:
    """Before any work: --out can hold the page, and writing it can touch none of the user's files."""
    check_output_dir("--out", out)
    check_report_folder(out)
    if data_path is not None and inside(out, Path(data_path)):
        raise NnscopeError(f"--out: {out} is inside --data {data_path}; the report never writes into your data, "
                           "give another folder")
    for name, path in model_files(choice).items():
        if path.exists() and inside(path, out):
            raise NnscopeError(f"--out: {out} holds your {name.replace('_', ' ')} file {path}; the report writes "
                               "into --out and never beside your files, give another folder")


def load_inputs(choice: ModelOptions, data_path, classes) -> tuple:
    """(LoadedModel, UserInputs): the model checked, --image read, --data read in the model's channels, the
    class pair checked against the data; any bad input is one line (NnscopeError)."""
    loaded, image, data = load_model_image_and_data(choice, data_path)
    return loaded, UserInputs(data=data, image=image, pair=checked_pair(data, classes))


def build_user_report(out: str | Path, choice: ModelOptions, data_path=None, classes=None,
                      options: ReportOptions = ReportOptions(), fresh: bool = False,
                      on_event: Event | None = None) -> dict:
    """The report on the model `choice` names, with --data at `data_path` and the class pair `classes`
    (names or indices; default the data's first two): write results.json, index.html and results.md in `out`
    and return a summary."""
    on_event = on_event or (lambda event: None)
    out = Path(out)
    options = replace(options, recipe=ReportOptions.recipe)  # no training here: the recipe plays no part
    check_user_paths(out, choice, data_path)
    # built in a staging copy of --out, published whole when done (see nnscope.report.build)
    with staged_folder(out, "--out", ours=lambda folder: bool(previous_results(folder))) as staging:
        summary = build_user_in(staging, choice, data_path, classes, options, fresh, on_event)
    return {**summary, "out": str(out), "page": str(out / Path(summary["page"]).name),
            "results": str(out / RESULTS_FILE), "results_page": str(out / Path(summary["results_page"]).name)}


def build_user_in(out: Path, choice: ModelOptions, data_path, classes, options: ReportOptions, fresh: bool,
                  on_event: Event) -> dict:
    """The report on the user's model built in the folder `out` (the staging copy of --out); its summary."""
    start = time.perf_counter()
    loaded, inputs = load_inputs(choice, data_path, classes)
    names = loaded.class_names
    identity = {"model": model_identity(choice), "data": data_identity(inputs.data),
                "classes": None if inputs.pair is None else [names[k] for k in inputs.pair]}
    identity_sha = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    ctx = Context(out=out, data=inputs, model=loaded, checkpoint=None, seed=options.seed, quick=options.quick)
    code = source_hash()
    keys = {stage.name: stage_key(stage, options, identity_sha, code) for stage in USER_STAGES}
    before = {} if fresh else previous_results(out).get("sections", {})
    sections = run_stages(ctx, keys, before, on_event, USER_STAGES)
    results = {
        "title": "nnscope report",
        "kind": "model",  # the report on a given model (the default report has no 'kind')
        "options": asdict(options),
        "model": {**identity["model"], "source": loaded.source, "format": loaded.format},
        "data": identity["data"],
        "classes": identity["classes"],
        "key": identity_sha,
        "versions": versions(),
        "sections": sections,
    }
    results["seconds"] = time.perf_counter() - start
    write_json(out / RESULTS_FILE, results)
    page = render_page(results, out)
    results_page = write_results_page(results, out, RESULTS_FILE)
    accuracy = sections["model"].get("accuracy")
    return {
        "out": str(out), "page": str(page), "results": str(out / RESULTS_FILE), "results_page": str(results_page),
        "seconds": time.perf_counter() - start, "model": loaded.source,
        "accuracy": None if accuracy is None else accuracy["accuracy"],
        "stages": {name: {"available": s["available"], "reused": s.get("reused", False),
                          "seconds": s.get("seconds", 0.0), **({} if s["available"] else {"reason": s["reason"]})}
                   for name, s in sections.items()},
    }
