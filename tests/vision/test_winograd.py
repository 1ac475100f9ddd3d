"""Winograd F(2x2, 3x3) against torch's direct convolution, and the engine using it against a loop of full passes."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from nnscope.vision.occlusion import traced_tail, winograd
from nnscope.vision.occlusion.traced import traced_occlusion
from tests.vision.test_traced_occlusion import naive_outputs, random_batch_norms

RELATIVE = 1e-5  # of the largest output: float rounding, not a different function


def close(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 5), channels=st.integers(1, 6), out=st.integers(1, 6), height=st.integers(1, 9),
       width=st.integers(1, 9), pad_h=st.integers(0, 2), pad_w=st.integers(0, 2), bias=st.booleans(),
       tiles=st.integers(1, 40))
def test_equals_the_direct_convolution(batch, channels, out, height, width, pad_h, pad_w, bias, tiles):
    if height + 2 * pad_h < 3 or width + 2 * pad_w < 3:
        return  # no output
    generator = torch.Generator().manual_seed(batch * 1000 + channels * 100 + height * 10 + width)
    x = torch.randn(batch, channels, height, width, generator=generator)
    weight = torch.randn(out, channels, 3, 3, generator=generator)
    b = torch.randn(out, generator=generator) if bias else None
    got = winograd.winograd_conv(x, winograd.transformed_kernel(weight), b, pad_h, pad_w,
                                 *winograd.transforms(x.dtype, x.device), tiles=tiles)  # chunks of any size
    want = F.conv2d(x, weight, b, padding=(pad_h, pad_w))
    assert got.shape == want.shape
    assert close(got, want) < RELATIVE


def test_the_module_scripted_frozen_and_optimised_equals_the_conv_on_many_channels():
    torch.manual_seed(0)
    conv = nn.Conv2d(256, 256, 3, padding=1).eval()
    assert winograd.faster(conv)
    module = winograd.WinogradConv(conv).eval()
    compiled = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(module)))
    x = torch.randn(3, 256, 7, 6).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        want = conv(x)
        assert close(module(x), want) < RELATIVE
        assert close(compiled(x), want) < RELATIVE
        assert module(x).is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("conv, why", [
    (nn.Conv2d(256, 256, 3, stride=2), "stride 2"),
    (nn.Conv2d(256, 256, 3, dilation=2), "dilation"),
    (nn.Conv2d(256, 256, 3, groups=2), "groups"),
    (nn.Conv2d(256, 256, 5), "5 x 5"),
    (nn.Conv2d(256, 256, 3, padding="same"), "padding given as a word"),
    (nn.Conv2d(256, 256, 3, padding_mode="reflect"), "reflect padding"),
    (nn.Conv2d(128, 256, 3), "few input channels"),
    (nn.Conv2d(256, 64, 3), "few output channels"),
    (nn.Conv2d(256, 256, 3).double(), "float64"),
])
def test_only_plain_3x3_stride_1_convs_on_many_channels_run_as_winograd(conv, why):
    assert not winograd.faster(conv), why


class Wide(nn.Module):
    """Convs of 256 channels (Winograd in the windows and in the compiled tail), batch norm, a residual sum."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 256, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(256)
        self.conv1 = nn.Conv2d(256, 256, 3, padding=1)
        self.conv2 = nn.Conv2d(256, 256, 3, padding=1)
        self.down = nn.Conv2d(256, 256, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(256, 256, 3, padding=1)
        self.head = nn.Linear(256, 5)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = x + torch.relu(self.conv2(torch.relu(self.conv1(x))))
        x = torch.relu(self.conv3(torch.relu(self.down(x))))
        return self.head(x.mean((2, 3)))


def test_the_engine_with_winograd_convs_equals_one_full_pass_per_position(monkeypatch):
    torch.manual_seed(3)
    model = random_batch_norms(Wide())
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.weight.data *= 3.0  # outputs of order 1, not vanishing through the layers
    images = torch.randn(2, 3, 12, 11)
    windowed = []
    valid_conv = winograd.valid_conv
    monkeypatch.setattr(winograd, "valid_conv", lambda conv: lambda x: windowed.append(x.shape) or valid_conv(conv)(x))
    traced_tail._COMPILED.clear()
    got = traced_occlusion(model, images, (4, 3), (2, 3))
    assert got.method == "incremental"
    assert got.note.endswith("; 3 3x3 convs as Winograd F(2x2, 3x3)")  # conv1, conv2, conv3: not the stem, not the strided one
    assert windowed, "no windowed conv ran as Winograd"
    assert any(w == "full" for w in got.windows.values()), "no full-pass tail"
    tails = [m for m in traced_tail._COMPILED.values() if m is not None]
    assert any("bmm" in str(m.inlined_graph) for m in tails), "no compiled tail runs a Winograd conv"
    want = naive_outputs(model, images, (4, 3), (2, 3))
    assert close(got.outputs, want) < RELATIVE


def test_the_plan_counts_16_multiplies_per_channel_pair_and_2x2_tile_of_a_winograd_conv():
    """Two convs of 256 channels, the second on a 5 x 7 map (3 x 4 tiles); a first conv of 3 channels
    counts its plain multiply-adds."""
    from nnscope.vision.occlusion.traced import _stored_pass, _trace, patch_starts, plan_groups
    from nnscope.vision.occlusion.traced_cost import plan_macs

    model = nn.Sequential(nn.Conv2d(3, 256, 3, padding=1), nn.ReLU(), nn.Conv2d(256, 256, 3, padding=1),
                          nn.Flatten(), nn.Linear(256 * 35, 2)).eval()
    x = torch.zeros(1, 3, 5, 7)
    traced, _ = _trace(model)
    stored = _stored_pass(traced, x)
    rows, cols = patch_starts(5, 5, 1), patch_starts(7, 7, 1)  # one position: the patch covers the image
    grid = np.array([(r, c) for r in rows for c in cols])
    (_, plan), = plan_groups(traced, stored, len(rows), len(cols), grid, (5, 7), banded=False)
    done, total, multiplies = plan_macs(traced, stored, plan)
    assert total == 35 * (3 * 9 * 256 + 256 * 9 * 256)
    assert done == total  # the window is the whole map
    assert multiplies == 35 * 3 * 9 * 256 + 16 * 256 * 256 * 3 * 4


def test_a_weight_or_bias_changed_in_place_is_read_again():
    torch.manual_seed(1)
    conv = nn.Conv2d(256, 256, 3).eval()
    x = torch.randn(2, 256, 6, 5)
    with torch.no_grad():
        before = winograd.valid_conv(conv)(x)
        assert close(before, F.conv2d(x, conv.weight, conv.bias)) < RELATIVE
        conv.weight.mul_(-2.0)  # an optimiser step or a user's edit: the version counter moves
        after = winograd.valid_conv(conv)(x)
        assert close(after, F.conv2d(x, conv.weight, conv.bias)) < RELATIVE
        conv.bias.add_(5.0)  # the bias alone
        assert close(winograd.valid_conv(conv)(x), F.conv2d(x, conv.weight, conv.bias)) < RELATIVE
