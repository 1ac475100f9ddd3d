"""nnscope.widgets in the kernel: the data each widget shows, read from hand-made results, and Draw's answer
against the live page's API on the same model and image."""

import numpy as np
import pytest
import torch

pytest.importorskip("anywidget")

from nnscope.errors import NnscopeError  # noqa: E402
from nnscope.widgets import Draw, FeatureMapBrowser, OcclusionExplorer, ShiftSlider, module_source  # noqa: E402


def occlusion_result() -> dict:
    """A 2 x 3 grid of positions of a 4 x 5 image in bytes, three classes, probabilities made by hand."""
    probabilities = np.arange(18, dtype=float).reshape(2, 3, 3) / 20
    return {"image": np.array([[0, 255, 51, 0, 0]] * 4, np.uint8), "patch": 2, "stride": [2, 1], "fill": 0.0,
            "starts": [0, 2], "col_starts": [0, 1, 3], "digit": 1, "probabilities": probabilities,
            "class_names": ["cat", "dog", "owl"], "finding": ["made by hand"]}


def test_the_explorer_reads_an_occlusion_result_as_the_report_does():
    data = OcclusionExplorer(occlusion_result()).data
    assert data["input"][0] == [0.0, 1.0, 0.2, 0.0, 0.0]  # bytes to [0, 1]
    assert data["row_starts"] == [0, 2] and data["col_starts"] == [0, 1, 3]
    assert data["class"] == 1 and data["classes"] == ["cat", "dog", "owl"]
    assert data["probabilities"][1][2] == [15 / 20, 16 / 20, 17 / 20]
    assert data["stride"] == [2, 1] and data["patch"] == 2
    static = OcclusionExplorer(occlusion_result())._repr_mimebundle_()[0]["text/html"]  # where widgets cannot run
    assert "<li>made by hand</li>" in static and ">1<" in static  # the sentences and the digit


def test_a_square_grid_without_col_starts_uses_the_row_starts_and_digit_names():
    result = {**occlusion_result(), "col_starts": None, "class_names": None}
    del result["col_starts"], result["class_names"]
    result["probabilities"] = result["probabilities"][:, :2]
    data = OcclusionExplorer(result).data
    assert data["col_starts"] == [0, 2] and data["classes"] == ["0", "1", "2"]


@pytest.mark.parametrize("widget, result, words", [
    (OcclusionExplorer, {"probabilities": []}, "an occlusion result"),
    (ShiftSlider, {"digit": 1}, "ShiftOptions(slider=6)"),
    (FeatureMapBrowser, {"pair": [0, 8]}, "a feature-maps result"),
])
def test_a_result_of_another_kind_is_refused_in_one_line(widget, result, words):
    with pytest.raises(NnscopeError, match=r"^result: expected") as error:
        widget(result)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_the_slider_and_the_browser_take_the_report_s_data():
    slider = {"shifts": [-1, 0, 1], "images": [np.full((2, 2), 255, np.uint8)] * 3, "padding": "clamp",
              "predictions": [0, 1, 1], "probabilities": [[0.6, 0.4], [0.3, 0.7], [0.2, 0.8]]}
    data = ShiftSlider({"slider": slider}).data
    assert data["images"][0] == [[1.0, 1.0], [1.0, 1.0]] and data["predictions"] == [0, 1, 1]
    assert data["classes"] == ["0", "1"]
    ranking = [{"channel": 2, "effect_size": 1.5, "higher_for": 0, "where": "centre", "mean": [1, 2]}]
    maps = {"pair": [0, 8], "layer": "relu3", "channel_ranking": ranking,
            "examples": [{"feature_maps": np.zeros((3, 2, 2))}, {"feature_maps": np.ones((3, 2, 2))}]}
    data = FeatureMapBrowser(maps).data
    assert data["ranking"] == [{"channel": 2, "effect_size": 1.5, "higher_for": 0, "where": "centre"}]
    assert data["pair"] == ["0", "8"] and np.array(data["maps"]).shape == (2, 3, 2, 2)


def test_the_module_carries_the_one_shared_widget_source():
    from nnscope.frontend import source

    shared = source("widgets.js")
    assert module_source().count(shared) == 1
    assert "export default" in module_source()


@pytest.fixture(scope="module")
def small_cnn():
    from nnscope.model import CNN

    torch.manual_seed(0)
    return CNN().eval()


def a_stroke() -> np.ndarray:
    image = np.zeros((1, 28, 28), np.float32)
    image[0, 4:24, 13:16] = 1.0
    return image


def test_draw_answers_with_the_json_of_the_live_page_s_api(small_cnn):
    from nnscope.fileio import to_jsonable
    from nnscope.serve.analysis import analyze

    widget = Draw(small_cnn)
    expected = to_jsonable(analyze(small_cnn, a_stroke(), patch=5, stride=2, fill=0.5))
    answer = widget.analyze(a_stroke(), patch=5, stride=2, fill=0.5)
    assert answer.keys() == expected.keys()
    for key in ("prediction", "probabilities", "occlusion", "shift", "feature_maps"):
        assert answer[key] == expected[key], key
    assert widget.config["classes"] == [str(k) for k in range(10)] and widget.config["page"] == "digits"


def test_a_request_from_the_front_end_sets_the_result_and_a_bad_one_an_error(small_cnn):
    widget = Draw(small_cnn)
    widget.request = {"image": a_stroke().tolist(), "patch": 8, "stride": 1, "fill": 0, "sequence": 3}
    with torch.no_grad():
        expected = torch.softmax(small_cnn(torch.from_numpy(a_stroke())[None]), 1)[0].numpy()
    np.testing.assert_allclose(widget.result["probabilities"], expected, rtol=1e-6)
    assert widget.result["sequence"] == 3 and "error" not in widget.result
    assert len(widget.result["occlusion"]["probabilities"]) == 21
    widget.request = {"image": a_stroke().tolist(), "patch": 99, "sequence": 4}
    assert widget.result["error"].startswith("patch:") and widget.result["sequence"] == 4
    assert widget.result["probabilities"] == pytest.approx(expected.tolist(), rel=1e-6)  # the last answer stays
    assert "predicted" in widget._repr_mimebundle_()[0]["text/html"]
