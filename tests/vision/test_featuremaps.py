"""Feature maps against a manual forward pass; Cohen's d ranking and ablation on a hand-weighted model."""

import json
import statistics

import numpy as np
import pytest
import torch

from nnscope.analyses import run_featuremaps
from nnscope.cli import main
from nnscope.data import Digits
from nnscope.errors import NnscopeError
from nnscope.labelled_data import labelled_test_set
from nnscope.model import CNN, CNNConfig, MNIST_MEAN, MNIST_STD
from nnscope.models import load_model
from nnscope.options.featuremaps import FeatureMapsOptions
from nnscope.vision.examples import layer_outputs
from nnscope.vision.featuremaps import cohens_d, measure_featuremaps, where_largest

PAIR = dict(classes=(0, 8))  # the toy data is not MNIST: its pair is named


def layer_activations(model, images, layer):
    """`layer`'s output for uint8 images (N, 28, 28) through the one path (a LoadedModel's forward hook)."""
    return layer_outputs(load_model(model), layer, images[:, None].astype(np.float32) / 255)[0]


def test_cohens_d_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, (40, 3)), rng.normal(0.0, 1.0, (25, 3))
    for c in range(3):
        x, y = a[:, c].tolist(), b[:, c].tolist()
        pooled = (((len(x) - 1) * statistics.variance(x) + (len(y) - 1) * statistics.variance(y)) / (len(x) + len(y) - 2)) ** 0.5
        assert cohens_d(a, b)[c] == pytest.approx((statistics.mean(x) - statistics.mean(y)) / pooled, rel=1e-12)
    assert cohens_d(np.ones((5, 1)), np.ones((4, 1)))[0] == 0.0  # constant channel: no separation, not NaN


def test_where_largest_names_the_third():
    difference = np.zeros((7, 7))
    difference[0, 6] = -3.0
    assert where_largest(difference) == "top right"
    difference[3, 3] = 5.0
    assert where_largest(difference) == "middle centre"


def test_activations_equal_a_manual_forward_pass():
    torch.manual_seed(0)
    model = CNN(CNNConfig(channels=(3, 4, 5))).eval()
    for bn in (model.bn1, model.bn2, model.bn3):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(-1, 1)  # negative scales too
    images = np.random.default_rng(0).integers(0, 256, (6, 28, 28)).astype(np.uint8)
    h = (torch.as_tensor(images, dtype=torch.float32)[:, None] / 255 - MNIST_MEAN) / MNIST_STD
    for i, pool in ((1, True), (2, True), (3, False)):
        h = torch.nn.functional.conv2d(h, getattr(model, f"conv{i}").weight, padding=1)
        np.testing.assert_allclose(layer_activations(model, images, f"conv{i}"), h.detach().numpy(), atol=1e-5)
        h = torch.nn.functional.max_pool2d(h, 2) if pool else h
        bn = getattr(model, f"bn{i}")
        h = (h - bn.running_mean[:, None, None]) / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
        h = torch.relu(h * bn.weight[:, None, None] + bn.bias[:, None, None])
        np.testing.assert_allclose(layer_activations(model, images, f"relu{i}"), h.detach().numpy(), atol=1e-5)
    with pytest.raises(NnscopeError, match="--layer"):
        layer_activations(model, images, "conv4")


LOGIT_8 = 2.0  # class 8's constant logit in the hand-weighted model


def hand_weighted_model() -> CNN:
    """Channel 0 passes the normalised image through every block; channel 1 is dead; the fc reads channel 0.

    logit 0 = sum of relu3 channel 0 (positive for bright images), logit 8 = LOGIT_8, the rest -10."""
    model = CNN(CNNConfig(channels=(2, 2, 2))).eval()
    with torch.no_grad():
        for i in (1, 2, 3):
            conv = getattr(model, f"conv{i}")
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0  # the centre tap: identity on channel 0
            bn = getattr(model, f"bn{i}")
            bn.eps = 0.0  # exact identity
        model.fc.weight.zero_()
        model.fc.weight[0, : 7 * 7] = 1.0  # relu3 channel 0 is the first 49 features
        model.fc.bias.fill_(-10.0)
        model.fc.bias[0], model.fc.bias[8] = 0.0, LOGIT_8
    return model


