"""The `nnscope` command line: a thin layer that parses, calls the library, prints.

Each sub-command lives in its own module of this package with `register(subparsers)`;
`register` sets `run(args) -> dict` (the result, which `--json` prints) and
`show(result, console)` (the human view) as the parser's defaults.
"""

import importlib
import sys

from nnscope import distributed
from nnscope.cli.common import Parser, emit, stderr_console
from nnscope.errors import NnscopeError

# sub-command modules, in the order `nnscope --help` lists them
COMMAND_MODULES = ["data", "train", "filters", "featuremaps", "shift", "occlude", "attack", "rnn", "lstm", "longseq", "report", "serve"]


def build_parser() -> Parser:
    """The top-level parser with every sub-command registered."""
    parser = Parser(
        prog="nnscope",
        description="See inside small neural networks and check every number by hand. "
        "Every command takes --json (one JSON document on stdout) and --help.",
    )
    from nnscope import __version__

    parser.add_argument("--version", action="version", version=f"nnscope {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"nnscope.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; bad input gives one line on stderr and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except NnscopeError as e:
        stderr_console().print(f"nnscope {args.command}: error: {e}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except OSError as e:  # a path the user gave that cannot be read or written
        where = f"{e.filename}: " if e.filename else ""
        stderr_console().print(f"nnscope {args.command}: error: {where}{e.strerror or e}", markup=False,
                               highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        print("nnscope: interrupted", file=sys.stderr)
        return 130
    finally:
        distributed.shutdown()
    if distributed.rank() == 0:
        emit(args, result)
    return 0
