"""Filter weights, their statistics, the mosaic layout of the figures, and `nnscope filters`."""

import json

import numpy as np
import pytest
import torch

from nnscope.analyses import run_filters
from nnscope.cli import main
from nnscope.errors import NnscopeError
from nnscope.model import CNN, CNNConfig, save_checkpoint
from nnscope.models import load_model
from nnscope.options.filters import FiltersOptions
from nnscope.report.figures_filters import draw_filters
from nnscope.report.tiles import grid, tile
from nnscope.vision.filters import filter_statistics, measure_filters


def saved_cnn(path, channels=(4, 6, 8)):
    """nnscope's CNN with seeded random weights, saved as a checkpoint and loaded as every model is."""
    torch.manual_seed(0)
    save_checkpoint(path, CNN(CNNConfig(channels=channels)), train_config={}, metrics={}, seed=0)
    return load_model(path)


def test_filter_weights_are_the_conv_weights(tmp_path):
    model = saved_cnn(tmp_path / "m.pt")
    weights = measure_filters(model).weights
    assert {k: v.shape for k, v in weights.items()} == {"conv1": (4, 1, 3, 3), "conv2": (6, 4, 3, 3), "conv3": (8, 6, 3, 3)}
    np.testing.assert_array_equal(weights["conv2"], model.network.conv2.weight.detach().numpy())
    weights["conv1"][:] = 0  # a copy: drawing code cannot change the model
    assert model.network.conv1.weight.abs().sum() > 0
    with pytest.raises(NnscopeError, match="--layer: no layer 'conv4' in nnscope checkpoint .*; close matches: conv"):
        measure_filters(model, None, FiltersOptions(layers=("conv4",)))
    with pytest.raises(NnscopeError, match="--layer: 'bn1' is a BatchNorm2d, not a Conv2d; conv layers in forward "
                       "order: conv1, conv2, conv3"):
        measure_filters(model, None, FiltersOptions(layers=("bn1",)))


def test_statistics_of_hand_made_weights():
    weights = np.zeros((2, 1, 3, 3), np.float32)
    weights[0, 0, 1, 1] = 3.0
    weights[1, 0, 0, :] = [-1.0, 2.0, 2.0]
    s = filter_statistics(weights)
    assert s["shape"] == [2, 1, 3, 3] and s["parameters"] == 18
    assert s["min"] == -1.0 and s["max"] == 3.0 and s["abs_max"] == 3.0
    assert s["mean"] == pytest.approx(6 / 18) and s["share_positive"] == pytest.approx(3 / 18)
    np.testing.assert_allclose(s["filter_norms"], [3.0, 3.0])


def test_mosaic_layout():
    blocks = np.arange(2 * 3 * 3 * 3, dtype=float).reshape(2, 3, 3, 3)
    mosaic = tile(blocks, gap=1)
    assert mosaic.shape == (2 * 4 - 1, 3 * 4 - 1)
    np.testing.assert_array_equal(mosaic[4:7, 8:11], blocks[1, 2])  # row 1, column 2
    assert np.isnan(mosaic[3]).all() and np.isnan(mosaic[:, 3]).all()  # gaps between tiles
    maps = np.ones((10, 2, 2))
    assert grid(maps, columns=8).shape == (2, 8, 2, 2) and np.isnan(grid(maps, columns=8)[1, 2:]).all()


def test_filter_figures_have_the_expected_pixel_shapes(tmp_path):
    import matplotlib.image

    weights = measure_filters(saved_cnn(tmp_path / "m.pt", (16, 32, 64))).weights
    sizes = {}
    for name, w in weights.items():
        path = draw_filters(name, w, tmp_path / f"{name}.png")
        sizes[name] = matplotlib.image.imread(path).shape
    # conv1 is 2 rows of 8 kernels (wide); conv3 is 64 filter rows of 32 slices (tall)
    assert sizes["conv1"][1] > sizes["conv1"][0] and sizes["conv3"][0] > sizes["conv3"][1] > 500


