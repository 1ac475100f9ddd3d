"""What every sub-command shares: the parser class, common options, output and progress."""

import argparse
import contextlib
import dataclasses
import re
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from nnscope.cli.commands import COMMANDS


def shown_default(value) -> str:
    """A default as a person types it: `conv1 conv2 conv3`, not `['conv1', 'conv2', 'conv3']`."""
    if isinstance(value, (list, tuple)):
        return " ".join(shown_default(v) for v in value)
    return str(value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows every default beside its option as it would be typed, keeps the layout of descriptions."""

    def _get_help_string(self, action):
        # None and on/off flags: the help text itself says what happens when the option is absent
        if action.default is None or isinstance(action.default, bool) or action.default is argparse.SUPPRESS:
            return action.help
        if "%(default)" in (action.help or "") or not action.option_strings:
            return action.help
        return f"{action.help} (default: {shown_default(action.default).replace('%', '%%')})"


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit code 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown option is reported by the sub-command it was given to."""
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            self.chosen_subparser(namespace).error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace

    def chosen_subparser(self, namespace) -> "Parser":
        """The parser of the sub-command `namespace` holds (this parser if there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(namespace, action.dest, None))
                if chosen is not None:
                    return chosen.chosen_subparser(namespace)
        return self

    def error(self, message: str):
        sys.stderr.write(error_line(self.prog, f"{message} (see '{self.prog} --help')"))
        self.exit(2)


ANSI_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07]*\x07|.)")


def error_line(prog: str, message: object) -> str:
    """`prog: error: message` as exactly one line of plain text: no terminal codes, no line breaks."""
    text = ANSI_ESCAPE.sub("", str(message))
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return f"{prog}: error: {text}\n"


def print_error(command: str, message: object) -> None:
    """The one line of a failed command on stderr, as typed: no markup, no wrapping, no colour codes."""
    sys.stderr.write(error_line(f"nnscope {command}", message))


def add_command(subparsers, name: str, description: str, run, show) -> Parser:
    """A sub-command parser with --json, wired to `run` and `show`; its one-line help is in `COMMANDS`."""
    parser = subparsers.add_parser(name, help=COMMANDS[name], description=description)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout and nothing else")
    parser.set_defaults(run=run, show=show)
    return parser


def add_out_option(parser: Parser, default: str | None = None) -> None:
    """--out DIR for figures, default runs/COMMAND: a command never writes into report/ (the page's own folder)."""
    default = default or str(Path("runs") / parser.prog.split()[-1])
    parser.add_argument("--out", type=Path, default=Path(default), metavar="DIR",
                        help=f"folder for the figures (default: {default})")


def add_data_options(parser: Parser, default: str | None = "mnist") -> None:
    """--dataset and --data-dir; `default` None: the data set the model was trained on."""
    parser.add_argument("--dataset", default=default, choices=["mnist", "fashion-mnist"],
                        help="which data set" + ("" if default else "'s test set (default: the one the checkpoint "
                                                 "was trained on; none for a model that does not say)"))
    parser.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                        help="read the standard IDX files (gzipped or not) from DIR instead of the default source")


def add_model_and_data_options(parser: Parser, data_use: str, image: bool = True,
                                without_data: str = "none for a model that does not say") -> None:
    """--model and its companions (--image with `image`), and one labelled data set for `data_use`: --data PATH,
    or the MNIST / Fashion-MNIST test set by --dataset and --data-dir (default: the one the model was trained on,
    else what `without_data` says)."""
    from nnscope.cli.model_options import add_model_options  # it imports this module: no import at the top

    add_model_options(parser, image=image)
    group = parser.add_argument_group("data")
    group.add_argument("--data", type=Path, default=None, metavar="PATH",
                       help=f"a labelled data set for {data_use}: an ImageFolder tree PATH/<class>/<images>, IDX files "
                       "or an .npz with images and labels (default: the test set of the data set the checkpoint "
                       f"was trained on; {without_data})")
    add_data_options(group, default=None)


def model_data_and_image(args, default_dataset: str | None = None):
    """(LoadedModel, LabelledImages or None, --image as (C, H, W) or None) of the parsed arguments: --data read
    once, here, for every command; without --data, --dataset or a model that names its data set, the test set
    of `default_dataset` (a command that needs images: 'mnist')."""
    from nnscope.cli.model_options import model_options
    from nnscope.models import load_model_image_and_data

    model, image, data = load_model_image_and_data(model_options(args), args.data, args.dataset, args.data_dir,
                                                   log=log, default_dataset=default_dataset)
    return model, data, image


def log_index_ignored_with_image(args) -> None:
    """On the generic path --index picks an image of --data: with --image it does nothing; say so on stderr."""
    if getattr(args, "image", None) is not None and getattr(args, "index", None) is not None:
        log("note: --index is ignored with --image (it picks an image of --data; the analysis is of --image)")


def options_from_args(cls, args, **renamed):
    """The frozen options dataclass `cls` from the parsed arguments: each field from the argument of the
    same name (or the one `renamed` maps it to); a field the command does not offer keeps its default."""
    values = {}
    for f in dataclasses.fields(cls):
        name = renamed.get(f.name, f.name)
        if hasattr(args, name):
            value = getattr(args, name)
            values[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def stdout_console() -> Console:
    """Console for human output."""
    return Console()


def stderr_console() -> Console:
    """Console for progress and logs: never on stdout, so --json stays clean."""
    return Console(stderr=True)


def emit(args, result: dict, stdout=None) -> None:
    """Print the result: one JSON document with --json (on `stdout`, default sys.stdout), else the command's
    human view."""
    if args.json:
        from nnscope.fileio import dumps_json  # numpy: only when there is a result to print

        (stdout or sys.stdout).write(dumps_json(result) + "\n")
    else:
        args.show(result, stdout_console())


def log(message: str) -> None:
    """One progress line on stderr."""
    stderr_console().print(f"[dim]{message}[/dim]", highlight=False)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None):
    """A rich progress bar on stderr; yields `advance(n=1, **fields)`."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=stderr_console(), transient=False,
    ) as progress:
        task = progress.add_task(description, total=total, info="")

        def advance(n: int = 1, info: str = "") -> None:
            progress.update(task, advance=n, info=info)

        yield advance


@contextlib.contextmanager
def progress_display(description: str):
    """A rich progress bar on stderr fed by the library's one callback shape; yields
    `progress(completed, total=None, info='')` (see nnscope.progress)."""
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=stderr_console(), transient=False,
    ) as progress:
        task = progress.add_task(description, total=None, info="")

        def report(completed: int, total: int | None = None, info: str = "") -> None:
            progress.update(task, completed=completed, total=total, info=info)

        yield report


@contextlib.contextmanager
def lazy_progress_display(description: str):
    """As progress_display, but the bar opens at the first report: a bad input found before any progress
    fails with its one stderr line and no bar."""
    with contextlib.ExitStack() as stack:
        bar = []

        def report(completed: int, total: int | None = None, info: str = "") -> None:
            if not bar:
                bar.append(stack.enter_context(progress_display(description)))
            bar[0](completed, total, info)

        yield report
