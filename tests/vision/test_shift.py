"""Shift semantics for every padding mode, checked against np.pad; the shift experiment and sweep on real data."""

import json

import numpy as np
import pytest
import torch

from nnscope.cli import main
from nnscope.data import as_float_images
from nnscope.errors import NnscopeError
from nnscope.findings.shift import describe_paddings
from nnscope.options.shift import ShiftOptions
from nnscope.vision.examples import predict
from nnscope.analyses import run_shift
from nnscope.vision.shift import PADDINGS, measure_shift, shift_image, shift_images, shift_sweep

NP_PAD_MODE = {"clamp": "edge", "zero": "constant", "reflect": "reflect", "wrap": "wrap"}


def shifted_by_np_pad(image: np.ndarray, dx: int, dy: int, padding: str) -> np.ndarray:
    """Independent oracle: pad by 28 on every side with numpy's mode, then cut the shifted window."""
    k = 28
    padded = np.pad(image, k, mode=NP_PAD_MODE[padding])
    return padded[k - dy : k - dy + image.shape[0], k - dx : k - dx + image.shape[1]]


def test_hand_made_5x5_left_2_down_1():
    a = np.arange(25).reshape(5, 5)
    expected = {
        "clamp": [[2, 3, 4, 4, 4], [2, 3, 4, 4, 4], [7, 8, 9, 9, 9], [12, 13, 14, 14, 14], [17, 18, 19, 19, 19]],
        "zero": [[0, 0, 0, 0, 0], [2, 3, 4, 0, 0], [7, 8, 9, 0, 0], [12, 13, 14, 0, 0], [17, 18, 19, 0, 0]],
        "reflect": [[7, 8, 9, 8, 7], [2, 3, 4, 3, 2], [7, 8, 9, 8, 7], [12, 13, 14, 13, 12], [17, 18, 19, 18, 17]],
        "wrap": [[22, 23, 24, 20, 21], [2, 3, 4, 0, 1], [7, 8, 9, 5, 6], [12, 13, 14, 10, 11], [17, 18, 19, 15, 16]],
    }
    for padding, rows in expected.items():
        np.testing.assert_array_equal(shift_image(a, -2, 1, padding), rows, err_msg=padding)


def test_clamp_left_shift_takes_column_min_j_plus_k():
    image = np.random.default_rng(0).random((28, 28))
    for k in (1, 3, 10, 27):
        left = shift_image(image, -k, 0, "clamp")
        for j in range(28):
            np.testing.assert_array_equal(left[:, j], image[:, min(j + k, 27)])
        right = shift_image(image, k, 0, "clamp")
        for j in range(28):
            np.testing.assert_array_equal(right[:, j], image[:, max(j - k, 0)])


@pytest.mark.parametrize("padding", PADDINGS)
def test_every_shift_matches_np_pad(padding):
    image = np.random.default_rng(1).integers(0, 256, (28, 28)).astype(np.uint8)
    for dx in range(-27, 28, 4):
        for dy in (-27, -6, -1, 0, 2, 13, 27):
            np.testing.assert_array_equal(shift_image(image, dx, dy, padding), shifted_by_np_pad(image, dx, dy, padding))


def test_batch_shift_equals_one_by_one_and_keeps_dtype():
    images = np.random.default_rng(2).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    for padding in PADDINGS:
        batch = shift_images(images, 3, -2, padding)
        assert batch.dtype == np.uint8 and batch.shape == images.shape
        for i in range(5):
            np.testing.assert_array_equal(batch[i], shift_image(images[i], 3, -2, padding))


def test_shifted_images_are_laid_out_in_c_order_like_their_input():
    # a layout with the leading axes innermost reads to torch as channels-last: another convolution kernel, whose
    # probabilities differ from the unshifted image's in the last bit (the slider's ends against the example)
    for shape in ((1, 28, 28), (3, 28, 28), (4, 1, 28, 28)):
        images = np.random.default_rng(4).random(shape, dtype=np.float32)
        for padding in PADDINGS:
            moved = shift_images(images, 2, -1, padding)
            assert moved.strides == images.strides, (shape, padding)


def test_zero_shift_is_identity_and_wrap_is_a_permutation():
    image = np.random.default_rng(3).random((28, 28))
    for padding in PADDINGS:
        np.testing.assert_array_equal(shift_image(image, 0, 0, padding), image)
    np.testing.assert_array_equal(np.sort(shift_image(image, 5, -9, "wrap"), None), np.sort(image, None))


