"""The unrolled graph of Problems 3 and 5 in Chromium: the browser's recomputation equals Python's to 1e-12
on random parameters, the boxes show Python's values, a click shows the node's formula with its numbers,
and the BPTT slider's running sum of dL/db reaches the central-difference estimate."""

import json
from pathlib import Path

import numpy as np
import pytest

from browser_steps import watched_page
from nnscope.fileio import to_jsonable
from nnscope.recurrent.lstm import lstm_solution, run_lstm
from nnscope.recurrent.params import LSTMParams, RNNParams
from nnscope.recurrent.rnn import rnn_solution, run_rnn

pytestmark = [pytest.mark.browser]


def page_html(tmp_path, longseq: dict | None = None) -> str:
    """Problems 3, 4 and 5 of the report, rendered by the report's own templates from run_rnn, run_lstm and
    (when given) a long-sequence study whose figures are in `tmp_path`."""
    from nnscope.report.page import make_environment

    sections = {"rnn": {**to_jsonable(run_rnn()), "available": True, "seconds": 0.1, "reused": False},
                "lstm": {**to_jsonable(run_lstm()), "available": True, "seconds": 0.1, "reused": False},
                "longseq": ({**to_jsonable(longseq), "available": True, "reused": False} if longseq else
                            {"available": False, "reason": "not in this test"})}
    for section in sections.values():
        section.setdefault("answer", section.get("finding"))
    results = {"sections": sections}
    env = make_environment(results, tmp_path)
    page = env.from_string('<!doctype html><html><body>{% import "macros.html.j2" as m with context %}'
                           '{% include "problem3.html.j2" %}{% include "problem4.html.j2" %}'
                           '{% include "problem5.html.j2" %}</body></html>')
    path = tmp_path / "graph.html"
    path.write_text(page.render(r=results, s=sections), encoding="utf-8")
    return path.as_uri()


@pytest.fixture
def graph_page(browser, tmp_path):
    with watched_page(browser, page_html(tmp_path), "() => document.querySelector('#bptt-lstm svg') !== null") as page:
        yield page


def random_params(seed: int):
    rng = np.random.default_rng(seed)
    n, d, T = 3, 2, 6
    common = dict(b=rng.normal(size=n), c=rng.normal(size=2), W=rng.normal(size=(n, n)), U=rng.normal(size=(n, d)),
                  V=rng.normal(size=(2, n)), x=rng.normal(size=(T, d)), h0=rng.normal(size=n), learning_rate=0.05)
    lstm = LSTMParams(**common, s0=rng.normal(size=n), b_f=rng.normal(size=n), b_g=rng.normal(size=n),
                      b_o=rng.normal(size=n), W_f=rng.normal(size=(n, n)), U_o=rng.normal(size=(n, d)),
                      cell_activation="tanh" if seed % 2 else "sigmoid")
    return RNNParams(**common), lstm


def assert_same_nodes(python_graph: dict, browser_nodes: dict) -> None:
    assert {n["id"] for n in python_graph["nodes"]} == set(browser_nodes)
    for node in python_graph["nodes"]:
        for key in ("value", "grad"):
            np.testing.assert_allclose(browser_nodes[node["id"]][key], node[key], rtol=1e-12, atol=1e-12,
                                       err_msg=f"{node['id']} {key}")


def number(x: float, digits: int) -> str:
    """One number as the page writes it: 0.0195 or 4.17e-5 below 1e-3, the minus sign as −."""
    if x == 0:
        return "0"
    if abs(x) < 1e-3 or abs(x) >= 1e6:
        mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        text = f"{mantissa}e{int(exponent):+d}"
    else:
        text = f"{float(f'{x:.{digits}g}'):.{digits + 2}g}"
    return text.replace("-", "−")


COMPUTE = """g => { const r = nnscopeBPTT.compute(g.network, g.params);
  return {nodes: r.nodes, central: r.central, lossAfter: r.lossAfter === undefined ? null : r.lossAfter,
          bAfter: r.bAfter || null}; }"""


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_browser_recomputes_python_to_1e_12_on_random_parameters(graph_page, seed):
    rnn, lstm = random_params(seed)
    for solution in (rnn_solution(rnn), lstm_solution(lstm)):
        graph = to_jsonable(solution["graph"])
        got = graph_page.evaluate(COMPUTE, graph)
        assert_same_nodes(graph, got["nodes"])
        np.testing.assert_allclose(got["central"], graph["central_difference"], rtol=1e-9, atol=1e-12)
        if graph["network"] == "rnn":
            np.testing.assert_allclose(got["bAfter"], solution["b_after_step"], rtol=1e-12, atol=1e-12)
            assert got["lossAfter"] == pytest.approx(solution["loss_after_step"], rel=1e-12)


