"""The results page in Markdown (`results.md`), written beside the report from the same results.json.

It holds the sentences each section built from its measurements, so the project's docs can quote
the figures of the current checkpoint instead of copies that go stale (`make docs`)."""

import time
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from nnscope.fileio import atomic_write_text

RESULTS_PAGE = "results.md"
TITLES = [  # section key -> its heading, in the assignment's order, and the words naming the classes it studied
    ("training", "Training the CNN", ""),
    ("model", "The model", ""),
    ("filters", "Problem 1.1: the filters", ""),
    ("featuremaps", "Problem 1.2: feature maps", " of '{a}' and '{b}'"),
    ("shift", "Problem 1.3: shifting", " a '{a}'"),
    ("occlusion", "Problem 2.1-2.2: occlusion", " of a '{a}'"),
    ("transplant", "Problem 2.3: patch transplants", ""),
    ("rnn", "Problem 3: back-propagation through time by hand", ""),
    ("longseq", "Problem 4: long sequences", ""),
    ("lstm", "Problem 5: an LSTM cell", ""),
]
STUDIED = {"featuremaps": "pair", "shift": "digit", "occlusion": "target"}  # the key of the class(es) studied


def title(name: str, heading: str, studied_words: str, section: dict) -> str:
    """A section's heading with the data's names of the classes it studied, when it ran."""
    studied = section.get(STUDIED.get(name, ""))
    if not studied_words or not section.get("available") or studied is None or "class_names" not in section:
        return heading + (" an image" if name == "shift" else "")
    a, b = (studied[0], studied[1]) if isinstance(studied, list) else (studied, studied)
    return heading + studied_words.format(a=section["class_names"][a], b=section["class_names"][b])


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
    titles = [(name, title(name, heading, words, results["sections"][name]))
              for name, heading, words in TITLES if name in results["sections"]]
    text = environment.get_template("results.md.j2").render(
        r={**results, "results_file": results_file, "date": time.strftime("%Y-%m-%d")},
        s=results["sections"], titles=titles, sentences=sentences)
    return atomic_write_text(Path(out) / RESULTS_PAGE, text)
