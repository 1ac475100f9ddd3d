"""The one occlusion function (maps.model_occlusion): each of its engines equals the naive
one-position-per-pass loop, for a fill value, a fill per channel and a fill that is another image (a paste:
the transplant attack), at strides that do not divide the image; the one rule for patch positions
(Captum's: every pixel covered, the last patch may stick out); and grids with gaps refused in one line."""

import numpy as np
import pytest
import torch

from helpers import trained_like
from nnscope.errors import NnscopeError
from nnscope.model import CNN, CNNConfig
from nnscope.models.formats import Network
from nnscope.models.loaded import loaded_from_network
from nnscope.options.occlusion import OcclusionOptions
from nnscope.vision.occlusion import c_loops
from nnscope.vision.occlusion.maps import ENGINES, choose_engine, model_occlusion, naive_occlusion_probabilities
from nnscope.vision.occlusion.spans import patch_starts
from vision.occlusion_models import digit_like_images


def loaded(module, format: str = "python", shape=(1, 28, 28)):
    return loaded_from_network(Network(module.eval(), format, "a test model", shape))


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(3)
    return loaded(CNN(CNNConfig(channels=(4, 6, 8))), "nnscope")


@pytest.fixture(scope="module")
def residual():
    return loaded(trained_like("ResidualNet"), "python", (3, 30, 26))


def naive(model, images, patch, stride, fill):
    """The reference, image by image; `fill` a value or one image per image."""
    return np.stack([naive_occlusion_probabilities(model.module, image, patch, stride,
                                                   fill[n] if isinstance(fill, torch.Tensor) else fill)
                     for n, image in enumerate(images)])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("patch,stride", [(5, 3), (6, 6)])  # 23 / 3 does not divide; 6 = 6 just covers
def test_every_engine_equals_the_naive_loop_on_nnscope_cnn(cnn, engine, patch, stride):
    if engine == "cnn" and c_loops.for_model(cnn.network.config) is None:
        pytest.skip("the C loops did not compile here: the CNN engine is not chosen")
    images = digit_like_images(2, seed=1)
    out = model_occlusion(cnn, images, patch, stride, 0.25, engine=engine)
    assert out.row_starts == out.col_starts == patch_starts(patch, stride).tolist()
    assert np.abs(out.probabilities - naive(cnn, images, patch, stride, 0.25)).max() < 1e-5


@pytest.mark.parametrize("engine", ENGINES)
def test_a_paste_is_an_occlusion_whose_fill_is_the_donor(cnn, engine):
    if engine == "cnn" and c_loops.for_model(cnn.network.config) is None:
        pytest.skip("the C loops did not compile here")
    images, donors = digit_like_images(2, seed=4), digit_like_images(2, seed=5)
    out = model_occlusion(cnn, images, 5, 2, donors, engine=engine)  # 23 / 2: the last patch sticks out
    assert out.row_starts[-1] == 24
    assert np.abs(out.probabilities - naive(cnn, images, 5, 2, donors)).max() < 1e-5


@pytest.mark.parametrize("engine", ["traced", "plain"])
def test_any_model_with_a_fill_per_channel_and_a_rectangle(residual, engine):
    images = torch.from_numpy(np.random.default_rng(2).random((1, 3, 30, 26), dtype=np.float32))
    fill = (0.2, 0.5, 0.8)
    out = model_occlusion(residual, images, (7, 5), (4, 3), fill, engine=engine)
    reference = np.stack([naive_occlusion_probabilities(residual.module, image, (7, 5), (4, 3),
                                                        torch.tensor(fill).reshape(3, 1, 1)) for image in images])
    assert (out.row_starts, out.col_starts) == (patch_starts(7, 4, 30).tolist(), patch_starts(5, 3, 26).tolist())
    assert np.abs(out.probabilities - reference).max() < 1e-5


def test_the_engine_is_chosen_by_what_serves_the_model(cnn, residual):
    images = digit_like_images(1, seed=0)
    compiled = c_loops.for_model(cnn.network.config) is not None
    assert choose_engine(cnn, images, 8, 1, 0.0) == ("cnn" if compiled else "traced")
    assert choose_engine(cnn, images, (8, 6), 1, 0.0) == "traced"  # the CNN engine takes square patches
    assert choose_engine(residual, torch.zeros(1, 3, 30, 26), 8, 1, 0.0) == "traced"
    with pytest.raises(NnscopeError, match="engine: 'fast'; expected one of cnn, traced, plain"):
        model_occlusion(cnn, images, 8, 1, 0.0, engine="fast")


@pytest.mark.parametrize("patch,stride,side,expected", [
    (8, 1, 28, list(range(21))),  # the assignment's maps stay 21 x 21
    (8, 3, 28, [0, 3, 6, 9, 12, 15, 18, 21]),  # 20 / 3 does not divide: one more, sticking out by a pixel
    (8, 4, 28, [0, 4, 8, 12, 16, 20]),
    (28, 5, 28, [0]),
    (5, 5, 28, [0, 5, 10, 15, 20, 25]),
])
def test_patch_positions_follow_captums_rule_and_cover_every_pixel(patch, stride, side, expected):
    starts = patch_starts(patch, stride, side)
    assert starts.tolist() == expected
    covered = np.zeros(side, bool)
    for start in starts:
        covered[start : start + patch] = True
    assert covered.all() and starts[-1] < side


@pytest.mark.parametrize("patch,stride,message", [
    (8, 9, "--stride: 9 pixels is more than the patch's 8: the pixels between two positions would never be hidden; "
           "expected at most 8"),
    ((6, 4), (2, 5), "--stride: 5 pixels is more than the patch's 4"),
])
def test_a_grid_with_gaps_is_refused_in_one_line(patch, stride, message):
    with pytest.raises(NnscopeError) as caught:
        OcclusionOptions(patch=patch, stride=stride).check()
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_the_result_is_typed_reads_as_before_and_draws_its_main_figure(cnn):
    from nnscope.analyses import run_occlusion
    from nnscope.vision.occlusion.analysis import OcclusionResult

    image = digit_like_images(1, seed=6)[0].numpy()
    result = run_occlusion(cnn, None, OcclusionOptions(patch=6, stride=3), image=image, image_name="drawn")
    assert isinstance(result, OcclusionResult) and result["finding"] == result.finding
    document = result.to_json()
    assert document["row_starts"] == document["starts"] == patch_starts(6, 3).tolist() == document["col_starts"]
    assert "regions" not in document and document["aggregate_skipped"] in document["finding"]
    figure = result.figure()
    assert len(figure.axes) == 6  # the image, three maps, two colour bars
