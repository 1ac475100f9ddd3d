"""The C loops of incremental occlusion: built where a compiler is, equal to the torch loops they
replace, replaced by them (saying why, once) where no compiler works, and guarded at the C
boundary: keyword arguments only, and a wrong dtype, layout, shape or size raises before C runs."""

import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from nnscope.model import CNNConfig
from nnscope.vision.occlusion import c_build, c_loops, naive_occlusion_probabilities, occlusion_probabilities
from nnscope.vision.occlusion.c_loops import CLoopArgumentError
from nnscope.vision.occlusion.incremental import IncrementalCNN
from vision.occlusion_models import digit_like_images, random_model

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler on this machine (apt-get install gcc)")


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """c_build.load() as on a new machine: an empty cache folder, nothing loaded yet."""
    monkeypatch.setenv("NNSCOPE_HOME", str(tmp_path))
    monkeypatch.delenv("NNSCOPE_NO_KERNELS", raising=False)
    c_build.load.cache_clear()
    yield tmp_path
    c_build.load.cache_clear()


@needs_cc
def test_built_once_into_the_cache_folder(fresh_build):
    assert c_build.load() is not None
    built = list((fresh_build / "kernels").glob("c_loops-*.so"))
    assert len(built) == 1 and not list((fresh_build / "kernels").glob(".build-*"))  # no half-built file left
    c_build.load.cache_clear()
    assert c_build.load() is not None and list((fresh_build / "kernels").iterdir()) == built  # reused


@pytest.mark.parametrize("compiler,reason", [("false", "'false' failed (exit code 1)"),  # fails
                                             ("no-such-compiler", "no C compiler: 'no-such-compiler' not found")])