def test_bad_shift_and_padding_are_refused():
    image = np.zeros((28, 28))
    with pytest.raises(NnscopeError, match="0 to 27"):
        shift_image(image, 28, 0)
    with pytest.raises(NnscopeError, match="padding"):
        shift_image(image, 1, 0, "mirror")


@pytest.mark.parametrize("argv, words", [
    (["--pixels", "28", "--checkpoint", "{checkpoint}"], "--pixels: 28; expected a whole number of pixels from 0 to 27"),
    (["--pixels", "-30"], "--pixels"),
    (["--digit", "10", "--checkpoint", "{checkpoint}"], "--digit: '10' is not a class of the data"),
    (["--padding", "mirror"], "--padding"),
    (["--sweep-max", "28", "--checkpoint", "{checkpoint}"], "--sweep-max: 28; expected a whole number of pixels from 1 to 27"),
    (["--sweep-images", "0"], "--images"),
    (["--images", "-5"], "--images"),
    (["--checkpoint", "/nonexistent/model.pt"], "--model: /nonexistent/model.pt: no such file"),
    # issue 12: refused at once, before any loading (the default checkpoint does not exist here either); the
    # upper bounds depend on the image's size, known once the data is read
    (["--pixels", "-2", "--checkpoint", "/nonexistent/model.pt"], "--pixels: -2; expected a whole number of pixels >= 0"),
    (["--sweep-max", "-1", "--checkpoint", "/nonexistent/model.pt"], "--sweep-max: -1; expected a whole number of pixels >= 1"),
    (["--sweep-max", "0", "--checkpoint", "/nonexistent/model.pt"], "--sweep-max: 0"),
    (["--no-sweep", "--sweep-max", "-1", "--checkpoint", "/nonexistent/model.pt"], "--sweep-max: -1"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys, tmp_path):
    from nnscope.model import CNN, save_checkpoint

    if "{checkpoint}" in argv:  # a class only the data can refuse: past the loading of a real checkpoint
        path = save_checkpoint(tmp_path / "m.pt", CNN(), train_config={}, metrics={}, seed=0)
        argv = [str(path) if a == "{checkpoint}" else a for a in argv]
    assert main(["shift", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


@pytest.mark.parametrize("options, words", [
    (dict(digit=-1), "--digit: -1; expected a whole number >= 0"),
    (dict(digit=""), "--digit: ''; expected a class name or index"),
    (dict(index=-3), "--index: -3; expected a whole number >= 0"),
    (dict(pixels=-2), "--pixels: -2; expected a whole number of pixels from 0 to 27"),
    (dict(pixels=28), "--pixels: 28; expected a whole number of pixels from 0 to 27"),
    (dict(pixels=True), "--pixels: True"),
    (dict(pixels=2.0), "--pixels: 2.0"),
    (dict(padding="mirror"), "--padding: unknown value 'mirror'; expected one of clamp, zero, reflect, wrap"),
    (dict(sweep_max=-1), "--sweep-max: -1; expected a whole number of pixels from 1 to 27"),
    (dict(sweep_max=28), "--sweep-max: 28"),
    (dict(sweep_images=0), "--images: 0; expected a whole number of images >= 1"),
    (dict(slider=28), "slider: 28; expected a whole number of pixels from 0 to 27"),
    (dict(slider=-1), "slider: -1"),
    (dict(sweep="no"), "--no-sweep: 'no'"),
])
def test_shift_options_check(options, words):
    import re

    with pytest.raises(NnscopeError, match=re.escape(words)):
        ShiftOptions(**options).check()


def test_options_without_the_sweep_are_noted():
    assert ShiftOptions(sweep=False).ignored() == [] and ShiftOptions(sweep_max=3).ignored() == []
    assert ShiftOptions(sweep=False, sweep_max=3, sweep_images=100).ignored() == [
        "note: --sweep-max is ignored without the sweep (--no-sweep was given)",
        "note: --images is ignored without the sweep (--no-sweep was given)"]


def test_tied_paddings_are_named_once():
    """Issue 11 item 7: when paddings tie, the sentence must not name one padding as both best and worst."""
    tied = {p: np.array([0.928, 0.99, 0.910]) for p in PADDINGS}
    line = describe_paddings(tied, list(PADDINGS), 300, 1, 6, "left", "right")
    assert "leaves 92.8%/91.0% with every padding (clamp, zero, reflect, wrap)" in line and "most robust" not in line
    two = {**tied, "wrap": np.array([0.80, 0.99, 0.85])}
    line = describe_paddings(two, list(PADDINGS), 300, 1, 6, "left", "right")
    assert ("92.8%/91.0% with clamp or zero or reflect padding and 80.0%/85.0% with wrap padding: "
            "clamp or zero or reflect padding is the most robust by 9.4 points") in line
    close = {**tied, "zero": np.array([0.927, 0.99, 0.910])}
    line = describe_paddings(close, list(PADDINGS), 300, 1, 6, "left", "right")
    assert "with clamp or reflect or wrap padding and 92.7%/91.0% with zero padding: the padding mode barely matters" in line


def test_sweep_figures_show_every_padding_and_shift(tmp_path, saved_figures):
    from nnscope.report.figures_shift import draw_shift_per_digit, draw_shift_sweep

    shifts = np.arange(-2, 3)
    table = np.linspace(0.5, 1, 5)
    sweep = {"shifts": shifts, "paddings": ["clamp", "wrap"], "images": 40,
             "accuracy": {a: {p: table for p in ("clamp", "wrap")} for a in "xy"},
             "per_digit": {a: {p: np.tile(table, (10, 1)) for p in ("clamp", "wrap")} for a in "xy"},
             "class_names": [str(d) for d in range(10)]}
    draw_shift_sweep(sweep, tmp_path / "sweep.png")
    draw_shift_per_digit(sweep, tmp_path / "per_digit.png", padding="wrap")
    assert saved_figures["sweep.png"] | {"titles": None} == {"panels": 2, "colorbars": 2, "images": 2, "texts": 2 * 2 * 5,
                                                             "suptitle": "", "titles": None}
    assert saved_figures["sweep.png"]["titles"][0] == "Accuracy on 40 images shifted by whole pixels"
    per_digit = saved_figures["per_digit.png"]
    assert (per_digit["panels"], per_digit["colorbars"], per_digit["texts"]) == (2, 1, 2 * 10 * 5)
    assert per_digit["titles"] == [f"accuracy (%) per class, shift in {a}, wrap padding" for a in "xy"]


@pytest.mark.slow
def test_shift_experiment_on_the_trained_model(trained_model, trained_loaded, mnist, mnist_test):
    result = measure_shift(trained_loaded, mnist_test, ShiftOptions(digit=1, pixels=3, padding="clamp", sweep=False))
    assert mnist.test_labels[result["index"]] == 1 and result["original"]["prediction"] == 1
    original = mnist.test_images[result["index"]] / 255.0
    np.testing.assert_allclose(result["original"]["image"], original, atol=1e-6)
    np.testing.assert_allclose(result["left"]["image"], shift_image(original, -3, 0, "clamp"), atol=1e-6)
    for side in ("left", "right", "original"):
        probabilities = result[side]["probabilities"]
        assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-5
        assert result[side]["prediction"] == probabilities.argmax()
    assert result["changed"]["left"] == (result["left"]["prediction"] != 1)
    for side, sign in (("left", -1), ("right", 1)):  # first_change: changed there, not one pixel before
        change = result["first_change"][side]
        if change["pixels"] is None:
            continue
        at = lambda k: int(predict(trained_model, torch.as_tensor(shift_image(original, sign * k), dtype=torch.float32)[None, None]).argmax())  # noqa: E731
        assert at(change["pixels"]) == change["prediction"] != 1
        assert change["pixels"] == 1 or at(change["pixels"] - 1) == 1


@pytest.mark.slow
def test_run_shift_slider_and_figures(trained_loaded, mnist_test, tmp_path, saved_figures):
    result = run_shift(trained_loaded, mnist_test, ShiftOptions(sweep=False, slider=3), out=tmp_path)
    slider = result["slider"]
    assert slider["shifts"] == [-3, -2, -1, 0, 1, 2, 3] and slider["padding"] == "clamp" and "sweep" not in result
    for position, key in ((0, "left"), (3, "original"), (6, "right")):  # the slider's ends are the example's views
        np.testing.assert_array_equal(slider["probabilities"][position], result[key]["probabilities"])
        assert slider["predictions"][position] == result[key]["prediction"]
        assert slider["images"][position] == np.rint(result[key]["image"] * 255).astype(int).tolist()
    assert [f["file"] for f in result["figures"]] == ["shift_example.png"]
    example = saved_figures["shift_example.png"]
    assert (example["panels"], example["images"], example["colorbars"]) == (6, 3, 0)  # 3 images over 3 bar charts
    assert example["titles"][1].startswith(f"original: predicted {result['original']['prediction']} (p = ")
    assert "sweep" not in result and "skipped" in result
    assert run_shift(trained_loaded, mnist_test, ShiftOptions(sweep=False))["figures"] == []
    assert result["digit"] == 1 and "'1'" in result.finding[0]  # MNIST's default class: a '1'
    by_name = run_shift(trained_loaded, mnist_test, ShiftOptions(digit="7", sweep=False))
    assert by_name["label"] == 7 and mnist_test.labels[by_name["index"]] == 7


@pytest.mark.slow
def test_sweep_per_digit_agrees_with_overall_accuracy(trained_model, trained_loaded, mnist, mnist_test):
    sweep = shift_sweep(trained_loaded, mnist_test, max_shift=2, paddings=("clamp", "zero"), limit=1000)
    wrap = shift_sweep(trained_loaded, mnist_test, max_shift=2, paddings=("zero", "wrap"), limit=1000)
    counts = np.bincount(mnist.test_labels[:1000], minlength=10)

    unshifted = (predict(trained_model, as_float_images(mnist.test_images[:1000])).argmax(1).numpy()
                 == mnist.test_labels[:1000]).mean()
    for axis in ("x", "y"):
        for padding in ("clamp", "zero"):
            accuracy, per_digit = sweep["accuracy"][axis][padding], sweep["per_digit"][axis][padding]
            assert accuracy.shape == (5,) and per_digit.shape == (10, 5)
            assert accuracy[2] == pytest.approx(unshifted)  # the middle column is the unshifted test set
            np.testing.assert_allclose(per_digit.T @ counts / counts.sum(), accuracy)
    assert accuracy[2] > 0.95 and sweep["breaks"]["x"]["clamp"][0]["digit"] == 0
    # the sweep classifies only the images a padding changes; brute force over all of them must agree
    for axis, column, shift in (("x", 0, (-2, 0)), ("y", 4, (0, 2))):
        moved = shift_images(mnist.test_images[:1000], *shift, "wrap")
        brute = (predict(trained_model, as_float_images(moved)).argmax(1).numpy() == mnist.test_labels[:1000]).mean()
        assert wrap["accuracy"][axis]["wrap"][column] == pytest.approx(brute)
    np.testing.assert_array_equal(wrap["accuracy"]["x"]["zero"], sweep["accuracy"]["x"]["zero"])


@pytest.mark.slow
def test_cli_json_has_the_documented_fields(trained_checkpoint, tmp_path, capsys):
    argv = ["shift", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path), "--sweep-max", "1",
            "--sweep-images", "300", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    sweep = result["sweep"]
    assert sweep["shifts"] == [-1, 0, 1] and sweep["images"] == 300 and sweep["paddings"] == list(PADDINGS)
    assert len(sweep["accuracy"]["y"]["wrap"]) == 3 and np.array(sweep["per_digit"]["x"]["clamp"]).shape == (10, 3)
    assert (tmp_path / "shift_sweep.png").exists() and (tmp_path / "shift_per_digit.png").exists()
    assert {"index", "digit", "pixels", "padding", "original", "left", "right"} <= result.keys()
    assert result["digit"] == 1 and result["pixels"] == 3 and result["padding"] == "clamp"
    for side in ("original", "left", "right"):
        assert np.array(result[side]["image"]).shape == (28, 28) and len(result[side]["probabilities"]) == 10
    assert (tmp_path / "shift_example.png").stat().st_size > 10_000
    assert [f["file"] for f in result["figures"]] == ["shift_example.png", "shift_sweep.png", "shift_per_digit.png"]
    argv = ["shift", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path / "no"), "--no-sweep",
            "--sweep-max", "3", "--json"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "note: --sweep-max is ignored without the sweep (--no-sweep was given)" in printed.err
    assert "sweep" not in json.loads(printed.out)


def test_border_share_counts_ink_near_the_border():
    from nnscope.vision.shift import border_share

    images = np.zeros((4, 28, 28), np.uint8)
    images[0, 0, 10] = 1  # on the edge
    images[1, 5, 14] = 1  # 5 px from the top edge
    images[2, 14, 14] = 1  # centre
    assert border_share(images, 1) == 0.25 and border_share(images, 6) == 0.5 and border_share(images, 0) == 0.0
