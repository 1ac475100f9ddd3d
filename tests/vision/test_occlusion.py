"""Occlusion maps: a hand-set model with exactly known maps, equality with the naive loop,
Captum's attribution derived from our maps, the CLI and its bad input."""

import math

import numpy as np
import pytest
import torch

from nnscope.cli import main
from nnscope.model import CNN, CNNConfig, MNIST_MEAN, MNIST_STD
from nnscope.vision.incremental import IncrementalCNN
from nnscope.vision.occlusion import (
    batched_occlusion_probabilities,
    captum_attribution,
    naive_occlusion_probabilities,
    occlusion_maps,
    occlusion_probabilities,
)


def cell_max_model() -> CNN:
    """One channel per layer, each conv the identity and each batch norm undoing the input
    normalisation, so the 7 x 7 features are the maxima of the 4 x 4 pixel cells;
    logit 0 = 10 x (max of the cell at rows 8-11, cols 12-15), logit 1 = 5, the other logits 0."""
    model = CNN(CNNConfig(channels=(1, 1, 1)))
    with torch.no_grad():
        for i in (1, 2, 3):
            conv, bn = getattr(model, f"conv{i}"), getattr(model, f"bn{i}")
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0
            bn.running_mean.zero_()
            bn.weight.fill_(1.0)
            bn.running_var.fill_(1.0 - bn.eps)
            bn.bias.zero_()
        # block 1 maps the normalised pixel back to the pixel: x_n * std + mean
        model.bn1.running_var.fill_(1.0 / MNIST_STD**2 - model.bn1.eps)
        model.bn1.bias.fill_(MNIST_MEAN)
        model.fc.weight.zero_()
        model.fc.bias.zero_()
        model.fc.weight[0, 2 * 7 + 3] = 10.0  # cell (2, 3): pixel rows 8-11, cols 12-15
        model.fc.bias[1] = 5.0
    return model.eval()


def softmax_of(logit0: float) -> np.ndarray:
    logits = np.array([logit0, 5.0] + [0.0] * 8)
    return np.exp(logits) / np.exp(logits).sum()


def test_hand_set_model_black_patch_over_one_white_pixel():
    image = torch.zeros(1, 28, 28)
    image[0, 10, 13] = 1.0  # the only ink, inside cell (2, 3)
    probabilities = occlusion_probabilities(cell_max_model(), image[None], patch=8, stride=1, fill=0.0)[0]
    rows = np.arange(21)[:, None]
    cols = np.arange(21)[None, :]
    covered = (rows <= 10) & (10 < rows + 8) & (cols <= 13) & (13 < cols + 8)  # patch top-left (row, col)
    expected = np.where(covered[..., None], softmax_of(0.0), softmax_of(10.0))
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    maps = occlusion_maps(probabilities, 0)
    assert covered.sum() == 64
    assert (maps["predicted_label"] == np.where(covered, 1, 0)).all()
    assert maps["true_class_probability"][0, 0] == pytest.approx(math.exp(10) / (math.exp(10) + math.exp(5) + 8), abs=1e-6)
    np.testing.assert_allclose(maps["max_probability"], probabilities.max(-1))


def test_hand_set_model_white_patch_on_black_image_with_stride():
    # fill 1 raises the cell's maximum to 1 wherever a patch of 5 at stride 3 touches rows 8-11, cols 12-15
    probabilities = occlusion_probabilities(cell_max_model(), torch.zeros(1, 1, 28, 28), patch=5, stride=3, fill=1.0)[0]
    starts = np.arange(0, 24, 3)
    touches = ((starts[:, None] < 12) & (starts[:, None] + 5 > 8)) & ((starts[None, :] < 16) & (starts[None, :] + 5 > 12))
    expected = np.where(touches[..., None], softmax_of(10.0), softmax_of(0.0))
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


def random_model(seed: int, config: CNNConfig = CNNConfig(channels=(6, 8, 12))) -> CNN:
    """A CNN with random weights and random batch-norm statistics, some scales negative."""
    torch.manual_seed(seed)
    model = CNN(config)
    with torch.no_grad():
        for i in range(1, len(config.channels) + 1):
            bn = getattr(model, f"bn{i}")
            bn.running_mean.normal_(0, 0.3)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.normal_(0.5, 0.8)
            bn.bias.normal_(0, 0.3)
    return model.eval()


