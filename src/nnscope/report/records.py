"""The record of one drawn figure, as every analysis returns it and the page shows it."""

from pathlib import Path


def figure(out: Path | str, path: Path | str, alt: str, caption: str = "") -> dict:
    """A figure record: the file's name relative to the output folder `out`, its alt text and caption."""
    return {"file": str(Path(path).resolve().relative_to(Path(out).resolve())), "alt": alt, "caption": caption}
