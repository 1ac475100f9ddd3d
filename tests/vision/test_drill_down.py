"""Drill-down occlusion: exact where computed, interpolated elsewhere, and all of it exact at share 1."""

import numpy as np
import pytest
import torch

from nnscope import Occlusion
from nnscope.errors import NnscopeError
from nnscope.vision.occlusion.drill_down import coarse_indices, drill_down_occlusion, interpolation_matrix
from nnscope.vision.occlusion.traced import traced_occlusion

from tests.vision.test_traced_occlusion import MODELS, TOLERANCE, images

PATCH, STRIDE = (5, 4), (2, 2)


def test_interpolation_is_exact_at_known_indices_and_linear_between():
    known = coarse_indices(7, 3)
    assert known.tolist() == [0, 3, 6]
    weights = interpolation_matrix(7, known)
    values = torch.tensor([1.0, 4.0, -2.0])
    assert torch.allclose(weights @ values, torch.tensor([1.0, 2.0, 3.0, 4.0, 2.0, 0.0, -2.0]))


def test_computed_positions_are_the_exact_map_and_the_rest_is_filled():
    model, x = MODELS["resnet"](), images(2, (3, 30, 26))
    exact = traced_occlusion(model, x, PATCH, STRIDE, fill=0.2)
    drill = drill_down_occlusion(model, x, PATCH, STRIDE, 0.2, fill=0.2, target=[1, 3])
    assert drill.outputs.shape == exact.outputs.shape
    assert drill.computed.shape == (2, *exact.outputs.shape[1:3]) and drill.computed.dtype == bool
    assert not torch.isnan(drill.outputs).any()
    assert 0 < drill.computed.sum() < drill.computed.size  # some computed, not all
    assert drill.computed[:, ::2, ::2].all() and drill.computed[:, -1, -1].all()  # the coarse grid
    mask = torch.from_numpy(drill.computed)
    assert (drill.outputs[mask] - exact.outputs[mask]).abs().max() < TOLERANCE
    assert (drill.outputs[~mask] - exact.outputs[~mask]).abs().max() > TOLERANCE  # filled, not computed


def test_share_one_is_the_exact_map():
    model, x = MODELS["resnet"](), images(1, (3, 30, 26))
    exact = traced_occlusion(model, x, PATCH, STRIDE)
    drill = drill_down_occlusion(model, x, PATCH, STRIDE, 1.0)
    assert drill.computed.all()
    assert (drill.outputs - exact.outputs).abs().max() < TOLERANCE


def test_drop_in_drill_down_marks_computed_places_and_equals_exact_at_one():
    model, x = MODELS["resnet"](), images(2, (3, 30, 26))
    kwargs = dict(sliding_window_shapes=(3, *PATCH), strides=(3, *STRIDE), target=1)
    occlusion = Occlusion(model)
    exact = occlusion.attribute(x, **kwargs)
    assert occlusion.computed is None
    assert (occlusion.attribute(x, **kwargs, drill_down=1.0) - exact).abs().max() < TOLERANCE
    rough = occlusion.attribute(x, **kwargs, drill_down=0.25)
    assert rough.shape == exact.shape and occlusion.computed.shape == (2, 14, 12)
    assert 0 < occlusion.computed.mean() < 1


@pytest.mark.parametrize("share", [0, 1.5, "half"])
def test_a_bad_share_is_one_line(share):
    with pytest.raises(NnscopeError, match="^drill_down"):
        drill_down_occlusion(MODELS["vgg"](), images(1), PATCH, STRIDE, share)


def test_the_engine_computes_only_the_positions_asked_for():
    model, x = MODELS["resnet"](), images(2, (3, 30, 26))
    exact = traced_occlusion(model, x, PATCH, STRIDE)
    mask = np.zeros(exact.outputs.shape[1:3], dtype=bool)
    mask[2:5, 3] = mask[-1, -1] = True
    some = traced_occlusion(model, x, PATCH, STRIDE, positions=mask)
    assert some.computed is mask or np.array_equal(some.computed, mask)
    assert torch.isnan(some.outputs[:, ~torch.from_numpy(mask)]).all()
    assert (some.outputs[:, torch.from_numpy(mask)] - exact.outputs[:, torch.from_numpy(mask)]).abs().max() < TOLERANCE
    with pytest.raises(NnscopeError, match="^positions"):
        traced_occlusion(model, x, PATCH, STRIDE, positions=mask[:-1])
