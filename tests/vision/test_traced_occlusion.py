"""The traced incremental engine against a one-position-per-pass loop, and nnscope.Occlusion against Captum."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from nnscope import Occlusion
from nnscope.errors import NnscopeError
from nnscope.model import CNN, CNNConfig
from nnscope.vision.occlusion.traced import traced_occlusion

TOLERANCE = 1e-5


def covering_starts(side: int, patch: int, stride: int) -> list[int]:
    """Patch corners from 0 by `stride` until a patch reaches the edge (Captum's rule, written plainly)."""
    starts = [0]
    while starts[-1] + patch < side:
        starts.append(starts[-1] + stride)
    return starts


def naive_outputs(model, images, patch, stride, fill=0.0) -> torch.Tensor:
    """(N, rows, cols, K): one forward pass per patch position."""
    rows = covering_starts(images.shape[2], patch[0], stride[0])
    cols = covering_starts(images.shape[3], patch[1], stride[1])
    with torch.no_grad():
        out = torch.empty(len(images), len(rows), len(cols), model(images.clone()).shape[1])
        for i, r in enumerate(rows):
            for j, c in enumerate(cols):
                x = images.clone()
                x[:, :, r:r + patch[0], c:c + patch[1]] = fill
                out[:, i, j] = model(x)
    return out


def random_batch_norms(model: nn.Module) -> nn.Module:
    """Eval mode with batch-norm statistics and affine parameters that are far from the identity,
    some scales negative."""
    generator = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(generator=generator)
            m.running_var.uniform_(0.5, 2.0, generator=generator)
            m.weight.data.normal_(generator=generator)
            m.bias.data.normal_(generator=generator)
    return model.eval()


class Residual(nn.Module):
    """ResNet basic blocks: in-place ReLU, `out += shortcut`, strided 1x1 conv shortcuts."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        out += self.shortcut(x)
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, channels: int = 3):
        super().__init__()
        self.stem, self.pool = nn.Conv2d(channels, 6, 5, 2, 2), nn.MaxPool2d(3, 2, 1)
        self.blocks = nn.Sequential(Residual(6, 6, 1), Residual(6, 8, 2))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.blocks(self.pool(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class DilatedGrouped(nn.Module):
    """Dilated, grouped and 'same' convs, overlapping max and average pools in module and functional form."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=2, dilation=2)
        self.b = nn.Conv2d(6, 6, 3, stride=2, padding=1, groups=3)
        self.c = nn.Conv2d(6, 12, (3, 2), padding="same", groups=6, dilation=(1, 2))
        self.max = nn.MaxPool2d(3, 2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, 1, padding=1)
        self.fc = nn.Linear(12 * 4 * 4, 4)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.a(x)), 3, 1, 1)
        x = F.avg_pool2d(torch.tanh(self.b(x)), 2, 1)
        x = self.avg(self.max(F.gelu(self.c(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 4).flatten(1))


def vgg_style() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(12 * 7 * 6, 6))


class Concat(nn.Module):
    """Two branches of different reach, concatenated along the channels, then a product with a third."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 5, padding=2)
        self.gate = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), self.b(x)], dim=1) * torch.sigmoid(self.gate(x))
        return self.fc(y.mean(dim=(2, 3)))


def images(n: int = 2, shape=(3, 30, 26), seed: int = 0) -> torch.Tensor:
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed))


def seeded(build):
    torch.manual_seed(0)
    return random_batch_norms(build())


MODELS = {"resnet": lambda: seeded(ResNet), "dilated_grouped": lambda: seeded(DilatedGrouped),
          "vgg": lambda: seeded(vgg_style), "concat": lambda: seeded(Concat)}


@pytest.mark.parametrize("name", MODELS)
def test_engine_equals_naive_loop_on_composite_nets(name):
    model, x = MODELS[name](), images()
    result = traced_occlusion(model, x, (5, 4), (3, 2), fill=0.3, batch=64)
    assert result.method == "incremental"
    assert any(isinstance(w, tuple) for n, w in result.windows.items() if n not in ("x", "input_1"))
    expected = naive_outputs(model, x, (5, 4), (3, 2), fill=0.3)
    assert result.outputs.shape == expected.shape
    assert (result.outputs - expected).abs().max() < TOLERANCE


def single_op(op: nn.Module, channels: int, flat: int) -> nn.Module:
    return nn.Sequential(op, nn.Flatten(), nn.Linear(flat, 3)).eval()


class Binary(nn.Module):
    def __init__(self, combine):
        super().__init__()
        self.a, self.b, self.combine = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 1), combine

    def forward(self, x):
        return self.combine(self.a(x), self.b(x))


OPS = {
    "conv k3 s2 p1": (nn.Conv2d(3, 4, 3, 2, 1), "_0"),
    "conv k5 s3 p0": (nn.Conv2d(3, 4, 5, 3), "_0"),
    "conv k3 dilation 3": (nn.Conv2d(3, 4, 3, padding=3, dilation=3), "_0"),
    "conv groups 3": (nn.Conv2d(3, 6, 3, padding=1, groups=3), "_0"),
    "conv (3, 5) same": (nn.Conv2d(3, 4, (3, 5), padding="same"), "_0"),
    "max pool 3/2 p1": (nn.MaxPool2d(3, 2, 1), "_0"),
    "max pool 3/2 ceil dilated": (nn.MaxPool2d(3, 2, 0, dilation=2, ceil_mode=True), "_0"),
    "avg pool 3/1 p1": (nn.AvgPool2d(3, 1, 1), "_0"),
    "avg pool 2/2": (nn.AvgPool2d(2), "_0"),
    "batch norm": (nn.BatchNorm2d(3), "_0"),
    "relu": (nn.ReLU(), "_0"),
    "add": (Binary(torch.add), "add"),
    "mul": (Binary(lambda a, b: a * b), "mul"),
    "cat": (Binary(lambda a, b: torch.cat([a, b], 1)), "cat"),
}


@pytest.mark.parametrize("name", OPS)
def test_each_supported_op_runs_windowed_and_exact(name):
    torch.manual_seed(0)
    op, node = OPS[name]
    x = images(2, (3, 35, 31), seed=3) - 0.5
    with torch.no_grad():
        flat = op(x).flatten(1).shape[1]
    model = random_batch_norms(single_op(op, 3, flat))
    result = traced_occlusion(model, x, (4, 3), (3, 4), batch=50)
    assert isinstance(result.windows[node], tuple), result.windows  # recomputed on a window, not in full
    assert (result.outputs - naive_outputs(model, x, (4, 3), (3, 4))).abs().max() < TOLERANCE


def brute_force_spans(op: nn.Module, x: torch.Tensor, rows, cols, patch, fill: float):
    """Per position the rows [lo, hi) and columns [lo, hi) of op's output that differ from the
    unoccluded output: a full forward pass of the op with the patch filled in, then a diff."""
    with torch.no_grad():
        base = op(x)
        spans = []
        for r, c in zip(rows, cols):
            occluded = x.clone()
            occluded[:, :, r:r + patch[0], c:c + patch[1]] = fill
            changed = (op(occluded) != base).any(0).any(0)  # (H', W')
            axes = [changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()]
            spans.append(tuple((int(a[0]), int(a[-1]) + 1) if len(a) else None for a in axes))
    return spans


SPAN_CASES = {  # op, patch; patches at least as tall and wide as the dilation, so no tap skips over them
    "conv k3 s1 p1": (nn.Conv2d(2, 3, 3, 1, 1), (3, 2)),
    "conv k5 s2 p2": (nn.Conv2d(2, 3, 5, 2, 2), (3, 4)),
    "conv k3 s2 p0": (nn.Conv2d(2, 3, 3, 2, 0), (2, 3)),
    "conv k4 s3 p2 dilation 2": (nn.Conv2d(2, 3, 4, 3, 2, dilation=2), (3, 2)),
    "conv (3, 2) same dilation (1, 2) groups 2": (
        nn.Conv2d(2, 4, (3, 2), padding="same", dilation=(1, 2), groups=2), (2, 3)),
    "conv (1, 5) s (2, 1) p (0, 3)": (nn.Conv2d(2, 3, (1, 5), (2, 1), (0, 3)), (2, 2)),
    "max pool 3/2 p1": (nn.MaxPool2d(3, 2, 1), (3, 3)),
    "max pool 3/1 p1 dilation 2": (nn.MaxPool2d(3, 1, 1, dilation=2), (2, 3)),
    "max pool 2/2": (nn.MaxPool2d(2), (3, 2)),
    "avg pool 3/1 p1": (nn.AvgPool2d(3, 1, 1), (2, 2)),
    "avg pool 5/2 p2": (nn.AvgPool2d(5, 2, 2), (3, 4)),
}


@pytest.mark.parametrize("name", SPAN_CASES)
def test_each_window_is_exactly_the_largest_changed_span(name):
    """The planner's span per position is the brute-force changed span (not wider), and the one
    window recomputed for every position is exactly the largest of them."""
    from torch import fx

    from nnscope.vision.occlusion.traced import _stored_pass, patch_starts
    from nnscope.vision.occlusion.traced_regions import track_windows

    torch.manual_seed(0)
    op, patch = SPAN_CASES[name]
    x = images(2, (2, 41, 38), seed=4).double()  # float64: every changed input changes its outputs visibly
    model = fx.symbolic_trace(nn.Sequential(op.double().eval()))
    grid = [(r, c) for r in patch_starts(41, patch[0], 3) for c in patch_starts(38, patch[1], 3)]
    rows, cols = (np.array(v) for v in zip(*grid))
    fill = 10.0  # above every pixel, so a max pool's window holding the patch changes too
    window = track_windows(model, _stored_pass(model, x), rows, cols, patch)[next(iter(model.graph.nodes)).next]
    expected = brute_force_spans(op, x, rows, cols, patch, fill)
    assert not isinstance(window, str), window
    for i in range(2):  # rows, then columns
        lo, hi = window.spans[i]
        assert [(int(a), int(b)) for a, b in zip(lo, hi)] == [e[i] for e in expected]
        largest = max(b - a for a, b in (e[i] for e in expected))
        assert window.size[i] == largest
        assert all(s <= a and b <= s + largest for s, (a, b) in zip(window.starts[i], (e[i] for e in expected)))


def test_nnscope_mnist_cnn_agrees_with_the_naive_loop():
    torch.manual_seed(0)
    model = random_batch_norms(CNN(CNNConfig()))
    x = images(2, (1, 28, 28))
    result = traced_occlusion(model, x, (8, 8), (3, 3), batch=128)
    assert result.windows["conv1"] != "full"
    assert (result.outputs - naive_outputs(model, x, (8, 8), (3, 3))).abs().max() < TOLERANCE


@settings(max_examples=8, deadline=None)
@given(ph=st.integers(1, 9), pw=st.integers(1, 9), sh=st.integers(2, 5), sw=st.integers(2, 5))
def test_random_patch_and_stride(ph, pw, sh, sw):
    model, x = MODELS["resnet"](), images(1, (3, 15, 13))
    result = traced_occlusion(model, x, (ph, pw), (sh, sw), fill=torch.tensor([0.1, 0.5, 0.9]))
    expected = naive_outputs(model, x, (ph, pw), (sh, sw), fill=torch.tensor([0.1, 0.5, 0.9])[:, None, None])
    assert (result.outputs - expected).abs().max() < TOLERANCE


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        if y.sum() > 0:  # control flow on values: torch.fx cannot trace it
            y = -y
        return self.fc(y.mean(dim=(2, 3)))


def test_untraceable_model_runs_batched_passes_and_says_so():
    torch.manual_seed(0)
    model, x = DataDependent().eval(), images(2, (3, 12, 10))
    result = traced_occlusion(model, x, (3, 3), (2, 2))
    assert result.method == "batched" and "could not trace" in result.note
    assert (result.outputs - naive_outputs(model, x, (3, 3), (2, 2))).abs().max() < TOLERANCE


def test_bad_images_are_one_line_errors():
    with pytest.raises(NnscopeError, match="images"):
        traced_occlusion(vgg_style(), torch.rand(3, 30, 26), (4, 4), (2, 2))
    with pytest.raises(NnscopeError, match="patch"):
        traced_occlusion(vgg_style(), images(), (40, 4), (2, 2))


CAPTUM_CASES = [
    dict(sliding_window_shapes=(3, 5, 4), strides=(1, 3, 2), target=1, perturbations_per_eval=7),
    dict(sliding_window_shapes=(3, 6, 6), strides=4, target=[0, 2], baselines=0.5, perturbations_per_eval=16),
    dict(sliding_window_shapes=(3, 7, 5), strides=(3, 4, 5), target=torch.tensor([1, 2]),
         baselines=torch.rand(3, 1, 1, generator=torch.Generator().manual_seed(5)), perturbations_per_eval=16),
    dict(sliding_window_shapes=(3, 4, 4), strides=(3, 3, 4), target=torch.tensor(2), perturbations_per_eval=32,
         baselines=torch.rand(2, 3, 30, 26, generator=torch.Generator().manual_seed(6))),
    dict(sliding_window_shapes=(2, 6, 6), strides=(1, 5, 5), target=0, perturbations_per_eval=32),  # plain path
]


@pytest.mark.parametrize("model_name", ["resnet", "concat"])
@pytest.mark.parametrize("case", range(len(CAPTUM_CASES)))
def test_drop_in_equals_captum(model_name, case):
    captum_attr = pytest.importorskip("captum.attr")
    model, x = MODELS[model_name](), images()
    ours = Occlusion(model).attribute(x, **CAPTUM_CASES[case])
    theirs = captum_attr.Occlusion(model).attribute(x, **CAPTUM_CASES[case])
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert (ours - theirs).abs().max() < TOLERANCE


def test_drop_in_with_a_plain_function_equals_captum():
    captum_attr = pytest.importorskip("captum.attr")
    model, x = MODELS["vgg"](), images()

    def probabilities(inputs):
        return torch.softmax(model(inputs), 1)

    kwargs = dict(sliding_window_shapes=(3, 8, 8), strides=(3, 4, 4), target=3, perturbations_per_eval=16)
    ours, theirs = Occlusion(probabilities).attribute(x, **kwargs), captum_attr.Occlusion(probabilities).attribute(x, **kwargs)
    assert (ours - theirs).abs().max() < TOLERANCE


def test_drop_in_rejects_a_window_larger_than_the_input_as_captum_does():
    with pytest.raises(AssertionError, match="sliding_window_shapes"):
        Occlusion(vgg_style()).attribute(images(), sliding_window_shapes=(3, 31, 4), target=0)
    with pytest.raises(NnscopeError, match="strides"):
        Occlusion(vgg_style()).attribute(images(), sliding_window_shapes=(3, 4, 4), strides=5, target=0)


def test_banded_plans_give_border_groups_their_own_windows_and_stay_exact():
    """Rows and columns of positions split into bands, each group planned on its own: the groups
    cover every position once, border groups get smaller windows than the interior, and the maps
    equal the naive loop whether banded or not."""
    from nnscope.vision.occlusion.traced import _stored_pass, _trace, patch_starts, plan_groups
    from nnscope.vision.occlusion.traced_regions import Window

    model, x = MODELS["resnet"](), images(2, (3, 61, 57), seed=7)
    patch, stride = (6, 5), (4, 3)
    rows, cols = patch_starts(61, 6, 4), patch_starts(57, 5, 3)
    grid = np.array([(r, c) for r in rows for c in cols])
    traced, _ = _trace(model)
    plans = plan_groups(traced, _stored_pass(traced, x), len(rows), len(cols), grid, patch)
    assert len(plans) > 1
    assert sorted(np.concatenate([m for m, _ in plans]).tolist()) == list(range(len(grid)))
    sizes = [{n.name: w.size for n, w in plan.items() if isinstance(w, Window)} for _, plan in plans]
    interior = sizes[[len(m) for m, _ in plans].index(max(len(m) for m, _ in plans))]
    assert any(s[n][0] * s[n][1] < interior[n][0] * interior[n][1] for s in sizes for n in s if n in interior)
    expected = naive_outputs(model, x, patch, stride, fill=0.2)
    for banded in (True, False):
        result = traced_occlusion(model, x, patch, stride, fill=0.2, batch=40, banded=banded)
        assert result.method == "incremental"
        assert (result.outputs - expected).abs().max() < TOLERANCE
    assert "position groups" in result.note or not banded


def test_position_classes_separate_rows_by_span_size_not_only_by_place():
    """Hand-made span sizes: rows of positions alternating 9 and 10 (a patch aligned with a
    stride-2 layer or not), and two border rows of 4: three classes, the alternating rows apart,
    which contiguous bands could not give; classes are never merged past what they save."""
    from nnscope.vision.occlusion import traced_cost

    sizes = np.array([[4], [9], [10], [9], [10], [9], [10], [4]])  # (rows of positions, one conv)
    classes = traced_cost._bands(sizes, np.array([1.0]), np.array([20]))
    assert sorted(c.tolist() for c in classes) == [[0, 7], [1, 3, 5], [2, 4, 6]]
    clipped = traced_cost._bands(np.array([[30], [25], [40]]), np.array([1.0]), np.array([20]))
    assert [c.tolist() for c in clipped] == [[0, 1, 2]]  # all clipped to the whole side: one class


def test_the_cost_model_switches_to_full_passes_where_windows_cost_more():
    """A wide conv whose window covers nearly all of its map runs full; the small first conv runs
    windowed; the maps stay exact."""
    from nnscope.vision.occlusion.traced import _stored_pass, _trace, patch_starts, plan_groups
    from nnscope.vision.occlusion.traced_regions import Window, track_windows

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 9, padding=4), nn.ReLU(),
                          nn.Conv2d(32, 32, 9, padding=4), nn.Flatten(), nn.Linear(32 * 20 * 20, 3)).eval()
    x = images(1, (3, 20, 20), seed=8)
    traced, _ = _trace(model)
    stored = _stored_pass(traced, x)
    starts = patch_starts(20, 3, 3)
    grid = np.array([(r, c) for r in starts for c in starts])
    tracked = track_windows(traced, stored, grid[:, 0], grid[:, 1], (3, 3))
    (_, plan), = plan_groups(traced, stored, len(starts), len(starts), grid, (3, 3), banded=False)
    names = {n.name: w for n, w in plan.items()}
    assert isinstance(names["_0"], Window) and names["_4"] == "full"
    assert isinstance({n.name: w for n, w in tracked.items()}["_4"], Window)  # trackable, but not worth it
    result = traced_occlusion(model, x, (3, 3), (3, 3))
    assert (result.outputs - naive_outputs(model, x, (3, 3), (3, 3))).abs().max() < TOLERANCE


def test_gather_writes_each_window_with_its_fresh_values_into_one_contiguous_channels_last_tensor():
    """Against a per-item loop: the stored map, the fresh window written over it (parts outside
    the map or the window dropped), the window cut out; laid out as the conv reads it."""
    from nnscope.vision.occlusion.traced_windows import gather

    torch.manual_seed(0)
    stored = torch.randn(2, 9, 8, 3)  # (N, H, W, C)
    image, rows, cols, size = torch.tensor([0, 1, 1]), torch.tensor([0, 2, 5]), torch.tensor([1, 0, 3]), (4, 5)
    fresh, fresh_rows, fresh_cols = torch.randn(3, 3, 3, 4), torch.tensor([-1, 3, 7]), torch.tensor([2, 0, 5])
    out = gather(stored, 0, 0, image, rows, cols, size, fresh, fresh_rows, fresh_cols)
    assert out.is_contiguous(memory_format=torch.channels_last)
    for b in range(3):
        full = stored[image[b]].permute(2, 0, 1).clone()
        for i in range(3):
            for j in range(4):
                r, c = int(fresh_rows[b]) + i, int(fresh_cols[b]) + j
                if 0 <= r < 9 and 0 <= c < 8:
                    full[:, r, c] = fresh[b, :, i, j]
        assert torch.equal(out[b], full[:, rows[b]:rows[b] + 4, cols[b]:cols[b] + 5])
