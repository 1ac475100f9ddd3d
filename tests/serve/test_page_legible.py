"""The live page reads at a glance: a predicted-label map in colours that are all distinct and none grey, a colour
scale for the probability maps, no large empty boxes before the first drawing, whole class names by the bars."""

import itertools
import math
import shutil
from pathlib import Path

import pytest
import torch

import user_nets  # tests/user_nets.py: tests/ is on the path (no __init__.py there)
from helpers import trained_like
from serve.test_page_browser import draw_vertical_stroke, open_page, settle
from serve.test_user_model_serve import serve

pytestmark = [pytest.mark.slow, pytest.mark.browser]
LONG_NAMES = ["blue_crocodile_of_the_nile", "red_kangaroo", "green_sea_turtle_hatchling", "tree", "car"]


def lab(colour: str) -> tuple[float, float, float]:
    """CIE L*a*b* (D65) of an sRGB '#rrggbb' colour: an independent measure of how far apart colours look."""
    rgb = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def assert_distinct_and_coloured(colours: list[str]) -> None:
    """No colour grey (chroma at least 20) or dark enough to vanish on the black canvas (L* at least 35); every two
    at least 20 apart (CIE76 ΔE; 2.3 is the smallest difference people see)."""
    for colour in colours:
        L, a, b = lab(colour)
        assert math.hypot(a, b) >= 20 and L >= 35, colour
    for c1, c2 in itertools.combinations(colours, 2):
        assert math.dist(lab(c1), lab(c2)) >= 20, (c1, c2)


def hex_of(rgb) -> str:
    return "#" + "".join(f"{v:02x}" for v in rgb)


def draw_a_seven(page) -> None:
    """A bar along the top and a stroke down to the bottom left, with the mouse."""
    box = page.locator("#pad").bounding_box()
    at = lambda fx, fy: (box["x"] + fx * box["width"], box["y"] + fy * box["height"])  # noqa: E731
    page.mouse.move(*at(0.25, 0.2))
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(*at(0.25 + 0.05 * k, 0.2))
    for k in range(1, 16):
        page.mouse.move(*at(0.75 - 0.02 * k, 0.2 + 0.045 * k))
    page.mouse.up()


def test_label_map_colours_are_distinct_none_grey_and_a_drawn_seven_is_in_colour(served, browser):
    url, model, _ = served
    page, problems, payloads = open_page(browser, url)
    # before the first drawing: the feature-map boxes take no room, each caption says when they come
    for figure in page.locator(".fmap").all():
        assert figure.locator("canvas").is_hidden()
        assert figure.bounding_box()["height"] < 60 and "after the first analysis" in figure.inner_text()
    palette = page.evaluate("Array.from({length: 10}, (_, k) => window.nnscopeServe.labelColour(k))")
    assert_distinct_and_coloured(palette)
    swatches = page.eval_on_selector_all("#legend i", "els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert swatches == [f"rgb({int(c[1:3], 16)}, {int(c[3:5], 16)}, {int(c[5:7], 16)})" for c in palette]

    draw_a_seven(page)
    settle(page)
    labels = page.evaluate("() => window.nnscopeServe.state.result.occlusion.predicted_label")
    pixels = page.evaluate("""() => { const c = document.getElementById('map-label'), d = c.getContext('2d')
        .getImageData(0, 0, c.width, c.height).data, out = [];
        for (let i = 0; i < d.length; i += 4) out.push([d[i], d[i + 1], d[i + 2]]); return out; }""")
    position = page.evaluate("() => window.nnscopeServe.state.position")
    cols = len(labels[0])
    for i, rgb in enumerate(pixels):
        r, c = divmod(i, cols)
        if (r, c) != (position["row"], position["col"]):  # the explorer's mark
            assert hex_of(rgb) == palette[labels[r][c]], (r, c, rgb)
    assert 7 in {label for line in labels for label in line} or page.locator("#readout").get_attribute(
        "data-prediction") != "7"  # where the model says '7', the map shows '7''s colour, not grey
    scale = page.locator("#probability-scale")
    assert scale.is_visible() and scale.inner_text().split() == ["probability", "0", "0.5", "1"]
    gradient = page.eval_on_selector("#probability-scale .scale-bar i", "e => getComputedStyle(e).backgroundImage")
    assert "rgb(0, 0, 0)" in gradient and "rgb(255, 255, 255)" in gradient  # the maps' grey: black 0, white 1
    for figure in page.locator(".fmap").all():  # drawn: the boxes show
        assert figure.locator("canvas").is_visible()
    assert problems == []


@pytest.fixture(scope="module")
def long_named(tmp_path_factory):
    """The live page of a user's 3 x 30 x 26 model whose class names are long."""
    from nnscope.models import load_model

    folder = tmp_path_factory.mktemp("long_names")
    shutil.copy(Path(user_nets.__file__), folder / "nets.py")
    torch.save(trained_like("ResidualNet").state_dict(), folder / "weights.pt")
    loaded = load_model(f"{folder / 'nets.py'}:ResidualNet", str(folder / "weights.pt"), input_shape=(3, 30, 26),
                             class_names=LONG_NAMES)
    server = serve(loaded)
    yield server.url
    server.stop()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_bars_show_whole_class_names(long_named, browser, width):
    page, problems, _ = open_page(browser, long_named, width=width, height=900)
    draw_vertical_stroke(page)
    settle(page)
    for container in ("bars", "explorer-bars"):
        names = page.eval_on_selector_all(f"#{container} .name", """els => els.map(e => {
            const r = e.getBoundingClientRect(), bar = e.nextElementSibling.getBoundingClientRect();
            return [e.innerText, e.scrollWidth <= e.clientWidth + 1, r.right <= bar.left + 1, r.height]; })""")
        assert [n[0].replace("\n", "") for n in names] == LONG_NAMES
        assert all(whole and clear for _, whole, clear, _ in names), names  # nothing cut, none under its bar
        if width >= 1000:  # room enough: every name on one line, as tall as 'car'
            assert max(n[3] for n in names) <= min(n[3] for n in names) + 1, names
    legend = page.locator("#legend").inner_text()
    assert all(name in legend for name in LONG_NAMES)
    assert problems == []
