"""Training: accuracy on a subset, determinism, shift augmentation, the CLI, DDP with 2 processes."""

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from nnscope.cli import main
from nnscope.data import Digits
from nnscope.model import CNNConfig, load_model
from nnscope.train import make_recipe, random_shift, train


def subset(digits: Digits, n_train: int, n_test: int) -> Digits:
    """The first images of each split: the real data, small enough for a unit test."""
    return replace(digits, train_images=digits.train_images[:n_train], train_labels=digits.train_labels[:n_train],
                   test_images=digits.test_images[:n_test], test_labels=digits.test_labels[:n_test])


TINY = replace(make_recipe("fast"), epochs=2, batch_size=64, bf16=False, model=CNNConfig(channels=(4, 8, 8)))


@pytest.mark.slow
def test_training_on_a_subset_learns(mnist):
    model, metrics = train(subset(mnist, 6000, 1000), TINY, seed=0, device="cpu")
    assert metrics["test_accuracy"] > 0.90  # a 10-class chance level is 0.10
    assert metrics["train_accuracy"] > 0.90
    assert metrics["conv_layers"] == 3 and metrics["parameters"] == sum(p.numel() for p in model.parameters())
    assert [h["epoch"] for h in metrics["history"]] == [1, 2]
    assert metrics["history"][1]["loss"] < metrics["history"][0]["loss"]


@pytest.mark.slow
def test_same_seed_same_weights_other_seed_other_weights(mnist):
    small = subset(mnist, 1024, 200)
    recipe = replace(TINY, epochs=1)
    a, _ = train(small, recipe, seed=3, device="cpu")
    b, _ = train(small, recipe, seed=3, device="cpu")
    c, _ = train(small, recipe, seed=4, device="cpu")
    for (name, pa), pb, pc in zip(a.state_dict().items(), b.state_dict().values(), c.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_random_shift_moves_pixels_and_fills_black():
    image = torch.zeros(1, 1, 28, 28)
    image[0, 0, 10, 12] = 1.0
    g = torch.Generator().manual_seed(0)
    shifted = random_shift(image.repeat(50, 1, 1, 1), 2, g)
    positions = {tuple(torch.nonzero(s[0])[0].tolist()) for s in shifted}
    assert all(8 <= r <= 12 and 10 <= c <= 14 for r, c in positions) and len(positions) > 5
    assert shifted.sum(dim=(1, 2, 3)).eq(1).all()  # one pixel in, none lost: the shift stays inside


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "--epochs: 0; expected a whole number >= 1"),
    (["train", "--batch-size", "-3"], "--batch-size: -3; expected a whole number from 1 to 60000"),
    (["data", "--data-dir", "/no/such/dir"], "--data-dir: /no/such/dir is not a folder"),
])
def test_bad_options_give_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_unknown_recipe_is_an_argparse_error_in_one_line():
    done = subprocess.run([sys.executable, "-m", "nnscope", "train", "--recipe", "huge"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "invalid choice: 'huge'" in done.stderr


@pytest.mark.slow
def test_data_json_is_one_document(mnist):
    done = subprocess.run([sys.executable, "-m", "nnscope", "data", "--json"], capture_output=True, text=True)
    assert done.returncode == 0
    summary = json.loads(done.stdout)
    assert summary["train"]["images"] == 60000 and summary["test"]["per_class"][1] == 1135


@pytest.mark.slow
def test_torchrun_two_processes_write_one_checkpoint(mnist, tmp_path):
    checkpoint = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "nnscope", "train", "--recipe", "fast", "--device", "cpu", "--checkpoint", str(checkpoint), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)  # exactly one document: rank 1 prints nothing
    assert result["processes"] == 2 and result["checkpoint"] == str(checkpoint)
    assert result["test_accuracy"] > 0.97
    assert {"train_accuracy", "seconds", "parameters", "conv_layers"} <= result.keys()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp.pt"]  # no temporary files left
    model = load_model(checkpoint)
    assert model.conv3.out_channels == make_recipe("fast").model.channels[2]


def test_unwritable_output_folder_fails_before_any_work(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", "--out", str(blocker / "sub"), "--checkpoint", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "--out: cannot create the folder" in err and err.count("\n") == 1
    assert not (tmp_path / "m.pt").exists()  # nothing was trained


def test_the_recipe_names_the_command_line_lists_are_the_recipes():
    from nnscope.options.train import RECIPE_NAMES
    from nnscope.train import RECIPES

    assert RECIPE_NAMES == tuple(RECIPES)


@pytest.mark.parametrize("argv, message", [
    (["train", "--seed", "-1"], "--seed: -1; expected a whole number from 0 to 18446744073709551615"),
    (["train", "--seed", str(2**64)], f"--seed: {2**64}; expected a whole number from 0 to 18446744073709551615"),
])
def test_seeds_beyond_64_bits_are_refused_before_any_work(capsys, argv, message):
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"nnscope train: error: {message}"