def test_cli_draws_every_layer_and_reports_shapes(tmp_path, capsys):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "m.pt", CNN(CNNConfig(channels=(4, 6, 8))), train_config={}, metrics={}, seed=0)
    assert main(["filters", "--checkpoint", str(path), "--out", str(tmp_path / "out"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [result["layers"][n]["shape"] for n in ("conv1", "conv2", "conv3")] == [[4, 1, 3, 3], [6, 4, 3, 3], [8, 6, 3, 3]]
    assert [f["file"] for f in result["figures"]] == [f"filters_{n}.png" for n in ("conv1", "conv2", "conv3")]
    for name in ("conv1", "conv2", "conv3"):
        assert result["layers"][name]["figure"] == f"filters_{name}.png"
        assert (tmp_path / "out" / f"filters_{name}.png").stat().st_size > 5_000
    assert result["finding"][2].startswith("conv3: 8 filters of 6 x 3 x 3 weights")
    assert main(["filters", "--checkpoint", str(path), "--out", str(tmp_path / "two"), "--layers", "conv2", "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)["layers"]) == ["conv2"]  # the old spelling still works


def test_run_filters_draws_one_figure_per_layer_with_one_colour_bar(tmp_path, saved_figures):
    model = saved_cnn(tmp_path / "m.pt", (16, 32, 64))
    result = run_filters(model, None, FiltersOptions(layers=("conv1", "conv3")), out=tmp_path)
    assert list(result["layers"]) == ["conv1", "conv3"]
    # conv3's 64 x 32 tiles: the strongest 32 filters and 16 slices legibly, and the whole grid as a second figure
    assert [f["file"] for f in result["figures"]] == ["filters_conv1.png", "filters_conv3.png", "filters_conv3_all.png"]
    assert saved_figures["filters_conv1.png"] == {
        "panels": 1, "colorbars": 1, "images": 1, "texts": 16, "suptitle": "",
        "titles": ["conv1: 16 filters of 3 x 3 (one input channel; blue < 0 < red)"]}  # texts: the filter numbers
    assert saved_figures["filters_conv3.png"]["titles"] == [
        "conv3: strongest 32 of 64 filters by L2 norm, each 32 x 3 x 3 (blue < 0 < red)"]
    assert saved_figures["filters_conv3_all.png"]["titles"] == [
        "conv3: every filter, 64 x 32 x 3 x 3 weights (blue < 0 < red)"]
    assert run_filters(model, None)["figures"] == []  # no folder: numbers only
    weights = model.network.conv2.weight.detach().numpy()
    assert result["finding"][0].startswith("conv1: 16 filters of 1 x 3 x 3 weights")
    assert result["finding"][1].endswith("the main figure shows the strongest 32 filters and 16 of 32 input slices.")
    assert run_filters(model, None, FiltersOptions(layers=("conv2",)))["layers"]["conv2"]["max"] == float(weights.max())
    assert result.figure().axes[0].get_title() == saved_figures["filters_conv1.png"]["titles"][0]  # the main figure


@pytest.mark.parametrize("layers, words", [
    ((), "--layer: (); expected one or more conv layer names"),
    ("conv1", "--layer: 'conv1'; expected one or more"),
    (("conv1", ""), "--layer: ''; expected conv layer names"),
])
def test_filters_options_check(layers, words):
    with pytest.raises(NnscopeError, match=words.replace("(", r"\(").replace(")", r"\)")):
        FiltersOptions(layers=layers).check()


@pytest.mark.parametrize("argv, words", [
    (["--checkpoint", "/nonexistent/model.pt"], "--model: /nonexistent/model.pt: no such file"),
    (["--layers", "conv7"], "--layer: no layer 'conv7' in nnscope checkpoint"),
    (["--layer", "conv1", "conv9"], "--layer: no layer 'conv9'"),
    (["--layer", "fc"], "--layer: 'fc' is a Linear, not a Conv2d"),
])
def test_bad_input_is_one_line_and_exit_2(argv, words, tmp_path, capsys):
    if "/nonexistent/model.pt" not in argv:  # a name only the model can refuse
        argv = argv + ["--checkpoint", str(save_checkpoint(tmp_path / "m.pt", CNN(), train_config={}, metrics={}, seed=0))]
    assert main(["filters", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err and "Traceback" not in err
