"""The live page of Problems 3 and 5 (`/rnn`): the unrolled graphs of the RNN and the LSTM, editable.

Parameters, the sequence (up to MAX_STEPS steps) and the learning rate are edited in the page, and the
browser recomputes the graph, the loss, the gradients and the gradient step at once with the report's
own bptt-graph.js (equal to nnscope.recurrent to 1e-12, tested in Chromium). The page starts from the
assignment's values, taken from run_rnn and run_lstm.
"""

from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from nnscope.fileio import to_jsonable

MAX_STEPS = 10  # the longest sequence the page accepts (every box of the graph stays readable)
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def rnn_page_files() -> dict[str, tuple[bytes, str]]:
    """path -> (content, media type) of the /rnn page and its script and styles."""
    from nnscope.recurrent.lstm import run_lstm
    from nnscope.recurrent.rnn import run_rnn

    env = Environment(loader=PackageLoader("nnscope.serve", "templates"), autoescape=select_autoescape(["j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    graphs = {"rnn": to_jsonable(run_rnn()["graph"]), "lstm": to_jsonable(run_lstm()["graph"])}
    html = env.get_template("rnn.html.j2").render(graphs=graphs, max_steps=MAX_STEPS)
    files = {"/rnn": (html.encode(), "text/html; charset=utf-8")}
    for package, name in (("nnscope.report", "bptt-graph.js"), ("nnscope.report", "bptt-graph.css"),
                          ("nnscope.serve", "rnn-page.js")):
        text = resources.files(package).joinpath("templates", name).read_bytes()
        files[f"/static/{name}"] = (text, STATIC_TYPES[name[name.rindex("."):]])
    return files