def digit_like_images(count: int, seed: int) -> torch.Tensor:
    """Images (count, 1, 28, 28) with a black border and grey strokes, like MNIST digits."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.zeros(count, 1, 28, 28)
    images[:, :, 5:23, 7:21] = torch.rand(count, 1, 18, 14, generator=generator).round()
    return images


@pytest.mark.parametrize("patch,stride,fill", [(8, 1, 0.0), (8, 1, 0.5), (3, 2, 0.5), (1, 5, 1.0), (12, 4, 0.0), (28, 1, 0.3),
                                               (5, 3, 0.0)])
def test_equal_to_naive_loop(patch, stride, fill):
    model = random_model(patch)
    images = digit_like_images(2, seed=stride)
    fast = occlusion_probabilities(model, images, patch, stride, fill, batch=37, images_per_group=1)
    naive = naive_occlusion_probabilities(model, images[1], patch, stride, fill)  # the slow reference, once
    assert fast[1].shape == naive.shape
    assert np.abs(fast[1] - naive).max() < 1e-5
    plain = batched_occlusion_probabilities(model, images, patch, stride, fill, batch=50)
    assert np.abs(plain - fast).max() < 1e-5


def test_captum_attribution_derived_from_our_maps_equals_captums():
    captum = pytest.importorskip("captum.attr")
    model = random_model(3)
    with torch.no_grad():
        model.fc.weight.mul_(5.0)  # outputs far from uniform, so that occlusion moves them
    image = digit_like_images(1, seed=7)
    target, patch, stride = int(model(image).argmax()), 8, 1
    probabilities = occlusion_probabilities(model, image, patch, stride, 0.0)[0]
    unoccluded = float(torch.softmax(model(image), 1)[0, target].detach())
    ours = captum_attribution(probabilities, target, unoccluded, patch, stride)
    theirs = captum.Occlusion(lambda x: torch.softmax(model(x), 1)).attribute(
        image, sliding_window_shapes=(1, patch, patch), strides=(1, stride, stride), baselines=0.0,
        target=target, perturbations_per_eval=64)
    np.testing.assert_allclose(ours, theirs[0, 0].detach().numpy(), atol=1e-5)
    assert np.abs(ours).max() > 0.01  # the map is not trivially zero


@pytest.mark.parametrize("option,value,field", [
    ("--patch", "0", "--patch"), ("--patch", "29", "--patch"), ("--stride", "0", "--stride"),
    ("--fill", "1.5", "--fill"), ("--fill", "-0.1", "--fill"), ("--digit", "12", "--digit"),
])
def test_bad_input_is_one_line_and_exit_2(option, value, field, capsys, tmp_path):
    code = main(["occlude", option, value, "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and field in err and "Traceback" not in err


@pytest.mark.slow
def test_occlude_command_on_the_trained_model(trained_checkpoint, trained_model, mnist, tmp_path, capsys):
    import json

    from nnscope.data import as_float_images

    code = main(["occlude", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path), "--aggregate", "5",
                 "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    index = result["index"]
    assert mnist.test_labels[index] == 6 and result["digit"] == 6
    assert np.array_equal(np.array(result["image"]), as_float_images(mnist.test_images[index : index + 1])[0, 0].numpy())
    naive = naive_occlusion_probabilities(trained_model, torch.tensor(result["image"])[None].float(), 8, 1, 0.0)
    for key, expected in occlusion_maps(naive, 6).items():
        got = np.array(result[key])
        assert got.shape == (21, 21)
        assert np.abs(got - expected).max() < 1e-5 if key != "predicted_label" else (got == expected).all()
    summary = result["which_parts_matter"]
    assert summary["critical_positions"] == int((np.array(result["true_class_probability"]) < 0.5).sum())
    assert summary["flipped_positions"] == int((np.array(result["predicted_label"]) != 6).sum())
    assert result["aggregate"]["images"] == 5
    for name in ("occlusion_maps.png", "occlusion_parts.png", "occlusion_aggregate.png"):
        assert (tmp_path / name).stat().st_size > 10_000


def test_positions_hiding_the_same_ink_are_computed_once(monkeypatch):
    # a vertical bar at column 13 and a short horizontal bar: many patch positions hide the same
    # ink (columns without ink in between), and many hide none (fill 0 on a black background)
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 6:22, 13] = 1.0
    image[0, 0, 10, 13:17] = 0.6
    model = random_model(4)
    computed = []  # items per call of the engine
    original = IncrementalCNN.logits

    def counting_logits(self, base, image, box, *args, **kwargs):
        computed.append(len(box))
        return original(self, base, image, box, *args, **kwargs)

    monkeypatch.setattr(IncrementalCNN, "logits", counting_logits)
    fast = occlusion_probabilities(model, image, 8, 1, 0.0)[0]
    hidden = {frozenset((r + y, c + x) for y, x in zip(*np.nonzero(image[0, 0, r : r + 8, c : c + 8].numpy())))
              for r in range(21) for c in range(21)}
    assert sum(computed) == len(hidden - {frozenset()}) < 441 // 2  # one forward per distinct hidden ink
    naive = naive_occlusion_probabilities(model, image[0], 8, 1, 0.0)
    assert np.abs(fast - naive).max() < 1e-5
    # fill 0.5 changes every pixel under the patch: no position is skipped or shared, still exact
    computed.clear()
    fast = occlusion_probabilities(model, image, 8, 1, 0.5)[0]
    assert sum(computed) == 441
    assert np.abs(fast - naive_occlusion_probabilities(model, image[0], 8, 1, 0.5)).max() < 1e-5


def test_maps_do_not_depend_on_the_thread_count():
    # the report computes on one thread and must print the same numbers as the command on two
    model, images = random_model(5, CNNConfig()), digit_like_images(3, seed=2)  # the shipped shape: fc reads 3136
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = occlusion_probabilities(model, images, 8, 1, 0.0)
        torch.set_num_threads(2)
        two = occlusion_probabilities(model, images, 8, 1, 0.0)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(one, two)
