"""`nnscope report`: train or reuse the CNN (or describe a given model), run every stage, collect
results.json, render the page.

Any model and any labelled data take this one path: nnscope's checkpoint (trained or reused by the
report's recipe and seed: the first section is its training) and the MNIST test set are one case; a
model nnscope did not train (TorchScript, .pt2, FILE.py:NAME + weights) is described instead (its
layers, parameters and accuracy on the data). The model, weights, class-names, image and data files
are only read: the report writes into --out alone (and trains only into an nnscope checkpoint path).

Each stage's result is stored in results.json with a key: the hash of its options, of the model
(the sha256 of every file the model options name), of the data as read (pixels, labels, class
names), of the class pair and of nnscope's source, and with the sha256 of each of its figures. A
rerun reuses every stage whose key and figures still match, so it only renders the page again;
changed weights or data run the stages again, and `fresh=True` retrains and recomputes all. The page
is built in a staging folder beside --out and published whole (renamed over --out) only when every
stage is done: an interrupted or failed run leaves the previous page as it was, and no page ever
mixes two runs.
"""

import contextlib
import hashlib
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from nnscope.data import Digits, load_mnist
from nnscope.errors import NnscopeError
from nnscope.fileio import staged_folder, to_jsonable, versions, write_json
from nnscope.labelled_data import LabelledImages, pick_classes
from nnscope.model import check_checkpoint_target
from nnscope.models import load_model_image_and_data
from nnscope.models.pyfile import split_python_spec
from nnscope.options.model import ModelOptions
from nnscope.options.report import ReportOptions
from nnscope.outputs import check_out_apart_from_data, check_output_dir, inside
from nnscope.paths import DEFAULT_CHECKPOINT
from nnscope.report import training
from nnscope.report.context import Context, skipped
from nnscope.report.page import render_page
from nnscope.report.results_page import write_results_page
from nnscope.report.stages import MODEL_STAGE, STAGES, Stage
from nnscope.results import Result

Event = Callable[[dict], None]  # {'stage', 'title', 'status': start|step|done|reused, ...}
RESULTS_FILE = "results.json"
PAGE_FILE = "index.html"


SOURCE_SUFFIXES = (".py", ".c", ".j2", ".js", ".css")  # the code, the C loops and the page's templates


