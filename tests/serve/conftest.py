"""A real nnscope serve app on uvicorn, on 127.0.0.1 and a free port, for the module's tests."""

import httpx
import pytest


@pytest.fixture(scope="module")
def served(trained_checkpoint, trained_model, mnist):
    """(base URL, model, MNIST) of the app serving `trained_checkpoint` (`trained_model`) with the real test images."""
    from nnscope.models import load_model
    from nnscope.serve import Server, bind, create_app

    loaded = load_model(trained_checkpoint)
    server = Server(create_app(loaded, mnist.test_images, mnist.test_labels), bind("127.0.0.1", 0)).start()
    yield server.url, trained_model, mnist
    server.stop()


@pytest.fixture
def client(served):
    """An HTTP client on the served app."""
    with httpx.Client(base_url=served[0], timeout=60) as c:
        yield c
