"""The results page in Markdown (`results.md`), written beside the report from the same results.json.

It holds the sentences each section built from its measurements, so the project's docs can quote
the figures of the current checkpoint instead of copies that go stale (`make docs`)."""

import time
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from nnscope.fileio import atomic_write_text

RESULTS_PAGE = "results.md"
TITLES = [  # section key -> its heading, in the assignment's order
    ("training", "Training the CNN"),
    ("filters", "Problem 1.1: the filters"),
    ("featuremaps", "Problem 1.2: feature maps of a '0' and an '8'"),
    ("shift", "Problem 1.3: shifting a '1'"),
    ("occlusion", "Problem 2.1-2.2: occlusion of a '6'"),
    ("transplant", "Problem 2.3: patch transplants"),
    ("rnn", "Problem 3: back-propagation through time by hand"),
    ("longseq", "Problem 4: long sequences"),
    ("lstm", "Problem 5: an LSTM cell"),
]
MODEL_TITLES = [  # the same for the report on a given model (`nnscope report --model SPEC`)
    ("model", "The model"),
    ("filters", "Problem 1.1: the filters"),
    ("featuremaps", "Problem 1.2: feature maps of two classes"),
    ("shift", "Problem 1.3: shifting an image"),
    ("occlusion", "Problem 2.1-2.2: occlusion"),
    *TITLES[5:],
]


def sentences(section: dict) -> list[str]:
    """A section's answer as a list of sentences (Problem 4 keeps one answer per question)."""
    answer = section.get("answer") or section.get("answers") or []
    if isinstance(answer, dict):
        return [f"**{key}** {text}" for key, text in answer.items()]
    return list(answer)


def write_results_page(results: dict, out: str | Path, results_file: str = "results.json") -> Path:
    """Write out/results.md from `results` (the content of results.json); return its path."""
    environment = Environment(loader=PackageLoader("nnscope.report", "templates"), undefined=StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=False)
    known = MODEL_TITLES if results.get("kind") == "model" else TITLES
    titles = [(name, title) for name, title in known if name in results["sections"]]
    text = environment.get_template("results.md.j2").render(
        r={**results, "results_file": results_file, "date": time.strftime("%Y-%m-%d")},
        s=results["sections"], titles=titles, sentences=sentences)
    return atomic_write_text(Path(out) / RESULTS_PAGE, text)