def toy_digits() -> Digits:
    """'0's: flat images of brightness 128-255; '8's: flat images of 0-20 (below the MNIST mean, so ReLU -> 0)."""
    rng = np.random.default_rng(0)
    zeros = np.ones((30, 28, 28), np.uint8) * rng.integers(128, 256, (30, 1, 1)).astype(np.uint8)
    eights = np.ones((20, 28, 28), np.uint8) * rng.integers(0, 21, (20, 1, 1)).astype(np.uint8)
    images = np.concatenate([zeros, eights])
    labels = np.array([0] * 30 + [8] * 20, np.uint8)
    return Digits("toy", images, labels, images, labels, "hand-made")


def hand_weighted() -> tuple:
    """The hand-weighted CNN as every model is loaded, and the toy digits as a labelled data set."""
    digits = toy_digits()
    return load_model(hand_weighted_model()), labelled_test_set(digits), digits


def test_ranking_on_a_hand_weighted_model_is_known():
    model, data, digits = hand_weighted()
    ranking = measure_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="conv1", draws=1))
    # conv1 channel 0 is the normalised image, so its d is the d of the images' mean brightness (d is affine-invariant)
    brightness = digits.test_images.mean(axis=(1, 2))
    expected = cohens_d(brightness[:30, None], brightness[30:, None])[0]
    assert [r["channel"] for r in ranking.channel_ranking] == [0, 1] and ranking.counts == [30, 20]
    assert ranking.channel_ranking[0]["effect_size"] == pytest.approx(expected, rel=1e-5) and expected > 3
    assert ranking.channel_ranking[0]["higher_for"] == 0 and ranking.channel_ranking[1]["effect_size"] == 0.0
    relu3 = measure_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="relu3", draws=1))
    assert [r["channel"] for r in relu3.channel_ranking] == [0, 1]
    assert (ranking.ablated_at, relu3.ablated_at) == ("relu1", "relu3")  # silenced in the block output


def test_ablation_on_a_hand_weighted_model_is_known():
    model, data, digits = hand_weighted()
    result = measure_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="relu3", draws=3))
    ablation = result.ablation
    assert ablation["baseline"]["accuracy"] == 1.0
    assert ablation["alone"][1] == ablation["baseline"]  # the dead channel changes nothing
    # channel 0 zeroed: logit 0 = 0, logit 8 = LOGIT_8 for every image, so every '0' becomes an '8'
    assert ablation["alone"][0]["accuracy"] == pytest.approx(20 / 50)
    assert ablation["alone"][0]["margin"] == pytest.approx((20 * LOGIT_8 - 30 * LOGIT_8) / 50)
    assert ablation["alone"][0]["accuracy_by_digit"] == [0.0, 1.0]
    assert ablation["alone"][0]["margin_by_digit"] == pytest.approx([-LOGIT_8, LOGIT_8])
    assert ablation["by_k"][0]["top"] == ablation["alone"][0] and ablation["by_k"][1]["top"] == ablation["alone"][0]
    # mean fill: relu3 channel 0 becomes its mean map over all 50 images, so logit 0 is one number for every image
    normalised = (digits.test_images / 255.0 - MNIST_MEAN) / MNIST_STD
    logit_0 = np.maximum(normalised, 0).sum(axis=(1, 2))[:, None].mean() * 49 / 784  # 7x7 map of a flat image
    mean_fill = result.mean_ablation["alone"][0]
    assert logit_0 > LOGIT_8 and mean_fill["accuracy_by_digit"] == [1.0, 0.0]  # every image now looks like a '0'
    assert mean_fill["margin_by_digit"] == pytest.approx([logit_0 - LOGIT_8, LOGIT_8 - logit_0], rel=1e-5)


