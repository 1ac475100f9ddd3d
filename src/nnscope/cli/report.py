"""`nnscope report`: everything with defaults, into one self-contained interactive page."""

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nnscope.cli.common import add_command, log, stderr_console
from nnscope.cli.model_options import add_model_options, model_options
from nnscope.cli.tables import print_table
from nnscope.options.report import ReportOptions
from nnscope.options.train import RECIPE_NAMES


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "report",
        description="Run every analysis with its defaults and write one self-contained page (no network needed):\n"
        "OUT/index.html, OUT/results.json (every number the page shows) and the figures.\n"
        "A checkpoint trained by the same recipe and seed is reused, and so is every stage whose\n"
        "checkpoint and code are unchanged since the last run into OUT; --fresh retrains and recomputes.\n"
        "A checkpoint of another recipe or seed found at --checkpoint is kept as NAME.RECIPE-seedS.pt.\n"
        "Any model (--model SPEC, see the model options; FILE.py:NAME RUNS THAT FILE'S CODE) and any labelled "
        "data (--data PATH; default: the test set the model was trained on): nnscope's checkpoint is trained or "
        "reused and its training is the first section; another model is described instead (layers, parameters, "
        "accuracy on the data). Problems 1-2 run on it with its layer and the data's class names (--classes A B; "
        "default '0' and '8' on MNIST, else the data's first two), Problems 3-5 as always. Your model, weights and "
        "data files are only read; a rerun reuses the stages until one of them changes.",
        run=run, show=show,
    )
    parser.add_argument("--out", type=Path, default=Path("report"), metavar="DIR",
                        help="folder for the page, results.json and figures")
    parser.add_argument("--recipe", default=ReportOptions.recipe, choices=RECIPE_NAMES, help="training recipe of the CNN")
    parser.add_argument("--seed", type=int, default=ReportOptions.seed, help="seed of training and of the analyses")
    parser.add_argument("--fresh", action="store_true", help="retrain and recompute every stage, reusing nothing")
    parser.add_argument("--quick", action="store_true",
                        help="small aggregates and a short long-sequence study (seconds, for tests)")
    add_model_options(parser)
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="a labelled data set (an ImageFolder tree DIR/<class>/<images>, IDX files or an .npz "
                        "with images and labels) for the accuracy, the class comparison, the shift sweep and the "
                        "occlusion aggregate (default: the test set the model was trained on; without data those "
                        "parts are skipped, and the page says so)")
    parser.add_argument("--classes", nargs=2, default=None, metavar=("A", "B"),
                        help="the two classes of the data compared in Problem 1 (the first one studied in Problem 1.3 "
                        "and 2), by name or index (default: '0' and '8' on MNIST, else the data's first two)")


class StageProgress:
    """One rich progress display with a row per stage, fed by build_report's events."""

    def __init__(self, progress: Progress):
        self.progress, self.rows = progress, {}

    def __call__(self, event: dict) -> None:
        name, status = event["stage"], event["status"]
        if name not in self.rows:
            self.rows[name] = self.progress.add_task(event["title"], total=None, info="")
        row = self.rows[name]
        if status == "step":
            self.progress.update(row, completed=event["completed"], total=event.get("total"), info=event.get("info", ""))
        elif status == "done":
            self.progress.update(row, total=1, completed=1, info=f"done in {event['seconds']:.1f} s")
        elif status == "reused":
            self.progress.update(row, total=1, completed=1, info="reused")


def stage_lines(event: dict) -> None:
    """Without a terminal (a log, CI): one line when a stage starts and one when it ends."""
    status, title = event["status"], event["title"]
    if status == "start":
        log(f"{title} ...")
    elif status == "done":
        log(f"{title}: done in {event['seconds']:.1f} s")
    elif status == "reused":
        log(f"{title}: reused")


def run(args) -> dict:
    options = ReportOptions(recipe=args.recipe, seed=args.seed, quick=args.quick)
    options.check()
    choice = model_options(args)
    # torch, matplotlib and the analyses: only once the options are valid (start-up)
    from nnscope.report.build import build_report, check_paths

    check_paths(args.out, choice, args.data)  # before the data, which may have to be fetched
    result = with_progress(lambda on_event: build_report(args.out, options, choice, args.data, args.classes,
                                                         fresh=args.fresh, on_event=on_event, log=log))
    for name, stage in result["stages"].items():
        if not stage["available"]:
            log(f"{name}: {stage['reason']}")
    return result


def interrupt_on_sigterm() -> None:
    """SIGTERM ends the report as Ctrl-C does: its worker processes are stopped and the page is left as it was."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def with_progress(build):
    """`build(on_event)` with a progress row per stage on a terminal, else one log line per stage."""
    interrupt_on_sigterm()
    console = stderr_console()
    if not console.is_terminal:
        return build(stage_lines)
    columns = (TextColumn("{task.description:<44}"), BarColumn(bar_width=24), MofNCompleteColumn(),
               TextColumn("{task.fields[info]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        return build(StageProgress(progress))


def show(result: dict, console) -> None:
    table = Table("stage", "status", "seconds", title=f"report written to {result['page']}")
    for name, stage in result["stages"].items():
        status = "not available" if not stage["available"] else "reused" if stage["reused"] else "computed"
        table.add_row(name, status, f"{stage['seconds']:.1f}" if stage["available"] else "-")
    print_table(console, table)
    accuracy = "not measured (no data)" if result["accuracy"] is None else f"{result['accuracy']:.2%}"
    trained = ("" if result["reused_checkpoint"] is None else
               f" ({'reused' if result['reused_checkpoint'] else 'trained'} by the report's recipe)")
    console.print(f"model {result['model']}{trained}; accuracy on {result['data'] or 'no data'} {accuracy}; "
                  f"total {result['seconds']:.1f} s", highlight=False)
    if result["other_checkpoint_kept_at"]:
        console.print(f"the checkpoint of another recipe or seed was kept at {result['other_checkpoint_kept_at']}",
                      highlight=False)
    console.print(f"open {Path(result['page']).resolve().as_uri()}", highlight=False)
