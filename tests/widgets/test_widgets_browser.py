"""The notebook widgets' ES module in Debian's Chromium (headless, Playwright), on a stand-in for the
notebook's widget model: the explorer follows the pointer over a hand-made result, and Draw sends a
stroke, shows the kernel's answer and keeps showing it from the saved state alone."""

import json

import numpy as np
import pytest
import torch

pytest.importorskip("anywidget")

from browser_steps import draw_vertical_stroke, script_errors  # noqa: E402 (tests/ is on the path)
from widgets.test_widgets import occlusion_result  # noqa: E402 (tests/ is on the path, as for helpers)

pytestmark = pytest.mark.browser

# the widget model of anywidget reduced to what the module uses: get, set, save_changes, on
HARNESS = """
window.sent = []; window.listeners = {};
window.mount = async (source, state) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const module = await import(url);
  window.state = state;
  const model = {
    get: (key) => window.state[key],
    set: (key, value) => { window.state[key] = value; },
    save_changes: () => { window.sent.push(JSON.parse(JSON.stringify(window.state.request))); },
    on: (event, listener) => { (window.listeners[event] = window.listeners[event] || []).push(listener); },
  };
  const el = document.createElement("div"); document.body.appendChild(el);
  module.default.render({ model: model, el: el });
};
window.answer = (result) => { window.state.result = result; (window.listeners["change:result"] || []).forEach((f) => f()); };
"""


@pytest.fixture
def page(browser):
    from nnscope.widgets import module_source

    page = browser.new_page(viewport={"width": 900, "height": 1400})
    problems = script_errors(page)
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(content=HARNESS)
    page.mount = lambda state: page.evaluate("([source, state]) => window.mount(source, state)", [module_source(), state])
    yield page
    assert problems == []
    page.close()


def test_the_explorer_shows_the_probabilities_where_the_pointer_puts_the_patch(page):
    from nnscope.widgets import OcclusionExplorer

    widget = OcclusionExplorer(occlusion_result())
    page.mount({"kind": "occlusion", "data": widget.data})
    canvas = page.locator(".nnscope-occlusion canvas.explorer")
    readout = page.locator(".explorer-readout")
    # the lowest P('dog') is at row 0, column 0: where the explorer starts
    assert (canvas.get_attribute("data-row"), canvas.get_attribute("data-col")) == ("0", "0")
    box = canvas.bounding_box()
    cell = box["width"] / 5  # the image is 4 x 5 pixels; the pointer holds the middle of the 2 x 2 patch
    page.mouse.move(box["x"] + 3.5 * cell, box["y"] + 3.5 * cell)  # rows step by 2, columns by 1: row 1, column 2
    assert (canvas.get_attribute("data-row"), canvas.get_attribute("data-col")) == ("1", "2")
    assert readout.inner_text() == "patch at row 2, column 3 (top-left corner): predicted owl (p = 0.8500), P('dog') = 0.8000"
    assert page.locator(".explorer-bars .v").all_inner_texts() == ["0.7500", "0.8000", "0.8500"]
    canvas.focus()
    page.keyboard.press("ArrowLeft")
    assert canvas.get_attribute("data-col") == "1" and "column 1 " in readout.inner_text()


@pytest.fixture(scope="module")
def small_cnn():
    """nnscope's CNN with seeded weights, loaded as every model is (Draw takes a loaded model)."""
    from nnscope.model import CNN
    from nnscope.models.formats import Network
    from nnscope.models.loaded import loaded_from_network

    torch.manual_seed(0)
    return loaded_from_network(Network(CNN().eval(), "nnscope", "a seeded CNN", (1, 28, 28)))


def test_draw_sends_the_stroke_and_shows_the_kernel_s_answer(page, small_cnn):
    from nnscope.widgets import Draw

    widget = Draw(small_cnn)
    state = {"kind": "draw", "config": widget.config, "request": {}, "result": {}, "data": {}}
    page.mount(state)
    pad = page.locator("canvas.pad")
    draw_vertical_stroke(page, pad)
    request = page.evaluate("window.sent[0]")  # one request in flight: the first waits for its answer
    assert request["patch"] == 8 and request["stride"] == 1 and np.array(request["image"]).shape == (1, 28, 28)
    widget.request = request  # the kernel's side: what the notebook's comm would deliver
    page.evaluate("(result) => window.answer(result)", widget.result)
    expected = torch.softmax(small_cnn.module(torch.tensor(request["image"], dtype=torch.float32)[None]), 1)[0]
    shown = [float(v) for v in page.locator(".probabilities .v").all_inner_texts()]
    np.testing.assert_allclose(shown, expected.detach().numpy(), atol=6e-5)
    assert page.locator(".prediction").get_attribute("data-prediction") == str(int(expected.argmax()))
    assert page.evaluate("window.sent.length") == 2  # the rest of the stroke, sent once the answer came
    row = int(page.locator("canvas.explorer").get_attribute("data-row"))
    col = int(page.locator("canvas.explorer").get_attribute("data-col"))
    at = widget.result["occlusion"]["probabilities"][row][col]
    assert [float(v) for v in page.locator(".explorer-bars .v").all_inner_texts()] == pytest.approx(at, abs=6e-5)
    assert page.locator("canvas[data-layer]").count() == 3 and page.locator(".shift-readout").inner_text()
    # a saved notebook: the same state, no kernel, the last answer on show
    saved = json.loads(json.dumps({**state, "result": widget.result}))
    page.evaluate("document.body.textContent = ''")
    page.mount(saved)
    assert [float(v) for v in page.locator(".probabilities .v").all_inner_texts()] == pytest.approx(shown, abs=1e-9)


@pytest.mark.parametrize("network", ["rnn", "lstm"])
def test_the_recurrent_explorer_draws_python_s_graph(page, network):
    from nnscope.recurrent.lstm import run_lstm
    from nnscope.recurrent.rnn import run_rnn
    from nnscope.widgets import RecurrentExplorer

    result = {"rnn": run_rnn, "lstm": run_lstm}[network]()
    page.mount({"kind": "bptt", "data": RecurrentExplorer(result).data})
    page.wait_for_function("() => document.querySelector('.nnscope-bptt svg') !== null")
    nodes = page.evaluate("() => document.querySelector('.nnscope-bptt .bptt-graph').result.nodes")
    python = {node["id"]: node for node in result["graph"]["nodes"]}
    assert set(nodes) == set(python)
    for name, node in python.items():  # the browser's recomputation is Python's
        np.testing.assert_allclose(nodes[name]["value"], node["value"], rtol=1e-12, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(nodes[name]["grad"], node["grad"], rtol=1e-12, atol=1e-12, err_msg=name)
    page.click(".nnscope-bptt g.node[data-id='L']")
    assert page.locator(".nnscope-bptt .bptt-detail .equation").inner_text().startswith("L")