def test_comparison_on_a_hand_weighted_model():
    model, data, digits = hand_weighted()
    comparison = measure_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="conv1", draws=1))
    assert [e["index"] for e in comparison.examples] == [0, 30]  # the first of each digit
    expected = (digits.test_images[0] / 255 - MNIST_MEAN) / MNIST_STD
    np.testing.assert_allclose(comparison.examples[0]["feature_maps"][0], expected, atol=1e-5)
    np.testing.assert_allclose(comparison.difference, comparison.examples[0]["feature_maps"]
                               - comparison.examples[1]["feature_maps"])
    with pytest.raises(NnscopeError, match="--index"):  # image 30 is an '8'
        measure_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="conv1", index=(30, 31)))
    with pytest.raises(NnscopeError, match="different"):
        measure_featuremaps(model, data, FeatureMapsOptions(classes=("8", 8), layer="conv1"))


def test_run_featuremaps_figures_show_what_they_say(tmp_path, saved_figures):
    model, data, _ = hand_weighted()
    result = run_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="relu3", top=5, draws=2), out=tmp_path)
    assert [f["file"] for f in result["figures"]] == ["featuremaps_relu3.png", "featuremaps_relu3_top.png",
                                                      "featuremaps_relu3_ablation.png"]
    maps = saved_figures["featuremaps_relu3.png"]
    assert (maps["panels"], maps["colorbars"], maps["images"]) == (5, 2, 5)  # two inputs, '0', '8', difference
    assert maps["titles"][2:] == [f"{t}: relu3, 2 channels of 7 x 7" for t in ("'0'", "'8'", "'0' minus '8'")]
    top = saved_figures["featuremaps_relu3_top.png"]  # --top 5 on 2 channels: both, 3 panels each
    assert (top["panels"], top["colorbars"]) == (2 * 3, 2) and "means over 30 '0' and 20 '8' images" in top["suptitle"]
    ablation = saved_figures["featuremaps_relu3_ablation.png"]
    assert (ablation["panels"], ablation["colorbars"]) == (4, 0)  # margin and accuracy, zero row and mean row
    assert ablation["titles"][0] == "channels zeroed" and "feeds the linear output layer" in ablation["titles"][2]
    early = run_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="relu1", draws=2), out=tmp_path / "early")
    assert not early["feeds_output_layer"] and saved_figures["featuremaps_relu1_ablation.png"]["titles"][2] == \
        "channels set to their mean map"


def test_mean_fill_of_the_last_block_adds_one_logit_vector():
    """relu3 feeds the linear layer: the mean fill moves each digit's margin by opposite amounts, and the finding
    says so instead of repeating the margins (issue 11 item 7)."""
    model, data, _ = hand_weighted()
    result = run_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="relu3", draws=2))
    zero, mean = result["ablation"]["by_k"][-1]["top"], result["mean_ablation"]["by_k"][-1]["top"]
    moved = [m - z for m, z in zip(mean["margin_by_digit"], zero["margin_by_digit"])]
    assert result["feeds_output_layer"] and moved[0] == pytest.approx(-moved[1], abs=1e-5) and moved[0] > 1
    assert result["mean_vs_zero_margin"] == pytest.approx(max(
        abs(m["top"]["margin"] - z["top"]["margin"]) for m, z in zip(result["mean_ablation"]["by_k"], result["ablation"]["by_k"])))
    finding = " ".join(result["finding"])
    assert f"moves the margin of the '0' images by {moved[0]:+.2f} and that of the '8' images by {moved[1]:+.2f}" \
        in finding
    assert finding.count("logit margin (") == 1  # the zero fill's margins only, not repeated for the mean fill
    early = " ".join(run_featuremaps(model, data, FeatureMapsOptions(**PAIR, layer="conv1", draws=2))["finding"])
    assert early.count("logit margin (") == 2 and "fixed vector" not in early


