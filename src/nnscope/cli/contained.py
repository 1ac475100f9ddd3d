"""What the code a command runs may not do to the command: write into its --json document, or end it.

A command runs code that is not nnscope's: a FILE.py:NAME model is imported and called in this process,
and PyTorch or any C library may write to the terminal. Two guards hold for every command at once:

- with --json, file descriptor 1 (and `sys.stdout`) point at stderr while the command runs, so a print,
  an `os.write(1, ...)` or a C library's `printf` lands on stderr, and stdout holds exactly the one JSON
  document, written to the saved stdout at the end (`json_stdout`);
- `sys.exit()` or `os._exit()` called while the command runs is one line naming the file and line that
  called it, never the silent end of the command (`exits_refused`, `exit_line`). Only this process is
  guarded: a forked child still ends with `os._exit`.
"""

import contextlib
import os
import sys
import traceback
from pathlib import Path

from nnscope.errors import ExitCalled


def caller(frames: list[traceback.FrameSummary]) -> str:
    """'file.py line 12' of the last frame that called the exit (the frames end at the call)."""
    if not frames:
        return "code the command ran"
    return f"{Path(frames[-1].filename).name} line {frames[-1].lineno}"


def exit_line(error: SystemExit) -> str:
    """The one line for a `sys.exit()` that reached the command: where it was called, and with what."""
    where = caller(traceback.extract_tb(error.__traceback__))
    return (f"{where} called sys.exit({error.code!r}) while the command ran; expected the model's code to "
            "return, not to end the process")


@contextlib.contextmanager
def exits_refused():
    """Within: `os._exit(code)` in this process raises ExitCalled naming its caller; restored after."""
    real_exit, pid = os._exit, os.getpid()

    def refuse(code=0):
        if os.getpid() != pid:  # a forked child (a data loader worker) ends as it should
            real_exit(code)
        where = caller(traceback.extract_stack(sys._getframe(1), limit=1))
        raise ExitCalled(f"{where} called os._exit({code!r}) while the command ran; expected the model's code "
                         "to return, not to end the process")

    os._exit = refuse
    try:
        yield
    finally:
        os._exit = real_exit


@contextlib.contextmanager
def json_stdout(enabled: bool):
    """Yields the stream the command's result goes to. With `enabled` (--json): stdout as it was, while
    everything else written to stdout, by Python or below it (file descriptor 1), goes to stderr."""
    real = sys.stdout
    if not enabled:
        yield real
        return
    real.flush()
    try:
        on_fd_1 = real.fileno() == 1
    except (AttributeError, OSError, ValueError):  # a stdout that is no file (pytest's capsys, a notebook)
        on_fd_1 = False
    saved = os.dup(1)
    os.dup2(2, 1)
    result = open(saved, "w", encoding=getattr(real, "encoding", None) or "utf-8", closefd=False) if on_fd_1 else real
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield result
    finally:
        result.flush()
        if result is not real:
            result.close()  # closefd=False: the saved descriptor is put back below
        sys.stderr.flush()
        os.dup2(saved, 1)
        os.close(saved)
