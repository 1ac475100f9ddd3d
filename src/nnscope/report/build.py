"""`nnscope report`: train or reuse the CNN, run every stage, collect results.json, render the page.

Each stage's result is stored in results.json with a key: the hash of its options, of the
checkpoint it used and of nnscope's source, and with the sha256 of each of its figures. A rerun
reuses every stage whose key and figures still match, so it only renders the page again;
`fresh=True` retrains and recomputes all. The page is built in a staging folder beside --out and
published whole (renamed over --out) only when every stage is done: an interrupted or failed run
leaves the previous page as it was, and no page ever mixes two runs.
"""

import contextlib
import hashlib
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch

from nnscope.data import Digits, load_mnist
from nnscope.errors import NnscopeError
from nnscope.fileio import staged_folder, to_jsonable, versions, write_json
from nnscope.labelled_data import labelled_test_set
from nnscope.model import check_checkpoint_target
from nnscope.models import load_model
from nnscope.options.report import ReportOptions
from nnscope.outputs import check_output_dir
from nnscope.paths import DEFAULT_CHECKPOINT
from nnscope.report import training
from nnscope.report.context import Context
from nnscope.report.page import render_page
from nnscope.report.results_page import write_results_page
from nnscope.report.stages import STAGES, Stage
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


def stage_key(stage: Stage, options: ReportOptions, checkpoint_sha: str, code: str) -> str:
    """The identity of one stage's result: same key, same numbers."""
    stage_options = stage.options_for(options.quick, options.seed)
    parts = {"stage": stage.name, "options": asdict(options), "code": code,
             "stage_options": asdict(stage_options) if stage_options is not None else None,
             "checkpoint": checkpoint_sha if stage.uses_model else None}
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


def check_paths(out: Path, checkpoint: Path) -> None:
    """Before any work: --out can hold the page, --checkpoint can be written and, if it exists, is an
    nnscope checkpoint (a file nnscope did not write is never replaced)."""
    check_output_dir("--out", out)
    check_report_folder(out)
    check_checkpoint_target("--checkpoint", checkpoint)


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

    result = stage.run(ctx.model, ctx.data, stage.options_for(ctx.quick, ctx.seed), out=ctx.out, progress=progress)
    section = to_jsonable(result.to_json() if isinstance(result, Result) else result)  # as results.json will hold it
    section.setdefault("answer", section.get("finding", []))
    with_figure_hashes(section, ctx.out)
    seconds = time.perf_counter() - start
    on_event({"stage": stage.name, "title": stage.title, "status": "done", "seconds": seconds})
    return {"available": True, **section, "seconds": seconds}


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
    checkpoint: str | Path = DEFAULT_CHECKPOINT,
    fresh: bool = False,
    on_event: Event | None = None,
    digits: Digits | None = None,
) -> dict:
    """Train or reuse the CNN, run every stage, write results.json and index.html in `out`; return a summary."""
    on_event = on_event or (lambda event: None)
    out, checkpoint = Path(out), Path(checkpoint)
    check_paths(out, checkpoint)
    with staged_folder(out, "--out", ours=lambda folder: bool(previous_results(folder))) as staging:
        summary = build_in(staging, options, checkpoint, fresh, on_event, digits)
    return {**summary, "out": str(out), "page": str(out / PAGE_FILE), "results": str(out / RESULTS_FILE),
            "results_page": str(out / Path(summary["results_page"]).name)}


def build_in(out: Path, options: ReportOptions, checkpoint: Path, fresh: bool, on_event: Event,
             digits: Digits | None) -> dict:
    """The report built in the folder `out` (the staging copy of --out); its summary."""
    start = time.perf_counter()
    digits = digits or load_mnist()
    train_section = training.train_or_reuse(digits, options.recipe, options.seed, checkpoint, fresh, on_event)
    model = load_model(checkpoint)  # nnscope's CNN, one LoadedModel among any; MNIST one labelled data set
    ctx = Context(out=out, data=labelled_test_set(digits), model=model, checkpoint=checkpoint, seed=options.seed,
                  quick=options.quick)
    checkpoint_sha, code = file_hash(checkpoint), source_hash()
    previous = {} if fresh else previous_results(out)
    before = previous.get("sections", {})
    if train_section["reused_checkpoint"] and previous.get("checkpoint_sha256") == checkpoint_sha:
        # the per-step losses are only seen while training: keep those of the run that trained it
        train_section["loss_curve"] = before.get("training", {}).get("loss_curve", [])
    train_section["figures"] = training.training_figures(train_section, out)
    keys = {stage.name: stage_key(stage, options, checkpoint_sha, code) for stage in STAGES}
    sections = {"training": train_section, **run_stages(ctx, keys, before, on_event)}
    results = {
        "title": "nnscope report",
        "options": asdict(options),
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": checkpoint_sha,
        "versions": versions(),
        "sections": sections,
    }
    results["seconds"] = time.perf_counter() - start  # everything but writing the page
    write_json(out / RESULTS_FILE, results)
    page = render_page(results, out)
    results_page = write_results_page(results, out, RESULTS_FILE)
    return {
        "out": str(out), "page": str(page), "results": str(out / RESULTS_FILE), "results_page": str(results_page),
        "seconds": time.perf_counter() - start, "checkpoint": str(checkpoint),
        "reused_checkpoint": train_section["reused_checkpoint"],
        "other_checkpoint_kept_at": train_section["other_checkpoint_kept_at"],
        "test_accuracy": train_section["test_accuracy"],
        "stages": {name: {"available": s["available"], "reused": s.get("reused", s.get("reused_checkpoint", False)),
                          "seconds": s.get("seconds", 0.0)} for name, s in sections.items()},
    }
