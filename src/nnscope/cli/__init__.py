"""The `nnscope` command line: a thin layer that parses, calls the library, prints.

Each sub-command lives in its own module of this package with `register(subparsers)`;
`register` sets `run(args) -> dict` (the result, which `--json` prints) and
`show(result, console)` (the human view) as the parser's defaults.

Start-up is most of the time of a short job, so only the module of the command being run is
imported, and the command modules import torch, matplotlib and the analyses inside `run`:
`nnscope --help`, `nnscope CMD --help` and a bad option answer without importing torch.
"""

import importlib
import sys

from nnscope import __version__, distributed
from nnscope.cli.commands import COMMANDS
from nnscope.cli.common import Parser, emit, print_error
from nnscope.cli.contained import exit_line, exits_refused, json_stdout
from nnscope.errors import ExitCalled, NnscopeError
from nnscope.outputs import check_out_apart_from_data, check_output_dir


def chosen_command(argv: list[str]) -> str | None:
    """The sub-command named in `argv` (its first word that is not an option), if it is one."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(argv: list[str] | None = None):
    """The top-level parser: every sub-command listed, the one named in `argv` with all its options."""
    parser = Parser(
        prog="nnscope",
        description="See inside small neural networks and check every number by hand. "
        "Every command takes --json (one JSON document on stdout) and --help.",
    )
    parser.add_argument("--version", action="version", version=f"nnscope {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    chosen = chosen_command(sys.argv[1:] if argv is None else argv)
    for name, help in COMMANDS.items():
        if name == chosen:
            importlib.import_module(f"nnscope.cli.{name}").register(subparsers)
        else:
            subparsers.add_parser(name, help=help)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input gives one line on stderr and exit code 2."""
    try:
        return run_command(argv)
    except KeyboardInterrupt:  # also while torch imports, in the first seconds
        print("nnscope: interrupted", file=sys.stderr)
        return 130


def run_command(argv: list[str] | None) -> int:
    """Parse `argv`, run the command, print its result. While it runs, nothing but the result reaches stdout
    with --json, and neither sys.exit() nor os._exit() ends it (nnscope.cli.contained)."""
    args = build_parser(argv).parse_args(argv)
    try:
        with json_stdout(args.json) as stdout:
            if getattr(args, "out", None) is not None:  # every --out is a folder: checked before any work
                check_output_dir("--out", args.out)
                check_out_apart_from_data(args.out, getattr(args, "data", None))
            args.stdout = stdout  # where a command that prints its document early (serve) writes it
            with exits_refused():
                result = args.run(args)
            if distributed.rank() == 0:
                emit(args, result, stdout)  # inside: a result that cannot be printed is one line too
    except (NnscopeError, ExitCalled) as e:
        print_error(args.command, str(e))
        return 2
    except SystemExit as e:  # the model's code (or a library) called sys.exit(): an error, never the end
        print_error(args.command, exit_line(e))
        return 2
    except OSError as e:  # a path the user gave that cannot be read or written
        where = f"{e.filename}: " if e.filename else ""
        print_error(args.command, f"{where}{e.strerror or e}")
        return 2
    finally:
        distributed.shutdown()
    return 0