def test_the_report_graph_shows_the_assignments_values(graph_page):
    rnn = run_rnn()
    got = graph_page.evaluate("() => document.getElementById('bptt-rnn').result.nodes")
    assert_same_nodes(to_jsonable(rnn["graph"]), got)
    box = graph_page.locator("#bptt-rnn g.node[data-id='h:1'] .name").text_content()
    assert box == "h(1) = [" + ", ".join(number(v, 3) for v in rnn["steps"][0]["h"]) + "]"
    assert graph_page.locator("#bptt-rnn g.node").count() == 1 + 3 * 5 + 1  # h(0), five lanes by three steps, L


def test_a_click_shows_the_equation_and_derivative_with_the_nodes_numbers(graph_page):
    rnn, lstm = run_rnn(), run_lstm()
    def fmt(v, digits=4):
        """A vector as the page writes it: each entry to `digits` significant digits, the minus sign as −."""
        return "[" + ", ".join(number(x, digits) for x in v) + "]"

    graph_page.click("#bptt-rnn g.node[data-id='a:2']")
    detail = graph_page.locator("#bptt-rnn .bptt-detail")
    equation, derivative = detail.locator(".equation").inner_text(), detail.locator(".derivative").inner_text()
    assert equation.startswith("a(2) = b + W h(1) + U x(2) = [−1, 1] + ")
    assert fmt(rnn["steps"][0]["h"]) in equation and fmt(rnn["steps"][1]["x"]) in equation
    assert derivative.startswith(f"dL/da(2) = dL/dh(2) ⊙ (1 − h(2)²) = {fmt(rnn['steps'][1]['dL_dh'])}")
    assert "L (dL/d· = 1) → y(3)" in detail.locator(".chain").inner_text()
    links = detail.locator(".chain-steps li").all_inner_texts()  # the chain of products, one link per node
    assert links[0].startswith("dL/dy(3) = [2(y₁ − 0.5), −1/y₂]") and links[-1] == derivative
    assert links[2].startswith("dL/dh(3) = Vᵀ dL/do(3)") and len(links) == 6  # y(3), o(3), h(3), a(3), h(2), a(2)

    graph_page.click("#bptt-rnn g.node[data-id='L']")
    y = rnn["outputs"][-1]
    assert f"(y₁(3) − 0.5)² − log y₂(3) = ({number(y[0], 6)} − 0.5)²" in detail.locator(".equation").inner_text()

    graph_page.click("#bptt-lstm g.node[data-id='f:2']")
    detail = graph_page.locator("#bptt-lstm .bptt-detail")
    step = lstm["steps"][1]
    assert detail.locator(".equation").inner_text().startswith("f(2) = σ(b_f + U_f x(2) + W_f h(1)) = σ([1, 1] + ")
    equation = detail.locator(".equation").inner_text()
    assert f"· {fmt(lstm['steps'][0]['h'])}) = {fmt(step['f'], 6)}" in equation and equation.endswith("(forget gate)")
    derivative = detail.locator(".derivative").inner_text()
    assert derivative.startswith(f"dL/df(2) = dL/ds(2) ⊙ s(1) = {fmt(step['dL_ds'])} ⊙ {fmt(lstm['steps'][0]['s'])}")
    assert derivative.endswith(f"dL/df(2) ⊙ f(1 − f) = {fmt(step['dL_db_f_contribution'], 6)}")


@pytest.mark.parametrize("network,bias,key", [("rnn", "b", "dL_db_sum_from_T_down_to_t"),
                                              ("lstm", "b_f", "dL_db_f_sum_from_T_down_to_t")])
def test_the_slider_walks_bptt_back_and_sums_to_the_central_difference(graph_page, network, bias, key):
    result = run_rnn() if network == "rnn" else run_lstm()
    box = f"#bptt-{network}"
    slider = graph_page.locator(f"{box} .bptt-step")
    for t in (3, 2, 1):
        slider.fill(str(t))
        shown = json.loads(graph_page.locator(f"{box} .bptt-sum .running").inner_text().replace("−", "-"))
        np.testing.assert_allclose(shown, result["steps"][t - 1][key], rtol=1e-9)
        lit = set(graph_page.eval_on_selector_all(f"{box} g.node.known", "e => e.map(n => n.dataset.id)"))
        assert f"h:{t - 1}" in lit and (t == 1 or f"x:{t - 1}" not in lit)
    fd = result["grad_b_finite_difference" if network == "rnn" else "grad_b_f_finite_difference"]
    np.testing.assert_allclose(shown, fd, rtol=1e-6)  # the full sum is the gradient: central differences agree
    central = json.loads(graph_page.locator(f"{box} .bptt-sum .central").inner_text().replace("−", "-"))
    np.testing.assert_allclose(central, fd, rtol=1e-9)
    known = graph_page.eval_on_selector_all(f"{box} .bptt-params button.known", "e => e.map(n => n.dataset.id)")
    assert bias in known  # after t = 1 every parameter's gradient is summed