@pytest.mark.parametrize("options, words", [
    (dict(classes=(0,)), "--classes: (0,); expected two classes"),
    (dict(classes=(3, "3")), "--classes: both classes are '3'"),
    (dict(classes=(0, 8, 1)), "--classes: (0, 8, 1); expected two"),
    (dict(layer=""), "--layer: ''; expected a module name"),
    (dict(index=(1,)), "--index: (1,); expected two indices"),
    (dict(index=(-1, 3)), "--index: -1; expected a whole number >= 0"),
    (dict(top=0), "--top: 0; expected a whole number of channels >= 1"),
    (dict(draws=0), "--draws: 0; expected a whole number >= 1"),
    (dict(seed=-1), "--seed: -1"),
    (dict(seed=2**64), "--seed: 18446744073709551616"),
    (dict(limit=1), "--images: 1; expected a whole number of images >= 2"),
    (dict(limit=2.5), "--images: 2.5"),
])
def test_featuremaps_options_check(options, words):
    import re

    with pytest.raises(NnscopeError, match=re.escape(words)):
        FeatureMapsOptions(**options).check()


@pytest.mark.parametrize("argv, words", [
    (["--digits", "0", "10"], "--classes: '10' is not a class of the data"),
    (["--classes", "0", "cat"], "--classes: 'cat' is not a class of the data"),
    (["--digit", "3", "3"], "--classes: both classes are '3'"),
    (["--layer", "conv9"], "--layer: no layer 'conv9'"),
    (["--draws", "0"], "--draws"),
    (["--top", "-1"], "--top"),
    (["--images", "0"], "--images"),
    (["--index", "1", "-2"], "--index: -2"),
    (["--checkpoint", "/nonexistent/model.pt"], "--model: /nonexistent/model.pt: no such file"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, capsys, tmp_path):
    if "--checkpoint" not in argv and any(w in argv for w in ("conv9", "fc", "cat", "10")):
        # a name only the model or the data can refuse: needs a real checkpoint file to get past loading
        from nnscope.model import save_checkpoint
        path = save_checkpoint(tmp_path / "m.pt", CNN(), train_config={}, metrics={}, seed=0)
        argv = argv + ["--checkpoint", str(path)]
    assert main(["featuremaps", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err


@pytest.mark.slow
def test_analysis_on_the_trained_model(trained_checkpoint, mnist):
    result = run_featuremaps(load_model(trained_checkpoint), labelled_test_set(mnist),
                             FeatureMapsOptions(draws=2, limit=3000))
    sizes = [abs(r["effect_size"]) for r in result["channel_ranking"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 1.0  # some channel separates 0 from 8 strongly
    assert result["ablation"]["baseline"]["accuracy"] > 0.95
    top = result["ablation"]["by_k"][-1]
    assert top["top"]["accuracy"] < result["ablation"]["baseline"]["accuracy"]
    assert all("ablated_margin" in r for r in result["channel_ranking"])
    assert any("Zeroing the top" in line for line in result["finding"])
    for zero, mean in zip(result["ablation"]["by_k"], result["mean_ablation"]["by_k"]):  # one vector added to the logits
        moved = [m - z for m, z in zip(mean["top"]["margin_by_digit"], zero["top"]["margin_by_digit"])]
        assert moved[0] == pytest.approx(-moved[1], abs=1e-3)


@pytest.mark.slow
def test_cli_json_has_the_documented_fields(trained_checkpoint, tmp_path, capsys):
    argv = ["featuremaps", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path), "--layer", "relu3",
            "--draws", "2", "--top", "1000", "--json"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    result = json.loads(printed.out)
    channels = len(result["channel_ranking"])
    assert f"note: --top 1000 is more than the {channels} channels of relu3; drawing all {channels}" in printed.err
    assert result["layer"] == "relu3" and [e["digit"] for e in result["examples"]] == [0, 8]
    maps = np.array(result["examples"][0]["feature_maps"])
    assert maps.ndim == 3 and maps.min() >= 0  # channels x height x width, after the ReLU
    assert {"channel", "effect_size", "ablated_margin", "ablated_accuracy"} <= result["channel_ranking"][0].keys()
    for name in ("featuremaps_relu3.png", "featuremaps_relu3_top.png", "featuremaps_relu3_ablation.png"):
        assert (tmp_path / name).stat().st_size > 10_000
