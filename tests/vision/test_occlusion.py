"""Occlusion maps: a hand-set model with exactly known maps, equality with the naive loop,
Captum's attribution derived from our maps, the CLI and its bad input."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nnscope.cli import main
from nnscope.errors import NnscopeError
from nnscope.model import CNNConfig
from nnscope.vision.occlusion import (
    batched_occlusion_probabilities,
    captum_attribution,
    naive_occlusion_probabilities,
    occlusion_maps,
    occlusion_probabilities,
)
from nnscope.options.occlusion import OcclusionOptions
from nnscope.vision.occlusion.incremental import IncrementalCNN
from vision.occlusion_models import cell_max_model, digit_like_images, random_model


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
    starts = np.arange(0, 25, 3)  # Captum's rule: 0 .. 24, the last patch hides columns 24-27 (23 / 3 does not divide)
    touches = ((starts[:, None] < 12) & (starts[:, None] + 5 > 8)) & ((starts[None, :] < 16) & (starts[None, :] + 5 > 12))
    expected = np.where(touches[..., None], softmax_of(10.0), softmax_of(0.0))
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)


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


GOLDEN_CHECKPOINT = Path(__file__).parent.parent / "golden" / "cnn.pt"


@pytest.mark.parametrize("argv,field", [(["--patch", "29"], "--patch"), (["--digit", "12"], "--digit"),
                                        (["--stride", "9"], "--stride")])
def test_options_beyond_the_model_and_its_image_are_one_line_and_exit_2(argv, field, capsys, tmp_path):
    # a patch or a class is checked against the image and the model once they are read: 28 pixels, ten digits
    code = main(["occlude", *argv, "--checkpoint", str(GOLDEN_CHECKPOINT), "--out", str(tmp_path), "--images", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith(f"nnscope occlude: error: {field}") and "Traceback" not in err


@pytest.mark.parametrize("argv,field", [
    (["--patch", "0"], "--patch"), (["--stride", "0"], "--stride"),
    (["--fill", "1.5"], "--fill"), (["--fill", "-0.1"], "--fill"), (["--fill", "nan"], "--fill"),
    (["--index", "-1"], "--index"), (["--images", "-1"], "--images"),
    (["--aggregate", "-1"], "--images"),  # the old spelling of --images
    (["--all", "--images", "0"], "--images"), (["--limit", "5"], "--limit"),  # --limit without --all
    (["--all", "--limit", "5", "--images", "6"], "--limit"),
])
def test_bad_input_is_one_line_and_exit_2(argv, field, capsys, tmp_path):
    code = main(["occlude", *argv, "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and err.startswith(f"nnscope occlude: error: {field}") and "Traceback" not in err


def test_an_option_that_does_nothing_without_all_is_named(capsys, tmp_path):
    code = main(["occlude", "--npz", str(tmp_path / "x.npz"), "--checkpoint", str(tmp_path / "none.pt")])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[0] == "note: --npz is ignored without --all" and "none.pt" in err[-1]


@pytest.mark.parametrize("options,message", [
    (OcclusionOptions(index=-2), "--index: -2; expected a whole number >= 0"),
    (OcclusionOptions(patch=0), "--patch: 0; expected a whole number of pixels >= 1"),
    (OcclusionOptions(patch=8.5), "--patch: 8.5; expected a whole number of pixels >= 1"),
    (OcclusionOptions(stride=0), "--stride: 0; expected a whole number of pixels >= 1"),
    (OcclusionOptions(stride=9), "--stride: 9 pixels is more than the patch's 8: the pixels between two positions "
                                 "would never be hidden; expected at most 8"),
    (OcclusionOptions(fill=2.0), "--fill: 2; expected a pixel value (0 black, 1 white) from 0 to 1"),
    (OcclusionOptions(images=-1), "--images: -1; expected a whole number of images >= 0"),
    (OcclusionOptions(images=0, test_set=True), "--images: 0; expected a whole number of images >= 1"),
])
def test_every_check_names_its_option(options, message):
    with pytest.raises(NnscopeError) as caught:
        options.check()
    assert str(caught.value) == message


@pytest.mark.parametrize("options,message", [
    (OcclusionOptions(digit=10), "--digit: 10; the model has 10 classes, expected 0 to 9"),
    (OcclusionOptions(patch=29), "--patch: 29 x 29 pixels; the image is 28 x 28 (H x W), expected a patch inside it"),
])
def test_every_check_against_the_image_and_model_names_its_option(options, message):
    options.check()
    with pytest.raises(NnscopeError) as caught:
        options.check_image(1, 28, 28, 10)
    assert str(caught.value) == message


@pytest.mark.slow
def test_occlude_command_on_the_trained_model(trained_checkpoint, trained_model, mnist, tmp_path, capsys,
                                              monkeypatch):
    import json

    from nnscope.data import as_float_images
    from nnscope.report import figures_occlusion

    drawn = {}  # file name -> (number of axes, colour bars, titles) of each figure, as saved
    save = figures_occlusion.save_figure

    def recording_save(fig, path):
        bars = sum(ax.get_label() == "<colorbar>" for ax in fig.axes)
        drawn[Path(path).name] = (len(fig.axes), bars, [ax.get_title() for ax in fig.axes])
        return save(fig, path)

    monkeypatch.setattr(figures_occlusion, "save_figure", recording_save)
    code = main(["occlude", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path), "--images", "5",
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
    assert result["finding"] == summary["text"] + result["aggregate"]["text"]
    assert [f["file"] for f in result["figures"]] == ["occlusion_maps.png", "occlusion_parts.png",
                                                      "occlusion_aggregate.png"]
    # the maps: digit + three maps, colour bars on the two probability maps; parts: digit + bars;
    # aggregate: mean image + two maps with their colour bars
    assert drawn["occlusion_maps.png"][:2] == (6, 2) and "predicted label" in drawn["occlusion_maps.png"][2]
    assert drawn["occlusion_parts.png"][:2] == (2, 0) and "which parts matter" in drawn["occlusion_parts.png"][2]
    assert drawn["occlusion_aggregate.png"][:2] == (5, 2)
    for name in drawn:
        width, height = Image.open(tmp_path / name).size
        assert width > 2 * height > 600  # a row of panels, drawn at 110 dpi


@pytest.mark.slow
@pytest.mark.parametrize("options", [OcclusionOptions(digit=6, patch=28, stride=28, images=2),  # one position
                                     OcclusionOptions(digit=6, patch=28, images=2)])  # the patch is the image
def test_a_single_patch_position_gives_its_maps_and_figures(trained_checkpoint, trained_model, mnist, tmp_path,
                                                            options):
    from nnscope.labelled_data import labelled_test_set
    from nnscope.models import load_model
    from nnscope.analyses import run_occlusion

    result = run_occlusion(load_model(trained_checkpoint), labelled_test_set(mnist), options, out=tmp_path)
    assert result["true_class_probability"].shape == (1, 1) and result["aggregate"]["images"] == 2
    image = torch.from_numpy(result["image"])[None]
    naive = naive_occlusion_probabilities(trained_model, image, options.patch, options.stride, 0.0)
    assert np.abs(result["probabilities"] - naive[0]).max() < 1e-5
    assert all((tmp_path / f["file"]).is_file() for f in result["figures"]) and len(result["figures"]) == 3


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