def test_without_a_working_compiler_the_torch_loops_run_and_say_why_once(fresh_build, monkeypatch, compiler, reason):
    monkeypatch.setenv("CC", compiler)
    model, image = random_model(3), digit_like_images(1, seed=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so that a second warning would be seen, not swallowed
        assert c_build.load() is None
        assert IncrementalCNN(model).c_loops is None
        fast = occlusion_probabilities(model, image, 6, 2, 0.0)[0]
    assert [str(w.message).count(reason) for w in caught] == [1]
    assert caught[0].category is RuntimeWarning and "torch loops" in str(caught[0].message)
    assert np.abs(fast - naive_occlusion_probabilities(model, image[0], 6, 2, 0.0)).max() < 1e-5


def test_no_word_when_the_torch_loops_are_asked_for(fresh_build, monkeypatch):
    monkeypatch.setenv("NNSCOPE_NO_KERNELS", "1")
    monkeypatch.setenv("CC", "no-such-compiler")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert c_build.load() is None
    assert caught == []


@needs_cc
@pytest.mark.parametrize("config", [CNNConfig(), CNNConfig(channels=(10, 20, 40)),  # 16 channels and not
                                    CNNConfig(channels=(4, 6, 8), kernel_size=5, pool_after=(False, True, True))])
def test_c_and_torch_loops_give_the_same_maps_and_pastes(config):
    model = random_model(8, config)
    images = digit_like_images(3, seed=6)
    compiled, plain = IncrementalCNN(model), IncrementalCNN(model, compiled=False)
    assert compiled.c_loops is not None and plain.c_loops is None
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


@pytest.fixture(scope="module")
def loops():
    """The compiled loops (skips where none can be built)."""
    library = c_build.load()
    if library is None:
        pytest.skip("no C compiler on this machine (apt-get install gcc)")
    return c_loops.CLoops(library)


def pool_arguments(count: int = 3, side: int = 4, channels: int = 5) -> dict:
    """Good arguments of pool_norm_relu: conv outputs (B, 4, 4, C) pooled into (B, 2, 2, C)."""
    conv = torch.randn(count, side, side, channels, generator=torch.Generator().manual_seed(0))
    return {"conv": conv, "pool": True, "scale": torch.ones(channels), "shift": torch.zeros(channels),
            "out": torch.full((count, side // 2, side // 2, channels), 7.0)}


def test_pool_norm_relu_with_good_arguments_is_pool_then_relu(loops):
    arguments = pool_arguments()
    loops.pool_norm_relu(**arguments)
    expected = torch.relu(torch.nn.functional.max_pool2d(arguments["conv"].permute(0, 3, 1, 2), 2)).permute(0, 2, 3, 1)
    assert torch.equal(arguments["out"], expected)


def test_arguments_by_keyword_only(loops):
    arguments = pool_arguments()
    with pytest.raises(TypeError):
        loops.pool_norm_relu(*arguments.values())


@pytest.mark.parametrize("change,message", [
    ({"conv": pool_arguments()["conv"].double()}, "conv: Tensor torch.float64; expected a float32 tensor"),
    ({"conv": pool_arguments()["conv"].transpose(1, 2)}, "conv: expected a contiguous tensor"),
    ({"out": torch.empty(3, 2, 3, 5)}, "out: shape (3, 2, 3, 5); expected (3, 2, 2, 5)"),
    ({"scale": torch.ones(4)}, "scale: shape (4,); expected (5,)"),
    ({"shift": None}, "scale, shift: expected both or neither"),
    ({"out": np.empty((3, 2, 2, 5), np.float32)}, "out: ndarray float32; expected a float32 tensor"),
])
def test_a_wrong_tensor_is_refused_before_c_runs(loops, change, message):
    arguments = pool_arguments()
    with pytest.raises(CLoopArgumentError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        loops.pool_norm_relu(**{**arguments, **change})
    assert (arguments["out"] == 7.0).all()  # nothing written


def window_arguments(count: int = 4) -> dict:
    """Good arguments of window_logits: 2 images of a 3 x 3 x 2 last map, 2 x 2 windows, 10 classes."""
    generator = torch.Generator().manual_seed(1)
    return {"without": torch.randn(2, 2, 2, 10, generator=generator), "weight": torch.randn(10, 18, generator=generator),
            "item_image": np.array([0, 1, 1, 0], np.int32), "top": np.array([0, 1, 0, 1], np.int32),
            "left": np.array([1, 0, 0, 1], np.int32), "fresh": torch.randn(count, 2, 2, 2, generator=generator),
            "raw": False, "scale": None, "shift": None, "out": torch.empty(count, 10)}


def test_window_logits_with_good_arguments_are_outside_plus_window(loops):
    a = window_arguments()
    loops.window_logits(**a)
    weight = a["weight"].view(10, 3, 3, 2)
    for b in range(4):
        t, l, n = int(a["top"][b]), int(a["left"][b]), int(a["item_image"][b])
        expected = a["without"][n, t, l] + weight[:, t : t + 2, l : l + 2].reshape(10, -1) @ a["fresh"][b].reshape(-1)
        assert torch.allclose(a["out"][b], expected, atol=1e-5)


@pytest.mark.parametrize("change,message", [
    ({"item_image": np.array([0, 1, 1, 0], np.int64)}, "item_image: ndarray int64; expected an int32 numpy array"),
    ({"top": np.array([0, 1, 0, 1, 0, 1, 0, 1], np.int32)[::2]}, "top: expected a contiguous array"),
    ({"item_image": np.array([0, 1, 2, 0], np.int32)}, "item_image: values 0 to 2; expected 0 to 1"),
    ({"left": np.array([1, 0, 0, 2], np.int32)}, "left: values 0 to 2; expected 0 to 1"),
    ({"top": np.array([0, -1, 0, 1], np.int32)}, "top: values -1 to 1; expected 0 to 1"),
    ({"top": np.array([0, 1, 0], np.int32)}, r"top: shape \(3,\); expected \(4,\)"),
    ({"weight": torch.randn(10, 17)}, r"weight: shape \(10, 17\); expected \(10, 18\)"),
])
def test_a_wrong_index_array_is_refused_before_c_runs(loops, change, message):
    with pytest.raises(CLoopArgumentError, match="^" + message):
        loops.window_logits(**{**window_arguments(), **change})


def first_block_arguments(h: int = 2, w: int = 2, channels: int = 4, kernel: int = 3, pasted=None) -> dict:
    """Arguments of first_block for one item of a 28 x 28 image padded by 1, windows h x w with pool."""
    return {"padded": torch.zeros(1, 30, 30), "item_image": np.zeros(1, np.int32),
            "box": np.array([[0, 4, 0, 4]], np.int32), "pasted": pasted, "fill": 0.0,
            "top": np.zeros(1, np.int32), "left": np.zeros(1, np.int32), "h": h, "w": w, "pad": 1,
            "weight": torch.zeros(kernel, kernel, channels), "bias": None, "pool": True, "scale": None,
            "shift": None, "out": torch.empty(1, h, w, channels)}


@pytest.mark.parametrize("arguments,message", [
    (first_block_arguments(h=18), "h: 38; expected 3 to 36"),  # an input region beyond the 36 x 36 buffer
    (first_block_arguments(channels=300), "channels: 300; expected 1 to 256"),
    ({**first_block_arguments(), "top": np.array([14], np.int32)}, "top: values 14 to 14; expected 0 to 12"),  # 2 * 12 + 6 rows = 30
    (first_block_arguments(pasted=torch.zeros(1, 3, 3)), r"box: a box larger than the pasted squares \(3 x 3\)"),
])
def test_sizes_beyond_the_c_buffers_are_refused(loops, arguments, message):
    first_block = loops.first_block
    first_block(**first_block_arguments())  # the same call with good sizes runs
    with pytest.raises(CLoopArgumentError, match="^" + message):
        first_block(**arguments)


def test_the_checks_hold_under_python_minus_o():
    # assert statements vanish under -O; the checks must not
    code = ("import numpy as np, torch\nfrom nnscope.vision.occlusion import c_loops\n"
            "try:\n    c_loops._indices('top', np.zeros(2, np.int64), (2,))\nexcept c_loops.CLoopArgumentError as e:\n"
            "    print('refused:', e)\n")
    done = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "refused: top: ndarray int64; expected an int32 numpy array", done.stderr
