"""The one shape of a progress callback across nnscope: `progress(completed, total, info)`.

`completed` counts finished units of work (images, cells, batches) so far, `total` is how many
there will be (None when unknown) and `info` a short text for the progress bar. The library
calls it and never prints; the command line turns it into a rich progress bar, the report
into its stage display."""

from typing import Callable

Progress = Callable[[int, "int | None", str], None]


def no_progress(completed: int, total: int | None = None, info: str = "") -> None:
    """The progress callback of a caller who does not watch."""
