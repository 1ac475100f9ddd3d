"""The transplant attack: the paste itself, an exact search on a hand-set model, and every success of
the command re-checked against the donor and a full forward pass."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nnscope.cli import main
from nnscope.errors import NnscopeError
from nnscope.models.formats import Network
from nnscope.models.loaded import loaded_from_network
from nnscope.options.attack import AttackOptions
from nnscope.vision.attack import paste_mask, search, transplant
from vision.occlusion_models import cell_max_model, digit_like_images


def loaded_cell_max():
    """cell_max_model as a loaded nnscope CNN: the CNN engine serves it."""
    return loaded_from_network(Network(cell_max_model(), "nnscope", "cell_max_model", (1, 28, 28)))


def test_transplant_replaces_exactly_one_square():
    image = np.arange(28 * 28, dtype=np.float32).reshape(28, 28)
    donor = -np.arange(28 * 28, dtype=np.float32).reshape(28, 28)
    out = transplant(image, donor, 3, 5, 6, 20, 25)
    assert np.array_equal(out[20:23, 25:28], donor[5:8, 6:9])
    mask = np.ones((28, 28), bool)
    mask[20:23, 25:28] = False
    assert np.array_equal(out[mask], image[mask])
    assert image[20, 25] == 20 * 28 + 25  # the original is untouched


def test_search_on_hand_set_model_finds_exactly_the_squares_over_the_ink():
    # cell_max_model says '0' while pixel (10, 13) is white and '1' once a black square covers it
    image = np.zeros((1, 28, 28), np.float32)
    image[0, 10, 13] = 1.0
    donors = np.zeros((2, 1, 28, 28), np.float32)  # two black donors
    hits = search(loaded_cell_max(), image[None], 0, donors, [3])
    expected = {(0, d, 3, r, c, 1) for d in (0, 1) for r in (8, 9, 10) for c in (11, 12, 13)}
    assert set(hits) == expected
    positions = {tuple(p) for p in np.argwhere(paste_mask(image, 3, 1))}  # squares within a pixel of the ink
    assert positions == {(r, c) for r in range(7, 12) for c in range(10, 15)}


def test_search_does_not_depend_on_the_thread_count():
    # batches run on as many threads as torch has; the hits, in order, must be the same on one
    # cell_max_model says '0' while its cell holds white ink; black squares over all of it flip it
    images = digit_like_images(3, seed=7).numpy()
    donors = np.concatenate([np.zeros((1, 1, 28, 28), np.float32), digit_like_images(2, seed=8).numpy()])
    model, threads = loaded_cell_max(), torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = search(model, images, 0, donors, [4, 6], stride=1)
        torch.set_num_threads(2)
        two = search(model, images, 0, donors, [4, 6], stride=1)
    finally:
        torch.set_num_threads(threads)
    assert one == two and len(one) > 0


GOLDEN_CHECKPOINT = Path(__file__).parent.parent / "golden" / "cnn.pt"


@pytest.mark.parametrize("argv,option", [
    (["--sizes", "0"], "--sizes"), (["--donors", "-1"], "--donors"), (["--donors", "0"], "--donors"),
    (["--images", "-1"], "--images"), (["--rate-images", "-3"], "--images"),  # the old spelling of --images
    (["--rate-stride", "0"], "--rate-stride"), (["--index", "-5"], "--index"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_log(argv, option, capsys, tmp_path):
    code = main(["attack", *argv, "--checkpoint", str(tmp_path / "none.pt")])
    err = capsys.readouterr().err.strip()
    # one line: no "searching pastes ... from -9 donors" before it
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"nnscope attack: error: {option}")


@pytest.mark.parametrize("argv,option", [(["--sizes", "29"], "--sizes"), (["--digit", "11"], "--digit")])
def test_options_beyond_the_model_and_its_images_are_one_line_and_exit_2(argv, option, capsys, tmp_path):
    # a class or a size is checked against the model and the image once they are read: the ten digits, 28 pixels
    code = main(["attack", *argv, "--checkpoint", str(GOLDEN_CHECKPOINT), "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    # one line: no "searching pastes ... from -9 donors" before it
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"nnscope attack: error: {option}")


@pytest.mark.parametrize("options,message", [
    (AttackOptions(digit=-1), "--digit: -1; expected a whole number from 0 to 9"),
    (AttackOptions(index=-1), "--index: -1; expected a whole number >= 0"),
    (AttackOptions(sizes=()), "--sizes: none given; expected sides from 1 to 28 pixels"),
    (AttackOptions(sizes=(4, 40)), "--sizes: 40; expected a whole number of pixels from 1 to 28"),
    (AttackOptions(donors=0), "--donors: 0; expected a whole number of donor images per digit >= 1"),
    (AttackOptions(images=-1), "--images: -1; expected a whole number of test images >= 0"),
    (AttackOptions(rate_stride=0), "--rate-stride: 0; expected a whole number of pixels >= 1"),
])
def test_every_check_names_its_option(options, message):
    with pytest.raises(NnscopeError) as caught:
        options.check()
    assert str(caught.value) == message


def test_the_command_defaults_are_the_options_defaults():
    from nnscope.cli import build_parser

    args = build_parser(["attack"]).parse_args(["attack"])
    assert (tuple(args.sizes), args.donors, args.images, args.rate_stride) == (
        AttackOptions.sizes, AttackOptions.donors, AttackOptions.images, AttackOptions.rate_stride) == ((4, 6, 8, 10), 2, 30, 2)


@pytest.mark.slow
def test_every_success_is_exactly_what_it_says(trained_checkpoint, trained_model, mnist, tmp_path, capsys):
    code = main(["attack", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path), "--sizes", "10",
                 "--donors", "1", "--rate-images", "2", "--rate-stride", "4", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    digit, image = result["digit"], np.array(result["image"], np.float32)
    assert digit == 6 and mnist.test_labels[result["index"]] == 6
    assert result["successes"], "no transplant changed the label"
    for s in result["successes"]:
        donor = mnist.test_images[s["donor_index"]].astype(np.float32) / 255
        assert mnist.test_labels[s["donor_index"]] == s["donor_digit"] != digit
        expected = transplant(image, donor, s["patch_size"], s["source_row"], s["source_col"], s["target_row"],
                              s["target_col"])
        if "adversarial_image" in s:  # the JSON keeps the pictures of the drawn examples
            assert np.array_equal(np.array(s["adversarial_image"], np.float32), expected)
        with torch.no_grad():
            probabilities = torch.softmax(trained_model(torch.from_numpy(expected)[None, None]), 1)[0].numpy()
        assert probabilities.argmax() == s["prediction"] != digit
        assert np.abs(probabilities - np.array(s["probabilities"])).max() < 1e-5
    assert all("adversarial_image" in result["successes"][k] for k in result["examples"])
    assert result["smallest_patch"] == min(s["patch_size"] for s in result["successes"])
    assert result["rate"]["images"] == 2 and 0 <= result["rate"]["rate"] <= 1
    assert result["finding"][0].startswith(f"Yes. Of {result['candidates']:,} pastes tried on image "
                                           f"{result['index']} of the mnist test set")
    # the figure: one row of three panels (original, donor, result) per example drawn
    assert [f["file"] for f in result["figures"]] == ["transplant_examples.png"]
    width, height = Image.open(tmp_path / "transplant_examples.png").size
    rows = len(result["examples"])
    assert rows >= 1 and abs(height / width - 2.6 * rows / 7.5) < 0.25  # figsize (7.5, 2.6 per row)