def source_hash() -> str:
    """sha256 of nnscope's sources (Python, C and the page's templates): a change invalidates stored stages."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def stage_key(stage: Stage, options: ReportOptions, model_sha: str, code: str, ctx: Context | None = None) -> str:
    """The identity of one stage's result: same key, same numbers. `model_sha` stands for the model and the
    data (see inputs_identity)."""
    stage_options = stage_options_for(stage, ctx) if ctx is not None else stage.options_for(options.quick, options.seed)
    parts = {"stage": stage.name, "options": asdict(options), "code": code,
             "stage_options": asdict(stage_options) if stage_options is not None else None,
             "checkpoint": model_sha if stage.uses_model else None}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def previous_results(out: Path) -> dict:
    """The last results.json in `out`, or {} if there is none readable."""
    try:
        results = json.loads((out / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return results if isinstance(results, dict) and isinstance(results.get("sections"), dict) else {}


def reusable(section: dict | None, key: str, out: Path) -> bool:
    """Whether a stored section has this key and all its figures are on disk as that run drew them."""
    return (bool(section) and section.get("key") == key
            and all((out / f["file"]).is_file() and file_hash(out / f["file"]) == f.get("sha256")
                    for f in section.get("figures", [])))


def with_figure_hashes(section: dict, out: Path) -> dict:
    """`section` with the sha256 of each of its figures (as drawn now) beside its file name."""
    for figure in section.get("figures", []):
        if isinstance(figure, dict) and (out / str(figure.get("file", ""))).is_file():
            figure["sha256"] = file_hash(out / figure["file"])
    return section


def model_choice(model: ModelOptions | str | Path) -> ModelOptions:
    """The model options of `model`: options as given, a path as the model file alone."""
    return model if isinstance(model, ModelOptions) else ModelOptions(spec=str(model))


def model_files(choice: ModelOptions) -> dict[str, Path]:
    """The files the model options name: the model (the .py of FILE.py:NAME), weights, class names, image."""
    python = split_python_spec(choice.spec)
    files = {"model": python[0] if python else Path(choice.spec), "weights": choice.weights,
             "class_names": choice.class_names, "image": choice.image}
    return {name: Path(path) for name, path in files.items() if path is not None}


def check_paths(out: Path, model: ModelOptions | str | Path, data_path=None) -> None:
    """Before any work: --out can hold the page and writing it touches none of the given files; the checkpoint
    the report trains into can be written and, if it exists, is an nnscope checkpoint (a file nnscope did not
    write is never replaced)."""
    choice = model_choice(model)
    check_output_dir("--out", out)
    check_report_folder(out)
    check_out_apart_from_data(out, data_path)
    for name, path in model_files(choice).items():
        if path.exists() and inside(path, out):
            raise NnscopeError(f"--out: {out} holds your {name.replace('_', ' ')} file {path}; the report writes "
                               "into --out and never beside your files, give another folder")
    if training.trains(choice):
        check_checkpoint_target("--checkpoint", Path(choice.spec))


def data_identity(data: LabelledImages | None) -> dict | None:
    """Where the data set came from, its size and a sha256 of what was read: pixels, labels, class names."""
    if data is None:
        return None
    digest = hashlib.sha256()
    for array in (data.images, data.labels):
        digest.update(str(array.dtype).encode() + str(array.shape).encode() + np.ascontiguousarray(array).tobytes())
    digest.update(json.dumps(list(data.class_names)).encode())
    return {"source": data.source, "images": int(len(data.labels)), "input_shape": list(data.input_shape),
            "class_names": list(data.class_names), "sha256": digest.hexdigest()}


def model_identity(choice: ModelOptions) -> dict:
    """The model options and the sha256 of each file they name (read once the model has loaded)."""
    return {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(choice).items()},
            "sha256": {name: file_hash(path) for name, path in model_files(choice).items()}}


def checked_pair(data: LabelledImages | None, classes) -> tuple[int, int] | None:
    """The pair of --classes (names or indices of the data), None without; one line when it is not two
    different classes of the data."""
    if classes is None:
        return None
    if data is None:
        raise NnscopeError("--classes: picks two classes of --data; give --data DIR too")
    pair = pick_classes(data.class_names, classes)
    if len(pair) != 2 or pair[0] == pair[1]:
        raise NnscopeError(f"--classes: {' '.join(map(str, classes))}; expected two different classes of the data")
    return tuple(pair)


def stage_options_for(stage: Stage, ctx: Context):
    """The stage's options for this report: quick or full, its seed, the class pair and the images' size."""
    shape = ctx.image.shape if ctx.image is not None else ctx.data.input_shape if ctx.data is not None else None
    return stage.options_for(ctx.quick, ctx.seed, ctx.classes, None if shape is None else min(shape[-2:]))


def check_report_folder(out: Path) -> None:
    """--out is new, empty or a report nnscope wrote: the page replaces the whole folder."""
    out = Path(out)
    if out.is_dir() and any(out.iterdir()) and not previous_results(out):
        raise NnscopeError(f"--out: {out} holds files and no nnscope report; the report replaces the whole folder, "
                           "so it is written only into a new, empty or earlier report folder: give another one")


def run_stage(stage: Stage, ctx: Context, on_event: Event) -> dict:
    """Run one stage through its entry point, timing it."""
    on_event({"stage": stage.name, "title": stage.title, "status": "start"})
    start = time.perf_counter()

    def progress(completed: int, total: int | None = None, info: str = "") -> None:
        on_event({"stage": stage.name, "title": stage.title, "status": "step",
                  "completed": completed, "total": total, "info": info})

    image = {"image": ctx.image} if stage.takes_image and ctx.image is not None else {}
    try:
        result = stage.run(ctx.model, ctx.data, stage_options_for(stage, ctx), out=ctx.out, progress=progress, **image)
    except NnscopeError as e:  # what the model or the data cannot give (no image, no donors): the page says why
        result = skipped(str(e))
    section = to_jsonable(result.to_json() if isinstance(result, Result) else result)  # as results.json will hold it
    section.setdefault("answer", section.get("finding", []))
    with_figure_hashes(section, ctx.out)
    seconds = time.perf_counter() - start
    on_event({"stage": stage.name, "title": stage.title, "status": "done", "seconds": seconds})
    return {"available": True, **section, "seconds": seconds}  # a skipped section's own 'available' wins


def run_detached(name: str, out: str, seed: int, quick: bool) -> dict:
    """Run stage `name`, which needs neither the data nor the CNN, in a second process."""
    stage = next(s for s in STAGES if s.name == name)
    ctx = Context(out=Path(out), data=None, model=None, checkpoint=None, seed=seed, quick=quick)
    return run_stage(stage, ctx, on_event=lambda event: None)  # the parent reports its start and end


@contextlib.contextmanager
def second_process(stages: list[Stage], ctx: Context, on_event: Event):
    """Start `stages` (single-threaded ones) in a second process while this one runs the rest on one
    thread, so that both cores work without oversubscription; yields {name: Future}."""
    if not stages:
        yield {}
        return
    threads = torch.get_num_threads()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {}
        for stage in stages:
            on_event({"stage": stage.name, "title": f"{stage.title} (second process)", "status": "start"})
            futures[stage.name] = pool.submit(run_detached, stage.name, str(ctx.out), ctx.seed, ctx.quick)
        torch.set_num_threads(1)
        try:
            yield futures
        except BaseException:  # an error, Ctrl-C or SIGTERM: the worker (hundreds of MB) must not outlive us
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            torch.set_num_threads(threads)


def run_stages(ctx: Context, keys: dict[str, str], before: dict, on_event: Event, stages: list[Stage] = STAGES) -> dict:
    """Every stage's section in page order: stored ones whose key matches are reused, the detached ones
    run in a second process beside the others."""
    stored = {stage.name for stage in stages
              if reusable(before.get(stage.name), keys[stage.name], ctx.out) and before[stage.name].get("available")}
    detached = [s for s in stages if s.detach and s.name not in stored]
    sections = {}
    with second_process(detached, ctx, on_event) as futures:
        for stage in stages:
            if stage.name in stored:
                on_event({"stage": stage.name, "title": stage.title, "status": "reused",
                          "seconds": before[stage.name].get("seconds", 0.0)})
                sections[stage.name] = {**before[stage.name], "reused": True}
            elif stage.name not in futures:  # the detached ones are collected below, once these are done
                sections[stage.name] = {**run_stage(stage, ctx, on_event), "key": keys[stage.name], "reused": False}
        for stage in detached:
            sections[stage.name] = {**futures[stage.name].result(), "key": keys[stage.name], "reused": False}
            on_event({"stage": stage.name, "title": f"{stage.title} (second process)", "status": "done",
                      "seconds": sections[stage.name]["seconds"]})
    return {stage.name: sections[stage.name] for stage in stages}


def build_report(
    out: str | Path = "report",
    options: ReportOptions = ReportOptions(),
    model: ModelOptions | str | Path = DEFAULT_CHECKPOINT,
    data: str | Path | None = None,
    classes=None,
    fresh: bool = False,
    on_event: Event | None = None,
    digits: Digits | None = None,
    log=None,
) -> dict:
    """Run every stage on `model` (a path, or ModelOptions; an nnscope checkpoint path is trained or reused) and
    `data` (a labelled data set; default: the test set the model was trained on) with the class pair `classes`
    (names or indices; default: the options' own), write results.json, index.html and results.md in `out`;
    return a summary."""
    on_event = on_event or (lambda event: None)
    out, choice = Path(out), model_choice(model)
    check_paths(out, choice, data)
    with staged_folder(out, "--out", ours=lambda folder: bool(previous_results(folder))) as staging:
        summary = build_in(staging, options, choice, data, classes, fresh, on_event, digits, log)
    return {**summary, "out": str(out), "page": str(out / PAGE_FILE), "results": str(out / RESULTS_FILE),
            "results_page": str(out / Path(summary["results_page"]).name)}


def build_in(out: Path, options: ReportOptions, choice: ModelOptions, data_path, classes, fresh: bool,
             on_event: Event, digits: Digits | None, log) -> dict:
    """The report built in the folder `out` (the staging copy of --out); its summary."""
    start = time.perf_counter()
    previous = {} if fresh else previous_results(out)
    before = previous.get("sections", {})
    first = {}  # the training section of a checkpoint the report trains or reuses
    if training.trains(choice):
        checkpoint = Path(choice.spec)
        first["training"] = training.train_or_reuse(digits or load_mnist(log=log), options.recipe, options.seed,
                                                    checkpoint, fresh, on_event)
    else:
        if log and options.recipe != ReportOptions.recipe:
            log("note: --recipe is ignored on a model nnscope did not train: nothing is trained")
        options = replace(options, recipe=ReportOptions.recipe)  # the recipe plays no part
    loaded, image, data = load_model_image_and_data(choice, data_path, log=log)
    pair = checked_pair(data, classes)
    identity = {"model": model_identity(choice), "data": data_identity(data),
                "classes": None if pair is None else [data.class_names[k] for k in pair]}
    identity_sha = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    ctx = Context(out=out, data=data, model=loaded, checkpoint=Path(choice.spec) if first else None,
                  seed=options.seed, quick=options.quick, image=image, classes=pair)
    stages = STAGES if first else [MODEL_STAGE, *STAGES]
    if first:
        train = first["training"]
        if train["reused_checkpoint"] and previous.get("key") == identity_sha:
            # the per-step losses are only seen while training: keep those of the run that trained it
            train["loss_curve"] = before.get("training", {}).get("loss_curve", [])
        train["figures"] = training.training_figures(train, out)
    code = source_hash()
    keys = {stage.name: stage_key(stage, options, identity_sha, code, ctx) for stage in stages}
    sections = {**first, **run_stages(ctx, keys, before, on_event, stages)}
    results = {
        "title": "nnscope report",
        "options": asdict(options),
        "model": {**identity["model"], "source": loaded.source, "format": loaded.format},
        "data": identity["data"],
        "classes": identity["classes"],
        "key": identity_sha,
        "versions": versions(),
        "sections": sections,
    }
    if first:
        results.update(checkpoint=str(ctx.checkpoint), checkpoint_sha256=identity["model"]["sha256"]["model"])
    results["seconds"] = time.perf_counter() - start  # everything but writing the page
    write_json(out / RESULTS_FILE, results)
    page = render_page(results, out)
    results_page = write_results_page(results, out, RESULTS_FILE)
    train = first.get("training", {})
    measured = sections.get("model", {}).get("accuracy", {})
    return {
        "out": str(out), "page": str(page), "results": str(out / RESULTS_FILE), "results_page": str(results_page),
        "seconds": time.perf_counter() - start, "model": loaded.source, "data": None if data is None else data.source,
        "accuracy": train.get("test_accuracy", measured.get("accuracy")),
        "checkpoint": None if ctx.checkpoint is None else str(ctx.checkpoint),
        "reused_checkpoint": train.get("reused_checkpoint"),
        "other_checkpoint_kept_at": train.get("other_checkpoint_kept_at"),
        "stages": {name: {"available": s["available"], "reused": s.get("reused", s.get("reused_checkpoint", False)),
                          "seconds": s.get("seconds", 0.0), **({} if s["available"] else {"reason": s["reason"]})}
                   for name, s in sections.items()},
    }
