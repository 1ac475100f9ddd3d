"""The live page's /rnn in Chromium against a real server: Problems 3 and 5 editable, the browser's
recomputation equal to nnscope.recurrent to 1e-12 after every edit, bad edits named in one line."""

import json

import numpy as np
import pytest

from browser_steps import watched_page
from nnscope.fileio import to_jsonable
from nnscope.recurrent.lstm import lstm_loss, lstm_solution, run_lstm
from nnscope.recurrent.params import LSTMParams, RNNParams
from nnscope.recurrent.rnn import rnn_solution, run_rnn

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def rnn_page_url():
    from nnscope.model import CNN
    from nnscope.models import load_model
    from nnscope.serve import Server, bind, create_app

    server = Server(create_app(load_model(CNN().eval(), input_shape=(1, 28, 28)), warm_up=False), bind("127.0.0.1", 0)).start()
    yield server.url.rstrip("/") + "/rnn"
    server.stop()


@pytest.fixture
def page(browser, rnn_page_url):
    with watched_page(browser, rnn_page_url, "() => document.querySelector('#bptt-lstm svg') !== null") as page:
        yield page


def nodes(page, network: str) -> dict:
    return page.evaluate(f"() => document.getElementById('bptt-{network}').result.nodes")


def assert_same(graph: dict, got: dict) -> None:
    assert {n["id"] for n in graph["nodes"]} == set(got)
    for node in graph["nodes"]:
        for key in ("value", "grad"):
            np.testing.assert_allclose(got[node["id"]][key], node[key], rtol=1e-12, atol=1e-12, err_msg=node["id"])


def edit(page, network: str, fields: dict, learning_rate: float) -> None:
    section = f"#edit-{network}"
    page.fill(f"{section} .learning-rate", repr(learning_rate))
    page.fill(f"{section} .params", json.dumps(fields))
    page.wait_for_function(f"() => document.querySelector('{section}').dataset.valid === 'true'")


def test_the_page_starts_from_the_assignments_values(page):
    assert_same(to_jsonable(run_rnn()["graph"]), nodes(page, "rnn"))
    assert_same(to_jsonable(run_lstm()["graph"]), nodes(page, "lstm"))


@pytest.mark.parametrize("seed", [0, 1])
def test_edited_parameters_sequence_and_learning_rate_recompute_as_python_does(page, seed):
    rng = np.random.default_rng(seed)
    n, d, T = 3, 2, 7 + seed
    fields = {"b": rng.normal(size=n), "c": rng.normal(size=2), "W": rng.normal(size=(n, n)), "U": rng.normal(size=(n, d)),
              "V": rng.normal(size=(2, n)), "x": rng.normal(size=(T, d))}
    rnn = RNNParams(**fields, h0=np.zeros(n), learning_rate=0.03)
    edit(page, "rnn", to_jsonable(fields), 0.03)
    solution = rnn_solution(rnn)
    assert_same(to_jsonable(solution["graph"]), nodes(page, "rnn"))
    after = page.evaluate("() => { const r = document.getElementById('bptt-rnn').result; return [r.bAfter, r.lossAfter]; }")
    np.testing.assert_allclose(after[0], solution["b_after_step"], rtol=1e-12)
    assert after[1] == pytest.approx(solution["loss_after_step"], rel=1e-12)
    assert page.locator("#bptt-rnn g.node").count() == 1 + 5 * T + 1

    gates = {"b_f": rng.normal(size=n), "b_g": rng.normal(size=n), "b_o": rng.normal(size=n)}
    lstm = LSTMParams(**fields, **gates, h0=np.zeros(n), s0=np.zeros(n), learning_rate=0.5)
    edit(page, "lstm", to_jsonable({**fields, **gates}), 0.5)
    solution = lstm_solution(lstm)
    assert_same(to_jsonable(solution["graph"]), nodes(page, "lstm"))
    after = page.evaluate("() => { const r = document.getElementById('bptt-lstm').result; return [r.bAfter, r.lossAfter]; }")
    b_after = lstm.b_f - 0.5 * solution["grad_b_f_bptt"]
    np.testing.assert_allclose(after[0], b_after, rtol=1e-12)
    assert after[1] == pytest.approx(lstm_loss(lstm.with_value("b_f", b_after)), rel=1e-12)


def test_steps_can_be_added_up_to_ten_and_a_bad_edit_is_named(page):
    for _ in range(12):
        page.click("#edit-rnn .add-step")
    assert page.locator("#bptt-rnn g.node[data-id='x:10']").count() == 1
    assert page.locator("#bptt-rnn g.node[data-id='x:11']").count() == 0
    page.click("#edit-rnn .remove-step")
    assert page.locator("#bptt-rnn g.node[data-id='x:10']").count() == 0
    fields = json.loads(page.input_value("#edit-rnn .params"))
    fields["W"] = [[1, 2]]
    page.fill("#edit-rnn .params", json.dumps(fields))
    assert page.inner_text("#edit-rnn .error") == "W: shape (1, 2); expected (2, 2)"
    assert page.locator("#bptt-rnn g.node[data-id='x:9']").count() == 1  # the last good graph stays
    page.fill("#edit-rnn .params", "{")
    assert page.inner_text("#edit-rnn .error").startswith("parameters: not valid JSON")
    page.click("#edit-rnn .reset")
    assert page.inner_text("#edit-rnn .error") == ""
    assert_same(to_jsonable(run_rnn()["graph"]), nodes(page, "rnn"))


def test_the_digit_page_links_to_it_and_it_keeps_the_pages_security_headers(rnn_page_url):
    import httpx

    base = rnn_page_url.removesuffix("/rnn")
    assert 'href="/rnn"' in httpx.get(base + "/").text
    page = httpx.get(rnn_page_url)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text  # no inline script: the CSP would block it
    for path in ("/static/bptt-graph.js", "/static/rnn-page.js", "/static/bptt-graph.css"):
        assert httpx.get(base + path).status_code == 200, path
