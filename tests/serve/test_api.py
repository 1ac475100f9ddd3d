"""The JSON API against a real server: answers checked against the model run by hand (full forward
passes, forward hooks, a naive occlusion loop), bad payloads refused by field, 8 clients at once."""

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.slow


def softmax(model, images: np.ndarray) -> np.ndarray:
    """Probabilities of float images (N, 1, 28, 28), one plain forward pass."""
    with torch.no_grad():
        return torch.softmax(model(torch.as_tensor(images, dtype=torch.float32)), 1).numpy()


def mnist_image(mnist, index: int) -> np.ndarray:
    """Test image `index` as float32 (28, 28) in [0, 1]."""
    return (mnist.test_images[index] / 255.0).astype(np.float32)


def analyze(client, **payload):
    response = client.post("/api/analyze", json=payload)
    assert response.status_code == 200, response.text
    return response.json()


def test_model_description_matches_the_model(client, served):
    _, model, _ = served
    body = client.get("/api/model").json()
    assert body["input_shape"] == [1, 28, 28] and body["classes"] == [str(k) for k in range(10)]
    names = [layer["name"] for layer in body["feature_layers"]]
    assert names == ["conv1", "conv2", "conv3"] and body["page"] == "digits"
    channels = model.config.channels
    assert [layer["output_shape"] for layer in body["feature_layers"]] == [[channels[0], 28, 28], [channels[1], 14, 14],
                                                                          [channels[2], 7, 7]]
    assert [layer["output_shape"] for layer in body["layers"] if layer["name"] == "fc"] == [[10]]
    assert body["parameters"] == sum(p.numel() for p in model.parameters())
    assert body["test_images"] == 10000


