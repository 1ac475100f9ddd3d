"""What the server accepts, tested against a real uvicorn on a free port with a tiny hand-made model: only
its own host names, requests that arrive in time, bounded work, and a JSON 4xx for every refusal (huge
numbers, lone surrogates, malformed HTTP, a 20 MB body) where a 500, plain text or a reset came before."""

import json
import os
import socket
import sys
import time

import httpx
import pytest
import torch
from torch import nn

from nnscope.models import load_model
from nnscope.serve import server as server_module


class Mean(nn.Module):
    """Two logits: the image's mean and its negation."""

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([m, -m], 1)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Mean loaded for 1 x 8 x 8 and for 3 x 256 x 256 images."""
    folder = tmp_path_factory.mktemp("model")
    torch.jit.save(torch.jit.script(Mean()), folder / "mean.pt")
    return [load_model(folder / "mean.pt", input_shape=shape) for shape in ((1, 8, 8), (3, 256, 256))]


@pytest.fixture(scope="module")
def served(models):
    from nnscope.serve import Server, bind, create_app

    servers = [Server(create_app(m, warm_up=False), bind("127.0.0.1", 0)).start() for m in models]
    yield [s.url for s in servers]
    for s in servers:
        s.stop()


def raw_exchange(url: str, data: bytes, wait: float = 5.0) -> bytes:
    """Send `data` on a fresh connection and return everything the server answers until it closes."""
    host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=wait) as s:
        s.sendall(data)
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return answer


def json_body(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", ""])
def test_a_host_header_naming_another_server_is_refused(served, host):
    answer = raw_exchange(served[0], f"GET /api/model HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert json_body(answer)["field"] == "host" and b"input_shape" not in answer


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:1234", "LOCALHOST", "[::1]:80"])
def test_this_servers_own_names_are_served(served, host):
    answer = raw_exchange(served[0], f"GET /api/model HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 200") and json_body(answer)["input_shape"] == [1, 8, 8]


def test_host_names_allowed_for_each_way_of_serving():
    allowed = server_module.host_allowed
    assert allowed("myhost.lan:8000", "myhost.lan") and not allowed("other.lan", "myhost.lan")
    assert allowed("192.168.1.7:8000", "0.0.0.0") and not allowed("rebound.example", "0.0.0.0")
    assert not allowed("192.168.1.7", "127.0.0.1") and not allowed(None, "127.0.0.1")


def test_half_sent_requests_are_answered_408_and_closed(models, monkeypatch):
    monkeypatch.setattr(server_module, "REQUEST_TIMEOUT_S", 1.0)
    from nnscope.serve import Server, bind, create_app

    server = Server(create_app(models[0], warm_up=False), bind("127.0.0.1", 0)).start()
    try:
        start = time.monotonic()
        headers_only = raw_exchange(server.url, b"GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n", wait=20)
        body_missing = raw_exchange(server.url, b"POST /api/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                    b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"ima", wait=20)
        assert time.monotonic() - start < 15  # closed by the server, not by the client's 20 s wait
    finally:
        server.stop()
    for answer in (headers_only, body_missing):
        assert answer.startswith(b"HTTP/1.1 408") and "not complete within 1 s" in json_body(answer)["error"]


def test_malformed_http_is_answered_in_json(served):
    answer = raw_exchange(served[0], b"GARBAGE\x00 / HTTP/9\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and b"application/json" in answer
    assert "expected an HTTP/1.1 request" in json_body(answer)["error"]


def post(url: str, body: bytes) -> httpx.Response:
    return httpx.post(url + "api/analyze", content=body, headers={"content-type": "application/json"}, timeout=60)


def test_numbers_of_400_digits_and_lone_surrogates_are_4xx(served):
    image = [[0.5] * 8] * 8
    huge = post(served[0], json.dumps({"image": image, "patch": 2}).replace('"patch": 2', '"patch": ' + "9" * 400).encode())
    assert huge.status_code == 400 and huge.json()["field"] == "patch"
    pixel = post(served[0], json.dumps({"image": image}).replace("0.5", "1" + "0" * 400, 1).encode())
    assert pixel.status_code == 400 and "row 0, column 0" in pixel.json()["error"]
    surrogate = post(served[0], b'{"\\ud800": 1, "image": []}')
    assert surrogate.status_code == 400 and surrogate.json()["field"] == "\\ud800"
    digits = post(served[0], b'{"patch": ' + b"7" * 5000 + b"}")  # past Python's int-from-text limit
    assert digits.status_code == 400


def test_a_20_mb_body_reads_a_413_in_json(served):
    response = post(served[0], b"[" + b"0," * 10_000_000 + b"0]")
    assert response.status_code == 413 and response.json()["field"] == "body"


def test_one_request_cannot_hold_the_model_for_long(served):
    image = [[[0.5] * 256] * 256] * 3
    response = post(served[1], json.dumps({"image": image, "patch": 1, "stride": 1}).encode())
    assert response.status_code == 413 and response.json()["field"] == "stride"
    assert "over the limit" in response.json()["error"] and "a stride of 3 or more" in response.json()["error"]
    description = httpx.get(served[1] + "api/model", timeout=60).json()
    assert description["defaults"]["stride"] == 3  # the page's own default fits the limit


class FailsOnSomeImages(nn.Module):
    """Mean's logits, except: sys.exit(0) on an all-0.5 image, NaN on an all-0.25 one, os._exit(3) on all-0.125."""

    def forward(self, x):
        if bool((x == 0.5).all()):
            sys.exit(0)
        if bool((x == 0.125).all()):
            os._exit(3)
        m = x.mean((1, 2, 3)) * (float("nan") if bool((x == 0.25).all()) else 1.0)
        return torch.stack([m, -m], 1)


def test_a_model_that_exits_or_turns_nan_on_one_image_fails_that_request_only():
    """Its request gets a 500 JSON naming what the model did; the server neither ends nor stops answering."""
    from nnscope.cli.contained import exits_refused
    from nnscope.serve import Server, bind, create_app

    loaded = load_model(FailsOnSomeImages(), input_shape=(1, 4, 4))
    with exits_refused():  # as `nnscope serve` runs: os._exit raises instead of ending the process
        server = Server(create_app(loaded, warm_up=False), bind("127.0.0.1", 0)).start()
        try:
            def post(value: float) -> httpx.Response:
                return httpx.post(server.url + "api/analyze", json={"image": [[value] * 4] * 4, "patch": 2, "stride": 2},
                                  timeout=60)

            answer = post(0.5)
            assert answer.status_code == 500
            assert answer.json() == {"error": "the model called sys.exit(0); the server keeps serving", "field": "model"}
            answer = post(0.125)
            assert answer.status_code == 500 and "called os._exit(3)" in answer.json()["error"], answer.text
            answer = post(0.25)
            assert answer.status_code == 500 and "returned nan at image 0, logit 0" in answer.json()["error"], answer.text
            expected = torch.softmax(torch.tensor([0.75, -0.75]), 0).tolist()  # the mean and its negation
            assert post(0.75).json()["probabilities"] == pytest.approx(expected)
        finally:
            server.stop()
