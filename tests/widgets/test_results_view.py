"""The notebook view of a result (nnscope.results): key numbers, the main figure inline, the sentences; a
typed result with a registered drawing and a plain dict through show()."""

import base64
import dataclasses
import io

import numpy as np
import pytest

from nnscope.report.drawing import drawing_of
from nnscope.results import PlainResult, Result, show


@dataclasses.dataclass
class SquareResult(Result):
    title = "a square"
    side: int
    area: float
    pixels: np.ndarray
    finding: list


@drawing_of.register
def _(result: SquareResult):
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1))
    axes.imshow(result.pixels)
    return figure


def square() -> SquareResult:
    sentences = [f"The square's side is {k} px." for k in range(1, 6)]
    return SquareResult(side=3, area=9.123456, pixels=np.eye(3), finding=sentences)


def test_the_view_has_the_numbers_the_figure_and_the_sentences():
    view = square()._repr_html_()
    assert "<th style='text-align:left;padding:0 .6em 0 0;font-weight:normal'>side</th><td style='text-align:right'>3</td>" in view
    assert ">9.123<" in view  # 4 significant digits
    assert "pixels" not in view.split("<img")[0]  # an array is not a key number
    uri = view.split("src='")[1].split("'")[0]
    assert uri.startswith("data:image/png;base64,")
    from PIL import Image

    picture = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert picture.format == "PNG" and 100 < picture.width < 200  # 2 inches at 80 dpi, cropped tight
    shown, folded = view.split("<details>")
    assert [f"side is {k} px" in shown for k in range(1, 6)] == [True, True, True, False, False]
    assert "2 more" in folded and "side is 5 px" in folded


def test_figure_and_json_and_dict_reading():
    result = square()
    assert result.figure().get_size_inches().tolist() == [2, 1]
    assert result.to_json()["pixels"] == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    assert result["side"] == 3 and "area" in result and result.get("nothing", 7) == 7


def test_a_plain_dict_shows_its_scalars_and_sentences_without_a_figure():
    values = {"index": np.int64(4), "seconds": 1.5, "maps": np.zeros((2, 2)), "finding": {"a": "One.", "b": "Two."}}
    view = show(values, "plain")
    assert isinstance(view, PlainResult) and view["index"] == 4
    html = view._repr_html_()
    assert "<strong>plain</strong>" in html and ">4<" in html and ">1.5<" in html
    assert "<li>One.</li><li>Two.</li>" in html and "<img" not in html
    with pytest.raises(NotImplementedError):
        view.figure()
    typed = square()
    assert show(typed) is typed
