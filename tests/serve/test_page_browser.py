"""The live page in Debian's Chromium (headless, Playwright) against a real server: a stroke drawn with
the mouse or the keyboard, the panels it updates checked against the model run here, a phone's width.
Screenshots go to test-artifacts/ (git-ignored)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import browser_steps

pytestmark = [pytest.mark.slow, pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    """The page, its console errors and requests leaving 127.0.0.1 recorded, and the analyze payloads sent."""
    page = browser.new_page(viewport={"width": width, "height": height})
    problems, payloads = [], []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"network: {r.url}")
            if not r.url.startswith(("http://127.0.0.1", "data:", "blob:")) else None)
    page.on("request", lambda r: payloads.append(json.loads(r.post_data)) if r.url.endswith("/api/analyze") else None)
    page.goto(url, wait_until="load")
    return page, problems, payloads


def settle(page) -> None:
    """Wait until no analyze is in flight or pending and the last answer is on the page."""
    page.wait_for_function("() => { const s = window.nnscopeServe.state; return !s.inFlight && !s.pending && "
                           "s.sequence > 0 && document.body.dataset.analyzed == String(s.sequence); }", timeout=60_000)


def probabilities(model, image) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(np.asarray(image, np.float32))[None, None]), 1)[0].numpy()


def bar_values(page, container: str) -> list[float]:
    return [float(v) for v in page.locator(f"#{container} .v").all_inner_texts()]


def draw_vertical_stroke(page) -> None:
    """A '1' drawn down the middle of the live page's pad."""
    browser_steps.draw_vertical_stroke(page, page.locator("#pad"), moves=20)


def check_panels(page, model, payload) -> None:
    """Bars, explorer and shift readouts against the model run here on the input the page sent."""
    image = np.array(payload["image"], np.float32)
    expected = probabilities(model, image)
    np.testing.assert_allclose(bar_values(page, "bars"), expected, atol=6e-5)  # shown with 4 decimals
    row, col = int(page.locator("#explorer").get_attribute("data-row")), int(page.locator("#explorer").get_attribute("data-col"))
    patch, stride, fill = payload["patch"], payload["stride"], payload["fill"]
    occluded = image.copy()
    occluded[row * stride : row * stride + patch, col * stride : col * stride + patch] = fill
    np.testing.assert_allclose(bar_values(page, "explorer-bars"), probabilities(model, occluded), atol=6e-5)
    dx = int(page.locator("#shift").input_value())
    shifted = image[:, np.clip(np.arange(28) - dx, 0, 27)]
    np.testing.assert_allclose(bar_values(page, "shift-bars"), probabilities(model, shifted), atol=6e-5)
    assert page.locator("#shift-readout").get_attribute("data-prediction") == str(probabilities(model, shifted).argmax())


def canvas_colours(page, selector: str) -> int:
    """How many different colours a canvas shows."""
    return page.evaluate("""sel => { const c = document.querySelector(sel), d = c.getContext('2d')
        .getImageData(0, 0, c.width, c.height).data, seen = new Set();
        for (let i = 0; i < d.length; i += 4) seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]); return seen.size; }""",
                         selector)


def test_a_drawn_vertical_stroke_is_a_one_and_every_panel_follows(served, browser):
    url, model, _ = served
    page, problems, payloads = open_page(browser, url)
    draw_vertical_stroke(page)
    settle(page)
    assert len(payloads) >= 2  # the page sent while the stroke grew, not only at the end
    readout = page.locator("#readout")
    assert readout.get_attribute("data-prediction") == "1", readout.inner_text()
    check_panels(page, model, payloads[-1])
    seen = np.array(payloads[-1]["image"])  # the MNIST preprocessing: ink within a 20 x 20 box, centred by mass
    rows, cols = np.nonzero(seen > 0.05)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21
    mass = seen.sum()
    assert abs((seen.sum(1) @ np.arange(28)) / mass - 13.5) <= 1 and abs((seen.sum(0) @ np.arange(28)) / mass - 13.5) <= 1
    for selector in ("#fmap-conv1", "#fmap-conv2", "#fmap-conv3", "#map-class", "#map-max", "#seen"):
        assert canvas_colours(page, selector) > 2, selector
    before = page.locator("#explorer-readout").inner_text()
    box = page.locator("#explorer").bounding_box()
    page.locator("#explorer").hover(position={"x": box["width"] * 0.5, "y": box["height"] * 0.45})  # onto the stroke
    assert page.locator("#explorer-readout").inner_text() != before
    check_panels(page, model, payloads[-1])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "serve-laptop.png", full_page=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / "serve-first-screen.png")  # docs/images/serve.png is one of these
    assert problems == []


def test_the_keyboard_draws_loads_explores_and_shifts(served, browser):
    url, model, mnist = served
    page, problems, payloads = open_page(browser, url)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the header's link to /rnn
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "pad"
    page.keyboard.press("Space")  # pen down, then 12 steps of 12 px down: a vertical stroke
    for _ in range(12):
        page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    settle(page)
    assert page.locator("#readout").get_attribute("data-prediction") == "1"
    check_panels(page, model, payloads[-1])
    page.locator("#test-index").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('readout').textContent.includes('test image 3')")
    settle(page)
    image = (mnist.test_images[3] / 255.0).astype(np.float32)
    np.testing.assert_array_equal(np.array(payloads[-1]["image"], np.float32), image)  # sent as it is
    assert page.locator("#readout").get_attribute("data-prediction") == str(probabilities(model, image).argmax())
    explorer = page.locator("#explorer")
    explorer.focus()
    col = int(explorer.get_attribute("data-col"))
    page.keyboard.press("ArrowLeft" if col > 0 else "ArrowRight")
    assert abs(int(explorer.get_attribute("data-col")) - col) == 1
    page.locator("#shift").focus()
    page.keyboard.press("End")
    assert "6 px right" in page.locator("#shift-readout").inner_text()
    check_panels(page, model, payloads[-1])
    page.locator("#patch").fill("5")
    page.locator("#patch").press("Enter")  # a change of patch asks again
    page.locator("#stride").focus()
    settle(page)
    assert payloads[-1]["patch"] == 5
    check_panels(page, model, payloads[-1])
    page.locator("#pad").focus()
    page.keyboard.press("Delete")
    assert page.locator("#readout").inner_text() == "draw a digit"
    assert problems == []


def test_the_page_fits_a_phone(served, browser):
    url, model, _ = served
    page, problems, payloads = open_page(browser, url, width=390, height=844)
    draw_vertical_stroke(page)
    settle(page)
    assert page.locator("#readout").get_attribute("data-prediction") == "1"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than a phone screen"
    for selector in ("#pad", "#bars", "#explorer", "#fmap-conv3", "#shift"):
        box = page.locator(selector).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 391, selector
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "serve-phone.png", full_page=True)
    assert problems == []
