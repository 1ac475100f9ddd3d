"""The tutorial in a real JupyterLab in a real browser: JupyterLab on 127.0.0.1, a free port and a temporary
token, the tutorial opened in Debian's Chromium (headless, Playwright), its setup and Draw cells run, a stroke
drawn with the mouse; the probabilities and the occlusion map the widget shows are checked against the model
run here and the kernel's own answer. The server is stopped by its process."""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from browser_steps import draw_vertical_stroke

pytest.importorskip("jupyterlab")
pytest.importorskip("anywidget")

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.ipynb"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# the kernel's side of the check: what Draw received and answered, printed for the test to read
KERNEL_SIDE = ('import json; print("NNSCOPE " + json.dumps({"image": pad.request["image"], '
               '"probabilities": pad.result["probabilities"], "occlusion": pad.result["occlusion"]}))')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(trained_checkpoint, tmp_path_factory):
    """(URL of the tutorial in JupyterLab, token): the server runs in a fresh folder with its own settings."""
    folder = tmp_path_factory.mktemp("lab")
    notebook = nbformat.read(TUTORIAL, as_version=4)
    for cell in notebook.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = f"CHECKPOINT = {str(trained_checkpoint)!r}"
    nbformat.write(notebook, folder / "tutorial.ipynb")
    settings = folder / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))  # every cell in the DOM
    port, token = free_port(), secrets.token_hex(16)
    source_root = str(Path(__import__("nnscope").__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")])),
           "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings"), "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
           "JUPYTER_CONFIG_DIR": str(folder / "config")}
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={folder}", "--ServerApp.port_retries=0",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],  # CI containers run as root
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=open(folder / "server.log", "w"))
    try:
        deadline = time.monotonic() + 180  # JupyterLab starts in seconds on an idle machine
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()[-2000:]
                time.sleep(0.5)
        sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
        yield f"http://127.0.0.1:{port}/lab/tree/tutorial.ipynb?token={token}", sources
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(folder, ignore_errors=True)


def run_cell(page, cell) -> None:
    """Put the cursor in `cell` and run it (Shift+Enter)."""
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")


def test_draw_in_jupyterlab_shows_the_kernel_s_probabilities_and_occlusion_map(lab, browser, trained_model):
    page = browser.new_page(viewport={"width": 1400, "height": 2300})  # the whole widget on screen for its picture
    problems = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: problems.append(f"network: {r.url}")
            if not r.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")) else None)
    url, sources = lab
    page.goto(url)
    selector = ".jp-Notebook .jp-Cell.jp-CodeCell"
    page.wait_for_function(f"() => document.querySelectorAll('{selector}').length === {len(sources)}", timeout=180_000)
    cells = page.locator(selector)  # every code cell in the page, in the notebook's order
    wanted = [next(i for i, s in enumerate(sources) if s.startswith(start))
              for start in ("CHECKPOINT =", "from pathlib import Path", "pad = Draw(model)")]
    for index in wanted:
        cells.nth(index).scroll_into_view_if_needed()
        assert cells.nth(index).locator(".jp-InputArea-editor").inner_text().strip().startswith(sources[index][:12])
        run_cell(page, cells.nth(index))
    widget = page.locator(".nnscope-draw")
    widget.wait_for(timeout=300_000)  # the setup cell loads MNIST and the model
    pad = widget.locator("canvas.pad")
    pad.scroll_into_view_if_needed()
    draw_vertical_stroke(page, pad)
    page.wait_for_function("() => { const w = document.querySelector('.nnscope-draw'); return w.dataset.sent && "
                           "w.dataset.analyzed === w.dataset.sent; }", timeout=120_000)
    shown = [float(v) for v in widget.locator(".probabilities .v").all_inner_texts()]
    prediction = widget.locator(".prediction").get_attribute("data-prediction")
    map_canvas = widget.locator("canvas.map[data-map='class']")
    map_pixels = map_canvas.evaluate("c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)")
    marked = int(widget.locator("canvas.explorer").get_attribute("data-row")), int(widget.locator("canvas.explorer").get_attribute("data-col"))
    # the kernel's side, from a cell added below the Draw cell
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type(KERNEL_SIDE)
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output", has_text=re.compile("NNSCOPE ")).first  # case-sensitive: the setup cell shows "nnscope checkpoint ..."
    output.wait_for(timeout=60_000)
    text = output.inner_text()
    kernel = json.loads(text[text.index("NNSCOPE ") + len("NNSCOPE "):])
    ARTIFACTS.mkdir(exist_ok=True)
    widget.screenshot(path=ARTIFACTS / "notebook-draw.png")
    with torch.no_grad():
        expected = torch.softmax(trained_model(torch.tensor(kernel["image"], dtype=torch.float32)[None]), 1)[0].numpy()
    assert len(np.nonzero(np.array(kernel["image"]) > 0.05)[0]) > 20  # the stroke reached the kernel
    np.testing.assert_allclose(shown, expected, atol=6e-5)  # shown with 4 decimals
    np.testing.assert_allclose(kernel["probabilities"], expected, atol=1e-6)
    assert prediction == str(int(expected.argmax()))
    occlusion_map = np.array(kernel["occlusion"]["true_class_probability"])
    rows, cols = occlusion_map.shape
    grey = np.array(map_pixels).reshape(rows, cols, 4)[..., 0]
    expected_grey = np.floor(255 * np.clip(occlusion_map, 0, 1) + 0.5)  # Math.round
    expected_grey[marked] = 255  # the explorer's position is marked in orange (red channel 255)
    np.testing.assert_array_equal(grey, expected_grey)
    assert problems == []
    page.close()