@pytest.mark.parametrize("radius,length,bias", [(0.5, 120, 0.0), (1.0, 60, 1.0), (2.0, 120, 3.0), (1.3, 17, -1.0)])
def test_the_vanishing_sliders_redraw_the_python_measurement(graph_page, tiny_longseq, radius, length, bias):
    """The explorer's curves are longseq.py's on the same batch (its last `length` residues) and the same draws."""
    import torch

    from nnscope.recurrent.longseq import lstm_gradient_profile, rnn_gradient_profile

    _, result = tiny_longseq
    data = result["gradients"]["explorer"]
    tokens, labels = np.array(data["tokens"])[:, -length:], np.array(data["labels"])
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    net = {"W": t(data["W_unit"]) * radius, "U": t(data["U"]), "b": torch.zeros(len(data["W_unit"]), dtype=torch.float64),
           "V": t(data["V"]), "c": t(data["c"])}
    rnn = rnn_gradient_profile(net, tokens, labels, data["far"])["log10"]["dL_dh"]
    params = {k: t(v) for k, v in data["lstm"].items()}
    params["b_f"] = torch.full_like(params["b"], bias)
    lstm = lstm_gradient_profile(params, tokens, labels, data["far"])["log10"]["dL_ds_cell"]
    got = graph_page.evaluate("([d, r, n, b]) => [nnscopeBPTT.rnnProfile(d, r, n), nnscopeBPTT.lstmProfile(d, b, n)]",
                              [data, radius, length, bias])
    np.testing.assert_allclose(got[0], rnn, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got[1], lstm, rtol=0, atol=1e-9)


def test_the_vanishing_explorer_at_the_studys_settings_is_the_measured_figure(graph_page, tiny_longseq):
    _, result = tiny_longseq
    data = result["gradients"]["explorer"]
    row = next(r for r in result["gradients"]["rnn"] if r["length"] == len(data["tokens"][0]) and r["spectral_radius"] == 2.0)
    cell = next(r for r in result["gradients"]["lstm"] if r["length"] == len(data["tokens"][0]) and r["forget_bias"] == 1.0)
    got = graph_page.evaluate("([d, n]) => [nnscopeBPTT.rnnProfile(d, 2.0, n), nnscopeBPTT.lstmProfile(d, 1.0, n)]",
                              [data, len(data["tokens"][0])])
    np.testing.assert_allclose(got[0], row["log10"]["dL_dh"], rtol=1e-5)  # the result keeps 6 digits
    np.testing.assert_allclose(got[1], cell["log10"]["dL_ds_cell"], rtol=1e-5)
    graph_page.set_content("<div id='v' data-vanishing='d'></div><script type='application/json' id='d'></script>")
    graph_page.add_script_tag(path=str(Path(__file__).parents[2] / "src/nnscope/report/templates/bptt-graph.js"))
    graph_page.evaluate("d => { document.getElementById('d').textContent = JSON.stringify(d); nnscopeBPTT.mountAll(document); }", data)
    graph_page.locator("#v .radius").fill("2")
    graph_page.locator("#v .length").fill(str(len(data["tokens"][0])))
    curves = graph_page.evaluate("() => document.getElementById('v').curves")
    np.testing.assert_allclose(curves["rnn"], row["log10"]["dL_dh"], rtol=1e-5)
    assert graph_page.locator("#v polyline.rnn-line").count() == 1


def test_problem4_renders_its_tables_figures_and_sliders(browser, tiny_longseq):
    folder, result = tiny_longseq
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(page_html(folder, result), wait_until="load")
    page.wait_for_function("() => document.querySelector('#vanishing svg polyline') !== null")
    assert not problems, problems
    text = page.inner_text("#problem4")
    assert "`" not in text and "10^" not in text
    for key in ("4.1", "4.2", "4.3"):
        assert result["answers"][key] in text
    assert page.locator("#problem4 img").count() == 4
    assert page.locator("#problem4 .answer").count() == 3
