"""The C loops of incremental occlusion: built where a compiler is, equal to the torch loops they
replace, and replaced by them where no compiler works."""

import shutil

import numpy as np
import pytest
import torch

from nnscope.model import CNNConfig
from nnscope.vision import kernels
from nnscope.vision.incremental import IncrementalCNN
from nnscope.vision.occlusion import naive_occlusion_probabilities, occlusion_probabilities
from vision.test_occlusion import digit_like_images, random_model


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """kernels.load() as on a new machine: an empty cache folder, nothing loaded yet."""
    monkeypatch.setenv("NNSCOPE_HOME", str(tmp_path))
    kernels.load.cache_clear()
    yield tmp_path
    kernels.load.cache_clear()


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine")
def test_built_once_into_the_cache_folder(fresh_build):
    assert kernels.load() is not None
    built = list((fresh_build / "kernels").glob("occlusion_kernels-*.so"))
    assert len(built) == 1 and not list((fresh_build / "kernels").glob(".build-*"))  # no half-built file left
    kernels.load.cache_clear()
    assert kernels.load() is not None and list((fresh_build / "kernels").iterdir()) == built  # reused


@pytest.mark.parametrize("compiler", ["false", "no-such-compiler"])  # fails / does not exist
def test_without_a_working_compiler_the_torch_loops_run(fresh_build, monkeypatch, compiler):
    monkeypatch.setenv("CC", compiler)
    assert kernels.load() is None
    model = random_model(3)
    assert IncrementalCNN(model).kernels is None
    image = digit_like_images(1, seed=4)
    fast = occlusion_probabilities(model, image, 6, 2, 0.0)[0]
    assert np.abs(fast - naive_occlusion_probabilities(model, image[0], 6, 2, 0.0)).max() < 1e-5


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine")
@pytest.mark.parametrize("config", [CNNConfig(), CNNConfig(channels=(10, 20, 40)),  # 16 channels and not
                                    CNNConfig(channels=(4, 6, 8), kernel_size=5, pool_after=(False, True, True))])
def test_c_and_torch_loops_give_the_same_maps_and_pastes(config):
    model = random_model(8, config)
    images = digit_like_images(3, seed=6)
    compiled, plain = IncrementalCNN(model), IncrementalCNN(model, compiled=False)
    assert compiled.kernels is not None and plain.kernels is None
    for fill in (0.0, 0.6):
        maps = [occlusion_probabilities(model, images, 8, 1, fill, compiled=c) for c in (True, False)]
        assert np.abs(maps[0] - maps[1]).max() < 1e-6
    # transplanted squares (the attack's pastes) instead of a grey fill
    generator = torch.Generator().manual_seed(1)
    rows, cols = torch.randint(0, 23, (50,), generator=generator), torch.randint(0, 23, (50,), generator=generator)
    box = torch.stack([rows, rows + 6, cols, cols + 6], 1)
    pasted = torch.rand(50, 6, 6, generator=generator)
    image = torch.randint(0, 3, (50,), generator=generator)
    logits = [e.logits(e.base(images), image, box, 0.0, (6, 6), pasted) for e in (compiled, plain)]
    assert (logits[0] - logits[1]).abs().max() < 1e-4
