"""The live page and its API on a user's own model (`serve --model FILE.py:NAME`): tests/user_nets.py's
ResidualNet (RGB, an odd 3 x 30 x 26) on a real server, its answers against the model run here by hand
(softmax of the user's module, forward hooks, a naive occlusion loop), bad payloads refused by field,
a TorchScript copy (no hooks: no maps, said so), the command line, and the page in Chromium."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch

import user_nets  # tests/user_nets.py: tests/ is on the path (no __init__.py there)
from helpers import trained_like

SHAPE = (3, 30, 26)
FIRST_CONVS = ["stem", "layer1.conv_a", "layer1.conv_b"]  # forward order: each block's shortcut (defined first) runs last
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def user_files(tmp_path_factory) -> tuple[torch.nn.Module, list[str]]:
    """ResidualNet with seeded weights and the --model/--weights arguments that load it from a user's nets.py."""
    folder = tmp_path_factory.mktemp("user_model")
    shutil.copy(Path(user_nets.__file__), folder / "nets.py")
    net = trained_like("ResidualNet")
    torch.save(net.state_dict(), folder / "weights.pt")
    return net, ["--model", f"{folder / 'nets.py'}:ResidualNet", "--weights", str(folder / "weights.pt")]


def serve(loaded, **kwargs):
    from nnscope.serve import Server, bind, create_app

    return Server(create_app(loaded, **kwargs), bind("127.0.0.1", 0)).start()


@pytest.fixture(scope="module")
def user_served(user_files):
    """(base URL, the user's net) of the app serving ResidualNet loaded as `serve --model nets.py:ResidualNet` does."""
    from nnscope.models import load_model

    net, args = user_files
    loaded = load_model(args[1], args[3], input_shape=SHAPE, class_names=["cat", "dog", "ship", "tree", "car"])
    server = serve(loaded)
    yield server.url, net
    server.stop()


@pytest.fixture
def client(user_served):
    with httpx.Client(base_url=user_served[0], timeout=60) as c:
        yield c


def random_image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, SHAPE).astype(np.float32)


@torch.no_grad()
def softmax(net, images: np.ndarray) -> np.ndarray:
    """Probabilities of float images (N, C, H, W): the user's module, one plain forward pass."""
    return torch.softmax(net(torch.from_numpy(np.ascontiguousarray(images, np.float32))), 1).numpy()


