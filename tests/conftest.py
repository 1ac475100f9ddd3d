"""Shared fixtures: the real MNIST data (fetched once into the cache), one small trained model, Debian's Chromium."""

import os
from pathlib import Path

import pytest
import torch

# every test process uses one thread per core at most, and the same cache as the user
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


pytest_plugins = ["skip_summary"]  # tests/skip_summary.py: the one line of skipped groups at the end

CHROMIUM = Path("/usr/bin/chromium")  # Debian's Chromium, the browser of the page tests
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (a conftest fixture, so it wins over
    pytest-playwright's own `browser`); skips where Chromium is not installed."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST train and test sets (cached under $NNSCOPE_HOME after the first fetch)."""
    from nnscope.data import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def trained_checkpoint(mnist, tmp_path_factory) -> Path:
    """A checkpoint of the 'fast' recipe trained on the real data (about 10 s), shared by the session."""
    from nnscope.train import make_recipe, train_and_save

    path = tmp_path_factory.mktemp("model") / "mnist_cnn.pt"
    train_and_save(mnist, make_recipe("fast"), path, seed=0, device="cpu")
    return path


@pytest.fixture(scope="session")
def trained_model(trained_checkpoint):
    """The model of `trained_checkpoint`, in eval mode."""
    from nnscope.model import load_model

    return load_model(trained_checkpoint)



@pytest.fixture(autouse=True)
def one_run_per_test():
    """Each test is one run of nnscope: the files a run has read (nnscope.fileio's inputs, which it never writes
    onto) do not carry over to the next test, where a session fixture may write them (the report's checkpoint
    after a test that loaded it)."""
    yield
    from nnscope import fileio

    getattr(fileio, "_inputs", set()).clear()
