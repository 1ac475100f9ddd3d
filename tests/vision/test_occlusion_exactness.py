"""Occlusion that says it is exact must be: models that write in place (into their own tensors or
into their input), a model changed after its first map, bad targets and non-finite fills, each
against a one-position-per-pass loop or Captum on an equivalent model."""

import pytest
import torch
from torch import nn

from nnscope import Occlusion
from nnscope.errors import NnscopeError
from nnscope.vision.occlusion.traced import traced_occlusion

from tests.vision.test_traced_occlusion import TOLERANCE, images, naive_outputs

PATCH, STRIDE = (3, 4), (2, 3)


class Net(nn.Module):
    """conv -> `middle` (the op under test) -> mean over the map -> linear; `middle(y, x)` may write into y or x."""

    def __init__(self, middle, before=None):
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.fc, self.relu = nn.Conv2d(3, 4, 3, padding=1), nn.Linear(4, 3), nn.ReLU(inplace=True)
        self.middle, self.before = middle, before

    def forward(self, x):
        if self.before is not None:
            x = self.before(x)
        return self.fc(self.middle(self, self.conv(x)).mean(dim=(2, 3)))


def clamp_statement(self, y):
    y.clamp_(0, 1)  # a statement: later code reads y, which the write changed
    return y


def clamp_out_of_place(self, y):
    return y.clamp(0, 1)


def relu_module_then_read(self, y):
    z = self.relu(y)  # nn.ReLU(inplace=True) writes into y, read again below
    return y * 2 + z


def relu_then_read_out_of_place(self, y):
    z = torch.relu(y)
    return z * 2 + z


def write_through_view(self, y):
    y[:, :2].mul_(2)  # a view of y is written; y read later: no rewrite is provably exact
    return y


def write_setitem(self, y):
    y[:, :, 0] = 0.5
    return y


def scale_input_in_place(x):
    x.mul_(3).sub_(1)
    return x


def scale_input(x):
    return x * 3 - 1


def subtract_input_in_place(x):
    x -= 0.25
    return x


MODELS = {  # name: (model that writes in place, an equivalent that does not, or None)
    "clamp_ as a statement": (clamp_statement, clamp_out_of_place, None),
    "inplace ReLU on a tensor read later": (relu_module_then_read, relu_then_read_out_of_place, None),
    "mul_ on a view": (write_through_view, None, None),
    "x[...] = v": (write_setitem, None, None),
    "input written in place (mul_, sub_)": (clamp_out_of_place, clamp_out_of_place, scale_input_in_place),
    "input written in place (-=)": (clamp_out_of_place, clamp_out_of_place, subtract_input_in_place),
}


@pytest.mark.parametrize("name", MODELS)
def test_models_that_write_in_place_equal_the_naive_loop(name):
    middle, _, before = MODELS[name]
    model, x = Net(middle, before).eval(), images(2, (3, 14, 11))
    kept = x.clone()
    result = traced_occlusion(model, x, PATCH, STRIDE, fill=0.3, batch=32)
    assert torch.equal(x, kept), "the engine changed the caller's images"
    expected = naive_outputs(model, kept, PATCH, STRIDE, fill=0.3)
    assert (result.outputs - expected).abs().max() < TOLERANCE
    if name == "mul_ on a view":  # traced, but no rewrite is provably exact: full passes, and the note says why
        assert result.method == "batched" and "in-place op 'mul_'" in result.note, result.note
    elif name == "x[...] = v":  # torch.fx does not trace item assignment
        assert result.method == "batched", result.note
    else:
        assert result.method == "incremental", result.note


@pytest.mark.parametrize("name", [n for n, (_, same, _) in MODELS.items() if same is not None])
def test_drop_in_on_models_that_write_in_place_equals_captum_on_the_same_model_written_plainly(name):
    captum_attr = pytest.importorskip("captum.attr")
    middle, plain, before = MODELS[name]
    plain_before = {scale_input_in_place: scale_input, subtract_input_in_place: lambda x: x - 0.25}.get(before)
    x = images(2, (3, 14, 11))
    kwargs = dict(sliding_window_shapes=(3, *PATCH), strides=(3, *STRIDE), target=1, baselines=0.3,
                  perturbations_per_eval=8)
    ours = Occlusion(Net(middle, before).eval()).attribute(x.clone(), **kwargs)
    theirs = captum_attr.Occlusion(Net(plain, plain_before).eval()).attribute(x.clone(), **kwargs)
    assert (ours - theirs).abs().max() < TOLERANCE