@pytest.mark.parametrize("patch, stride, fill", [(8, 1, 0.0), (5, 3, 0.5), (28, 1, 1.0), (1, 7, 0.25)])
def test_analyze_matches_full_forward_passes(client, served, patch, stride, fill):
    _, model, mnist = served
    image = mnist_image(mnist, 7)
    body = analyze(client, image=image.tolist(), patch=patch, stride=stride, fill=fill)
    expected = softmax(model, image[None, None])[0]
    np.testing.assert_allclose(body["probabilities"], expected, atol=1e-6)
    assert body["prediction"] == int(expected.argmax())
    np.testing.assert_array_equal(np.array(body["input"], np.float32), image)
    # occlusion: one full forward pass per position, written out here
    starts = [i * stride for i in range(-(-(28 - patch) // stride) + 1)]  # Captum's rule: the last may stick out
    occluded = []
    for row in starts:
        for col in starts:
            copy = image.copy()
            copy[row : row + patch, col : col + patch] = fill
            occluded.append(copy)
    naive = softmax(model, np.stack(occluded)[:, None]).reshape(len(starts), len(starts), 10)
    o = body["occlusion"]
    assert (o["patch"], o["stride"], o["fill"], o["starts"], o["class"]) == (patch, stride, fill, starts, body["prediction"])
    np.testing.assert_allclose(o["probabilities"], naive, atol=1e-5)
    np.testing.assert_allclose(o["true_class_probability"], naive[..., body["prediction"]], atol=1e-5)
    np.testing.assert_allclose(o["max_probability"], naive.max(-1), atol=1e-5)
    agree = np.array(o["predicted_label"]) == naive.argmax(-1)
    close_call = np.sort(naive, -1)[..., -1] - np.sort(naive, -1)[..., -2] < 1e-5  # a tie may go either way
    assert (agree | close_call).all()


def test_feature_maps_are_the_conv_outputs(client, served):
    _, model, mnist = served
    image = mnist_image(mnist, 3)
    seen = {}
    hooks = [getattr(model, name).register_forward_hook(lambda m, i, out, name=name: seen.__setitem__(name, out[0].numpy()))
             for name in ("conv1", "conv2", "conv3")]
    try:
        with torch.no_grad():
            model(torch.as_tensor(image)[None, None])
    finally:
        for hook in hooks:
            hook.remove()
    body = analyze(client, image=[image.tolist()])  # the 1 x 28 x 28 form
    assert sorted(body["feature_maps"]) == ["conv1", "conv2", "conv3"]
    for name, expected in seen.items():
        np.testing.assert_allclose(body["feature_maps"][name], expected, atol=1e-5)


def test_shift_slider_is_the_clamp_shifted_image_classified(client, served):
    _, model, mnist = served
    image = mnist_image(mnist, 0)
    body = analyze(client, image=image.tolist())
    shift = body["shift"]
    assert shift["padding"] == "clamp" and shift["shifts"] == list(range(-6, 7))
    for dx, p, k in zip(shift["shifts"], shift["probabilities"], shift["predictions"]):
        columns = np.clip(np.arange(28) - dx, 0, 27)  # output column j copies column j - dx, clamped to the edge
        expected = softmax(model, image[:, columns][None, None])[0]
        np.testing.assert_allclose(p, expected, atol=1e-6)
        assert k == int(expected.argmax())


def test_a_blank_image_and_the_fill_everywhere_are_answered(client, served):
    _, model, _ = served
    for value in (0.0, 1.0):
        body = analyze(client, image=np.full((28, 28), value).tolist(), fill=value)
        # no patch changes a pixel, so every position gives the image's own probabilities
        np.testing.assert_allclose(body["occlusion"]["probabilities"], np.broadcast_to(body["probabilities"], (21, 21, 10)),
                                   atol=1e-6)


def test_test_images_come_with_their_labels(client, served):
    _, _, mnist = served
    body = client.get("/api/test-image", params={"index": 1234}).json()
    assert body["index"] == 1234 and body["label"] == int(mnist.test_labels[1234])
    np.testing.assert_array_equal(np.round(np.array(body["image"]) * 255), mnist.test_images[1234])


GOOD = np.zeros((28, 28)).tolist()
BAD_PAYLOADS = [  # (body bytes or payload, field the error names, status)
    (b"this is not json", "body", 400),
    (b"\xff\xfe", "body", 400),
    (b"[1, 2, 3]", "body", 400),
    (b"[" * 100000 + b"]" * 100000, "body", 400),
    ({}, "image", 400),
    ({"image": "/etc/passwd"}, "image", 400),
    ({"image": np.zeros((27, 28)).tolist()}, "image", 400),
    ({"image": np.zeros((3, 28, 28)).tolist()}, "image", 400),
    ({"image": np.zeros((28, 28, 1)).tolist()}, "image", 400),
    ({"image": [[0.0] * 28] * 27 + [[0.0] * 27]}, "image", 400),
    ({"image": [[0.0] * 28] * 27 + [[0.0] * 27 + [[0.0]]]}, "image", 400),
    ({"image": [["0.5"] * 28] * 28}, "image", 400),
    ({"image": [[True] * 28] * 28}, "image", 400),
    ({"image": [[None] * 28] * 28}, "image", 400),
    ({"image": [[1.5] * 28] * 28}, "image", 400),
    ({"image": [[-0.01] * 28] * 28}, "image", 400),
    ({"image": GOOD, "patch": 0}, "patch", 400),
    ({"image": GOOD, "patch": 29}, "patch", 400),
    ({"image": GOOD, "patch": "8"}, "patch", 400),
    ({"image": GOOD, "patch": 8.5}, "patch", 400),
    ({"image": GOOD, "patch": True}, "patch", 400),
    ({"image": GOOD, "stride": 0}, "stride", 400),
    ({"image": GOOD, "stride": -1}, "stride", 400),
    ({"image": GOOD, "fill": 2}, "fill", 400),
    ({"image": GOOD, "fill": None}, "fill", 400),
    ({"image": GOOD, "colour": "red"}, "colour", 400),
    ({"image": GOOD, "patch": 8, "zoom": 2, "alpha": 1}, "alpha", 400),
]


@pytest.mark.parametrize("body, field, status", BAD_PAYLOADS, ids=range(len(BAD_PAYLOADS)))
def test_bad_payloads_are_refused_by_field(client, body, field, status):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post("/api/analyze", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    error = response.json()
    assert error["field"] == field and error["error"].startswith(f"{field}: ")
    assert "Traceback" not in response.text and "File \"" not in response.text
    assert client.get("/api/model").status_code == 200  # still serving


@pytest.mark.parametrize("literal, where", [("NaN", "row 3, column 4"), ("Infinity", "row 3, column 4"),
                                            ("-Infinity", "row 3, column 4")])
def test_non_finite_pixels_are_refused(client, literal, where):
    cells = [["0"] * 28 for _ in range(28)]
    cells[3][4] = literal  # not JSON, but what Python's and JavaScript's encoders write for such floats
    text = '{"image": [' + ", ".join("[" + ", ".join(row) + "]" for row in cells) + "]}"
    response = client.post("/api/analyze", content=text.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["field"] == "image" and where in response.json()["error"]


def test_nan_fill_is_refused(client):
    text = '{"image": %s, "fill": NaN}' % json.dumps(GOOD)
    response = client.post("/api/analyze", content=text, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["field"] == "fill"


def test_limits_methods_and_paths_answer_json(client):
    huge = b'{"image": [' + b"0.000000000," * 300_000 + b"0]}"  # about 3.6 MB
    response = client.post("/api/analyze", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["field"] == "body"

    def chunks():  # no Content-Length: the limit holds on what arrives
        for _ in range(300):
            yield b" " * 10_000

    response = client.post("/api/analyze", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["field"] == "body"
    response = client.post("/api/analyze", content=json.dumps({"image": GOOD}), headers={"Content-Type": "text/plain"})
    assert response.status_code == 415 and response.json()["field"] == "content-type"
    response = client.get("/api/analyze")
    assert response.status_code == 405 and "error" in response.json()
    response = client.get("/api/nothing-here")
    assert response.status_code == 404 and "error" in response.json()
    response = client.get("/static/../../etc/passwd")
    assert response.status_code == 404 and "root:" not in response.text
    for params, field in (({"index": "abc"}, "index"), ({"index": "10000"}, "index"), ({"index": "-1"}, "index"),
                          ({}, "index"), ({"index": "1", "path": "x"}, "path")):
        response = client.get("/api/test-image", params=params)
        assert response.status_code == 400 and response.json()["field"] == field
    assert client.get("/api/model").status_code == 200


def test_the_page_and_its_files_carry_the_security_policy(client):
    page = client.get("/")
    assert page.status_code == 200 and "<canvas id=\"pad\"" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    for path in ("/static/serve.js", "/static/serve.css", "/static/report.css"):
        response = client.get(path)
        assert response.status_code == 200 and len(response.content) > 500
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "http" not in client.get("/static/serve.js").text.replace("http://", "").split("/*")[0]


def test_eight_concurrent_clients_get_the_answers_of_one(client, served):
    import httpx

    url, _, mnist = served
    images = [mnist_image(mnist, index).tolist() for index in range(8)]
    alone = [analyze(client, image=image) for image in images]

    def one_client(k: int) -> list[dict]:
        with httpx.Client(base_url=url, timeout=120) as own:
            return [own.post("/api/analyze", json={"image": images[(k + i) % 8]}).json() for i in range(3)]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one_client, range(8)))
    for k, replies in enumerate(answers):
        for i, reply in enumerate(replies):
            expected = alone[(k + i) % 8]
            assert "error" not in reply
            assert reply["probabilities"] == expected["probabilities"]
            assert reply["occlusion"]["probabilities"] == expected["occlusion"]["probabilities"]
            assert reply["feature_maps"] == expected["feature_maps"]


def test_no_request_opens_a_file(client):
    opened = []
    watching = threading.Event()

    def audit(event, args):
        if watching.is_set() and event == "open" and threading.current_thread() is not threading.main_thread():
            opened.append(args[0])

    sys.addaudithook(audit)  # hooks cannot be removed; this one only records while `watching` is set
    client.post("/api/analyze", json={"image": GOOD})  # warm every code path first
    watching.set()
    try:
        for payload in ({"image": GOOD}, {"image": "/etc/passwd"}, {"image": GOOD, "patch": "../x"}):
            client.post("/api/analyze", json=payload)
        for path in ("/", "/static/serve.js", "/api/model", "/api/test-image?index=5", "/favicon.ico"):
            client.get(path)
    finally:
        watching.clear()
    assert opened == []
