"""The report page in a real browser: Debian's Chromium, headless, driven by Playwright.

Served by a local HTTP server on 127.0.0.1 and opened from the file system; screenshots go to
test-artifacts/ (git-ignored) for people to look at."""

import functools
import http.server
import json
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECTIONS = ["training", "problem1", "problem2", "problem3", "problem4", "problem5", "provenance"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def served(quick_report):
    """(base URL, folder, results) of the quick report behind a local HTTP server on a free port."""
    out, _ = quick_report
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(out)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", out, json.loads((out / "results.json").read_text())
    server.shutdown()
    server.server_close()


def open_page(browser, url: str, width: int = 1366, height: int = 900):
    """A page at `url` with its console errors and any request that leaves the machine recorded."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"network: {r.url}")
            if not r.url.startswith(("http://127.0.0.1", "data:", "file:")) else None)
    page.goto(url, wait_until="load")
    return page, problems


def test_every_section_and_figure_renders(served, browser):
    url, out, results = served
    page, problems = open_page(browser, url)
    for section in SECTIONS:
        assert page.locator(f"section#{section}").is_visible(), section
        assert page.locator(f"section#{section} h2").inner_text().strip()
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.naturalWidth, e.alt, e.dataset.file])")
    expected = [f["file"] for s in results["sections"].values() for f in s.get("figures", [])]
    assert sorted(i[2] for i in images) == sorted(expected)
    for width, alt, file in images:
        assert width > 0, f"{file} did not load"
        assert len(alt) > 10, f"{file} has no alt text"
    for name, section in results["sections"].items():
        if not section["available"]:
            assert section["reason"] in page.inner_text("main")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report-laptop.png", full_page=True)
    assert problems == []


def test_page_reads_on_a_phone_width_and_from_the_file_system(served, browser):
    url, out, _ = served
    page, problems = open_page(browser, (out / "index.html").as_uri(), width=390, height=844)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than a phone screen"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report-phone.png", full_page=True)
    assert problems == []


def test_shift_slider_shows_the_prediction_of_every_shift(served, browser):
    url, _, results = served
    shift = results["sections"]["shift"]
    assert shift["available"], shift.get("reason")
    slider = shift["slider"]
    page, problems = open_page(browser, url)
    handle = page.locator("#shift-range")
    handle.focus()  # keyboard: the slider takes focus and moves with the arrow keys
    page.keyboard.press("Home")
    shown = []
    for i, dx in enumerate(slider["shifts"]):
        assert handle.input_value() == str(dx)
        readout = page.locator("#shift-readout")
        assert readout.get_attribute("data-prediction") == str(slider["predictions"][i])
        assert f"predicted {slider['predictions'][i]}" in readout.inner_text()
        shown.append(readout.inner_text())
        page.keyboard.press("ArrowRight")
    assert len(set(shown)) == len(slider["shifts"])  # every position says something different
    if len(set(slider["predictions"])) > 1:  # the prediction the page shows changes with the slider
        assert len({s.split("predicted ")[1][0] for s in shown}) > 1
    handle.scroll_into_view_if_needed()
    page.locator("#shift-widget").screenshot(path=ARTIFACTS / "report-shift-slider.png")
    assert problems == []


def test_feature_map_browser_steps_through_channels(served, browser):
    url, _, results = served
    fmaps = results["sections"]["featuremaps"]
    assert fmaps["available"], fmaps.get("reason")
    page, problems = open_page(browser, url)
    readout = page.locator("#fmap-readout")
    pixels = "() => Array.from(document.getElementById('fmap-canvas-0').getContext('2d').getImageData(0, 0, 7, 7).data).join()"
    first_text, first_pixels = readout.inner_text(), page.evaluate(pixels)
    assert f"channel {fmaps['channel_ranking'][0]['channel']}," in first_text
    page.locator("#fmap-next").click()
    assert f"channel {fmaps['channel_ranking'][1]['channel']}," in readout.inner_text()
    assert page.evaluate(pixels) != first_pixels
    page.locator("#fmap-rank").focus()
    page.keyboard.press("End")
    assert f"channel {fmaps['channel_ranking'][-1]['channel']}," in readout.inner_text()
    assert problems == []


def test_occlusion_explorer_follows_the_pointer_and_the_keys(served, browser):
    url, _, results = served
    occlusion = results["sections"]["occlusion"]
    assert occlusion["available"], occlusion.get("reason")
    explorer = occlusion["explorer"]
    page, problems = open_page(browser, url)
    canvas, readout = page.locator("#explorer-image"), page.locator("#explorer-readout")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    cell = box["width"] / len(explorer["image"])  # screen pixels per image pixel
    half = explorer["patch"] / 2

    def position():
        return int(canvas.get_attribute("data-row")), int(canvas.get_attribute("data-col"))

    def check(row, col):
        probabilities = explorer["probabilities"][row][col]
        best = max(range(10), key=lambda k: probabilities[k])
        assert readout.get_attribute("data-prediction") == str(best)
        assert f"row {explorer['starts'][row]}, column {explorer['starts'][col]}" in readout.inner_text()
        assert f"P('{explorer['digit']}') = {probabilities[explorer['digit']]:.4f}" in readout.inner_text()

    seen = set()
    for row, col in ((0, 0), (6, 3), (12, 12), (20, 20)):  # the pointer holds the middle of the patch
        page.mouse.move(box["x"] + (col + half + 0.5) * cell, box["y"] + (row + half + 0.5) * cell)
        assert position() == (row, col)
        check(row, col)
        seen.add(readout.inner_text())
    assert len(seen) == 4, "the explorer must show something new at every position"
    canvas.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowUp")
    assert position() == (19, 19)
    check(19, 19)
    page.locator("#occlusion-explorer").screenshot(path=ARTIFACTS / "report-occlusion-explorer.png")
    assert problems == []