def test_a_swapped_module_or_changed_attribute_is_a_new_model_for_the_trace_cache():
    model, x = Net(lambda self, y: self.act(y)).eval(), images(2, (3, 14, 11))
    model.act = nn.ReLU()
    kwargs = dict(sliding_window_shapes=(3, *PATCH), strides=(3, *STRIDE), target=0)
    Occlusion(model).attribute(x, **kwargs)  # traced and cached with the ReLU
    model.act = nn.Sigmoid()  # same parameters, another model
    assert (traced_occlusion(model, x, PATCH, STRIDE).outputs - naive_outputs(model, x, PATCH, STRIDE)).abs().max() < TOLERANCE
    model.act = nn.LeakyReLU(0.1)
    traced_occlusion(model, x, PATCH, STRIDE)
    model.act.negative_slope = 0.7  # an attribute the trace bakes in
    assert (traced_occlusion(model, x, PATCH, STRIDE).outputs - naive_outputs(model, x, PATCH, STRIDE)).abs().max() < TOLERANCE


@pytest.mark.parametrize("target", [3, -4, (5,), [0, 3], torch.tensor([2, 7])])
def test_a_target_out_of_range_is_one_line_naming_target(target):
    model, x = Net(clamp_out_of_place).eval(), images(2, (3, 14, 11))
    for forward in (model, lambda inputs: model(inputs)):  # the engine's path and the plain one
        with pytest.raises(NnscopeError, match="^target: .*out of range") as error:
            Occlusion(forward).attribute(x, sliding_window_shapes=(3, 4, 4), strides=4, target=target)
        assert "\n" not in str(error.value)


@pytest.mark.parametrize("fill", [float("nan"), float("inf"), torch.tensor([0.0, float("nan"), 0.0]).reshape(3, 1, 1)])
def test_a_non_finite_baseline_is_a_clear_error_not_finite_looking_numbers(fill):
    model, x = Net(clamp_out_of_place).eval(), images(2, (3, 14, 11))
    for forward in (model, lambda inputs: model(inputs)):
        with pytest.raises(NnscopeError, match="^baselines: .*expected finite"):
            Occlusion(forward).attribute(x, sliding_window_shapes=(3, 4, 4), strides=4, target=0, baselines=fill)
    with pytest.raises(NnscopeError, match="^fill: .*expected finite"):
        traced_occlusion(model, x, (4, 4), (4, 4), fill=fill)


def test_the_mnist_engine_refuses_a_nan_fill():
    from nnscope.model import CNN, CNNConfig
    from nnscope.vision.occlusion.incremental import IncrementalCNN

    engine = IncrementalCNN(CNN(CNNConfig()).eval(), compiled=False)
    base = engine.base(torch.rand(1, 1, 28, 28))
    with pytest.raises(NnscopeError, match="^fill: nan"):
        engine.logits(base, [0], [(0, 8, 0, 8)], float("nan"))


def test_a_torchscript_module_runs_as_full_passes_and_matches_captum():
    """A ScriptModule cannot be traced: the drop-in keys its cache without reading the module's Python
    attributes (a ScriptModule has none to read) and returns Captum's map from full passes."""
    from captum.attr import Occlusion as CaptumOcclusion

    from nnscope import Occlusion

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(72, 3))
    scripted = torch.jit.script(net).eval()
    x = torch.rand(2, 1, 8, 8)
    ours = Occlusion(scripted).attribute(x, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2), target=1)
    theirs = CaptumOcclusion(scripted).attribute(x, sliding_window_shapes=(1, 3, 3), strides=(1, 2, 2), target=1)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert ours.abs().max() > 0