def starts_of(side: int, patch: int, stride: int) -> list[int]:
    """Captum's positions: every `stride`, the last one may hang over the edge."""
    return [k * stride for k in range(-(-(side - patch) // stride) + 1)]


def naive_occlusion(net, image: np.ndarray, patch: int, stride: int, fill) -> np.ndarray:
    """(rows, cols, K): one forward pass per patch position, the patch of `fill` (per channel) written by hand."""
    rows, cols = starts_of(image.shape[1], patch, stride), starts_of(image.shape[2], patch, stride)
    out = []
    for top in rows:
        for left in cols:
            copy = image.copy()
            copy[:, top:top + patch, left:left + patch] = np.asarray(fill, np.float32).reshape(-1, 1, 1)
            out.append(softmax(net, copy[None])[0])
    return np.array(out).reshape(len(rows), len(cols), -1)


def analyze(client, **payload) -> dict:
    response = client.post("/api/analyze", json=payload)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_description_gives_the_shape_class_names_and_first_convs(client, user_served):
    _, net = user_served
    body = client.get("/api/model").json()
    assert body["page"] == "model" and body["input_shape"] == list(SHAPE)
    assert body["classes"] == ["cat", "dog", "ship", "tree", "car"]
    assert [layer["name"] for layer in body["feature_layers"]] == FIRST_CONVS
    assert [layer["output_shape"] for layer in body["feature_layers"]] == [[8, 30, 26], [16, 15, 13], [16, 15, 13]]
    assert [layer["name"] for layer in body["layers"]] == [name for name, _ in net.named_modules() if name]
    assert body["parameters"] == sum(p.numel() for p in net.parameters())
    assert body["test_images"] == 0 and body["feature_maps_note"] is None


@pytest.mark.parametrize("patch, stride, fill", [(5, 3, 0.0), (8, 1, 0.5), (3, 4, [0.2, 0.5, 0.8]), (26, 26, 1.0)])
def test_analyze_matches_the_model_run_by_hand(client, user_served, patch, stride, fill):
    _, net = user_served
    image = random_image()
    body = analyze(client, image=image.tolist(), patch=patch, stride=stride, fill=fill)
    expected = softmax(net, image[None])[0]
    np.testing.assert_allclose(body["probabilities"], expected, atol=1e-6)
    assert body["prediction"] == int(expected.argmax())
    assert body["class_name"] == ["cat", "dog", "ship", "tree", "car"][int(expected.argmax())]
    np.testing.assert_array_equal(np.array(body["input"], np.float32), image)
    occlusion = body["occlusion"]
    assert occlusion["starts"] == starts_of(30, patch, stride) and occlusion["col_starts"] == starts_of(26, patch, stride)
    naive = naive_occlusion(net, image, patch, stride, fill)
    np.testing.assert_allclose(occlusion["probabilities"], naive, atol=1e-5)
    np.testing.assert_allclose(occlusion["true_class_probability"], naive[..., body["prediction"]], atol=1e-5)
    np.testing.assert_allclose(occlusion["max_probability"], naive.max(-1), atol=1e-5)
    assert occlusion["class"] == body["prediction"] and "shift" not in body


def test_feature_maps_are_the_first_convs_outputs_in_forward_order(client, user_served):
    _, net = user_served
    image = random_image(1)
    seen, modules = {}, dict(net.named_modules())
    handles = [modules[name].register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o[0].numpy()))
               for name in FIRST_CONVS]
    try:
        softmax(net, image[None])
    finally:
        for handle in handles:
            handle.remove()
    maps = analyze(client, image=image.tolist())["feature_maps"]
    assert list(maps) == FIRST_CONVS
    for name in FIRST_CONVS:
        np.testing.assert_allclose(np.array(maps[name]), seen[name], atol=1e-5)


GOOD = np.zeros(SHAPE).tolist()
BAD_PAYLOADS = [  # (payload, field, words the message must hold)
    ({}, "image", "missing; expected 3 x 30 x 26"),
    ({"image": np.zeros((1, 30, 26)).tolist()}, "image", "shape 1 x 30 x 26; expected 3 x 30 x 26"),
    ({"image": np.zeros((30, 26)).tolist()}, "image", "shape 30 x 26; expected 3 x 30 x 26"),
    ({"image": np.zeros((3, 26, 30)).tolist()}, "image", "shape 3 x 26 x 30; expected 3 x 30 x 26"),
    ({"image": np.zeros((1, 28, 28)).tolist()}, "image", "expected 3 x 30 x 26"),
    ({"image": np.full(SHAPE, 1.5).tolist()}, "image", "1.5 at channel 0, row 0, column 0"),
    ({"image": [GOOD[0], GOOD[1], [[0.0] * 26] * 29 + [[0.0] * 26 + [-1.0]]]}, "image", "shape"),
    ({"image": [GOOD[0], GOOD[1], [[0.0] * 26] * 29 + [[0.0] * 25 + [-1.0]]]}, "image", "-1.0 at channel 2, row 29, column 25"),
    ({"image": GOOD, "patch": 27}, "patch", "27; expected a whole number from 1 to 26"),
    ({"image": GOOD, "stride": 0}, "stride", "from 1 to 26"),
    ({"image": GOOD, "fill": [0.0, 1.0]}, "fill", "a list of 3 such values"),
    ({"image": GOOD, "fill": [0.0, 1.0, 2.0]}, "fill", "one per channel"),
    ({"image": GOOD, "fill": "grey"}, "fill", "from 0 (black) to 1 (white)"),
    ({"image": GOOD, "zoom": 2}, "zoom", "unknown field"),
]


@pytest.mark.parametrize("payload, field, words", BAD_PAYLOADS, ids=range(len(BAD_PAYLOADS)))
def test_bad_payloads_are_refused_by_field_with_the_models_shape(client, payload, field, words):
    response = client.post("/api/analyze", json=payload)
    assert response.status_code == 400
    error = response.json()
    assert error["field"] == field and error["error"].startswith(f"{field}: ") and words in error["error"], error
    assert "Traceback" not in response.text


def test_content_type_and_size_limits_hold_and_the_server_keeps_serving(client):
    response = client.post("/api/analyze", content=json.dumps({"image": GOOD}), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json()["field"] == "content-type"
    response = client.post("/api/analyze", content=b"0" * (3 * 1024 * 1024), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["field"] == "body"
    assert client.get("/api/test-image?index=0").status_code == 404  # no test set for this model
    assert analyze(client, image=GOOD)["occlusion"]["patch"] == 8


def test_the_page_is_sized_to_the_model(client):
    page = client.get("/").text
    assert 'id="colour"' in page and 'id="shift"' not in page and 'id="test-load"' not in page
    assert 'width="26" height="30"' in page  # the model's view of the input: W x H
    for name in FIRST_CONVS:
        assert f'id="fmap-{name}"' in page


def test_a_torchscript_model_answers_without_feature_maps_and_says_why(user_served, tmp_path):
    from nnscope.models import load_model

    _, net = user_served
    torch.jit.save(torch.jit.script(net), tmp_path / "net.ts")
    server = serve(load_model(tmp_path / "net.ts", input_shape=SHAPE))
    try:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            description = c.get("/api/model").json()
            assert description["feature_layers"] == [] and "TorchScript" in description["feature_maps_note"]
            image = random_image(2)
            body = analyze(c, image=image.tolist(), patch=6, stride=5)
            assert body["feature_maps"] == {} and "hooks" in body["feature_maps_note"]
            np.testing.assert_allclose(body["probabilities"], softmax(net, image[None])[0], atol=1e-6)
            np.testing.assert_allclose(body["occlusion"]["probabilities"], naive_occlusion(net, image, 6, 5, 0.0), atol=1e-5)
    finally:
        server.stop()


def nnscope(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "nnscope", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


@pytest.mark.slow
def test_serve_model_with_a_starting_image_from_the_command_line(user_files, tmp_path):
    net, args = user_files
    image = random_image(3)
    np.save(tmp_path / "start.npy", image)
    process = nnscope("serve", *args, "--image", str(tmp_path / "start.npy"), "--port", "0", "--json")
    try:
        started = json.loads(process.stdout.readline())
        description = httpx.get(started["url"] + "api/model", timeout=30).json()
        assert description["input_shape"] == list(SHAPE)  # probed at the image's size
        np.testing.assert_array_equal(np.array(description["start_image"], np.float32), image)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0 and out == "" and "Traceback" not in err


@pytest.mark.slow
def test_a_bad_spec_and_an_image_the_model_cannot_take_are_one_line(user_files, trained_checkpoint, tmp_path):
    _, args = user_files
    process = nnscope("serve", "--model", f"{args[1].rsplit(':', 1)[0]}:NoSuchNet", "--port", "0")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and out == "" and len(err.strip().splitlines()) == 1 and "NoSuchNet" in err
    np.save(tmp_path / "small.npy", np.zeros((3, 20, 20), np.float32))
    process = nnscope("serve", "--model", str(trained_checkpoint), "--image", str(tmp_path / "small.npy"), "--port", "0")
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "20 x 20" in err and "28 x 28" in err, err


@pytest.mark.slow
@pytest.mark.browser
def test_the_page_draws_in_colour_and_shows_what_the_users_model_makes_of_it(user_served, browser):
    from serve.test_page_browser import ARTIFACTS, bar_values, canvas_colours, draw_vertical_stroke, open_page, settle

    url, net = user_served
    page, problems, payloads = open_page(browser, url)
    page.locator("#colour").fill("#ff8000")
    draw_vertical_stroke(page)
    settle(page)
    image = np.array(payloads[-1]["image"], np.float32)
    assert image.shape == SHAPE  # the drawing averaged down to the model's size, one channel per colour
    assert image[0].max() > 0.95 and 0.4 < image[1].max() < 0.6 and image[2].max() == 0
    expected = softmax(net, image[None])[0]
    np.testing.assert_allclose(bar_values(page, "bars"), expected, atol=6e-5)
    readout = page.locator("#readout")
    best = int(expected.argmax())
    assert readout.get_attribute("data-prediction") == str(best)
    assert ["cat", "dog", "ship", "tree", "car"][best] in readout.inner_text()
    for selector in [*(f'[id="fmap-{name}"]' for name in FIRST_CONVS), "#seen"]:
        assert canvas_colours(page, selector) > 2, selector
    for selector in ["#map-class", "#map-max"]:  # grey P drawn as it is: this barely trained net moves it by < 1/255
        assert canvas_colours(page, selector) >= 2, selector  # the map and the explorer's mark
    explorer = page.locator("#explorer")
    box = explorer.bounding_box()
    explorer.hover(position={"x": box["width"] * 0.5, "y": box["height"] * 0.4})
    row, col = int(explorer.get_attribute("data-row")), int(explorer.get_attribute("data-col"))
    occluded = image.copy()
    occluded[:, row:row + 8, col:col + 8] = 0.0  # the page's defaults: patch 8, stride 1, black
    np.testing.assert_allclose(bar_values(page, "explorer-bars"), softmax(net, occluded[None])[0], atol=6e-5)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "serve-user-model.png", full_page=True)
    assert problems == []


@pytest.mark.slow
@pytest.mark.browser
def test_the_page_starts_from_the_given_image_sent_as_it_is(user_files, browser):
    from nnscope.models import load_model
    from serve.test_page_browser import open_page, settle

    net, args = user_files
    image = random_image(4)
    server = serve(load_model(args[1], args[3], input_shape=SHAPE), start_image=image, start_source="start.npy")
    try:
        page, problems, payloads = open_page(browser, server.url)
        settle(page)
        np.testing.assert_array_equal(np.array(payloads[0]["image"], np.float32), image)
        expected = softmax(net, image[None])[0]
        assert page.locator("#readout").get_attribute("data-prediction") == str(int(expected.argmax()))
        assert problems == []
    finally:
        server.stop()
