"""`nnscope occlude` on models of any shape (the one path): the maps equal a one-position-per-pass loop, any patch,
stride and per-channel fill, --target, the grid split where the digit parts do not apply, the
aggregate over --data, figures with their panels, and bad input as one line with exit code 2."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import user_nets
from helpers import trained_like
from nnscope.cli import main
from nnscope.errors import NnscopeError
from nnscope.model import CNN, CNNConfig, save_checkpoint
from nnscope.options.occlusion import OcclusionOptions
from nnscope.vision.occlusion.parts import grid_regions, regions_for

SHAPES = {"ResidualNet": (3, 30, 26), "DilatedGroupedNet": (1, 28, 28), "VGGStyle": (3, 32, 32)}
CLASSES = {"ResidualNet": 5, "DilatedGroupedNet": 4, "VGGStyle": 10}


def saved(name: str, folder: Path) -> tuple[torch.nn.Module, list[str]]:
    """The net and the --model/--weights arguments that load it: tests/user_nets.py as the user's .py, a state dict."""
    (folder / "user").mkdir(exist_ok=True)
    shutil.copy(Path(user_nets.__file__), folder / "user" / "nets.py")
    net = trained_like(name)
    torch.save(net.state_dict(), folder / f"{name}.pt")
    return net, ["--model", f"{folder / 'user' / 'nets.py'}:{name}", "--weights", str(folder / f"{name}.pt")]


def image_file(shape, folder: Path, seed: int = 1) -> tuple[np.ndarray, str]:
    """A seeded random image (C, H, W) in [0, 1] saved as .npy."""
    image = np.random.default_rng(seed).random(shape, dtype=np.float32)
    np.save(folder / "image.npy", image)
    return image, str(folder / "image.npy")


@torch.no_grad()
def naive_maps(net, image: np.ndarray, patch, stride, fill) -> tuple[np.ndarray, list, list]:
    """Probabilities (rows, cols, K) by one forward pass per patch position (Captum's positions) and the starts."""
    _, height, width = image.shape
    rows = [i * stride[0] for i in range(-(-(height - patch[0]) // stride[0]) + 1)]
    cols = [j * stride[1] for j in range(-(-(width - patch[1]) // stride[1]) + 1)]
    fill = torch.tensor(fill, dtype=torch.float32).reshape(-1, 1, 1)
    out = []
    for r in rows:
        for c in cols:
            x = torch.from_numpy(image).clone()
            x[:, r : r + patch[0], c : c + patch[1]] = fill
            out.append(torch.softmax(net(x[None]), 1)[0].numpy())
    return np.array(out).reshape(len(rows), len(cols), -1), rows, cols


def occlude(argv, capsys) -> dict:
    code = main(["occlude", *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.fixture
def recorded_figures(monkeypatch):
    """{file name: (panels, colour bars, titles)} of every occlusion figure saved during the test."""
    from nnscope.report import figures_occlusion

    drawn, save = {}, figures_occlusion.save_figure

    def recording_save(fig, path):
        bars = sum(ax.get_label() == "<colorbar>" for ax in fig.axes)
        drawn[Path(path).name] = (len(fig.axes) - bars, bars, [ax.get_title() for ax in fig.axes])
        return save(fig, path)

    monkeypatch.setattr(figures_occlusion, "save_figure", recording_save)
    return drawn


@pytest.mark.parametrize("name,patch,stride", [("ResidualNet", (5, 4), (3, 2)), ("DilatedGroupedNet", (6, 6), (4, 4)),
                                               ("VGGStyle", (8, 8), (5, 5))])
def test_occlude_on_a_user_net_equals_the_naive_loop(name, patch, stride, tmp_path, capsys, recorded_figures):
    net, model = saved(name, tmp_path)
    image, path = image_file(SHAPES[name], tmp_path)
    result = occlude([*model, "--image", path, "--patch", *map(str, patch), "--stride", *map(str, stride),
                      "--out", str(tmp_path / "out")], capsys)
    naive, rows, cols = naive_maps(net, image, patch, stride, [0.0])
    predicted = int(naive_unoccluded(net, image).argmax())
    assert result["target"] == result["digit"] == predicted and result["target_from"] == "prediction"
    assert result["starts"] == rows and result["col_starts"] == cols
    assert result["patch"] == list(patch) and result["stride"] == list(stride)
    grey = SHAPES[name][0] == 1  # a grey image as (H, W), as nnscope's MNIST results always held it
    assert np.array(result["image"]).shape == (SHAPES[name][1:] if grey else SHAPES[name])
    assert np.abs(np.array(result["image"]) - (image[0] if grey else image)).max() < 1e-6
    assert np.abs(np.array(result["true_class_probability"]) - naive[..., predicted]).max() < 1e-5
    assert np.abs(np.array(result["max_probability"]) - naive.max(-1)).max() < 1e-5
    assert (np.array(result["predicted_label"]) == naive.argmax(-1)).all()
    probabilities = np.array(result["probabilities"])
    assert probabilities.shape == (len(rows), len(cols), CLASSES[name]) and 0 <= probabilities.min() <= probabilities.max() <= 1
    assert result["class_names"] == [str(k) for k in range(CLASSES[name])]
    assert result["which_parts_matter"]["split"] == "grid 3 x 3" and len(result["which_parts_matter"]["parts"]) == 9
    assert "traced engine" in result["engine"]
    assert "aggregate" not in result and result["aggregate_skipped"] in result["finding"]
    assert any("3 x 3 grid" in line for line in result["finding"])
    assert [f["file"] for f in result["figures"]] == ["occlusion_maps.png", "occlusion_parts.png"]
    assert all((tmp_path / "out" / f["file"]).is_file() for f in result["figures"])
    assert recorded_figures["occlusion_maps.png"][:2] == (4, 2)  # the image and three maps, two colour bars
    assert "predicted label" in recorded_figures["occlusion_maps.png"][2]
    assert recorded_figures["occlusion_parts.png"][:2] == (2, 0)
    assert "3 x 3 grid" in recorded_figures["occlusion_parts.png"][2][0]


@torch.no_grad()
def naive_unoccluded(net, image: np.ndarray) -> np.ndarray:
    return torch.softmax(net(torch.from_numpy(image)[None]), 1)[0].numpy()


def test_target_and_a_fill_per_channel(tmp_path, capsys):
    net, model = saved("VGGStyle", tmp_path)
    with torch.no_grad():  # a sharper head: the seeded net's probabilities barely move under a patch
        net.classifier[3].weight.mul_(30)
    torch.save(net.state_dict(), model[-1])
    image, path = image_file(SHAPES["VGGStyle"], tmp_path)
    fill = [0.2, 0.5, 0.8]
    result = occlude([*model, "--image", path, "--patch", "7", "--stride", "4", "--fill", *map(str, fill),
                      "--target", "3", "--out", str(tmp_path)], capsys)
    naive, rows, cols = naive_maps(net, image, (7, 7), (4, 4), fill)
    assert result["target"] == 3 and result["target_from"] == "--target" and result["fill"] == fill
    assert np.abs(np.array(result["true_class_probability"]) - naive[..., 3]).max() < 1e-5
    assert result["which_parts_matter"]["lowest_probability"] == pytest.approx(float(naive[..., 3].min()), abs=1e-5)
    one_grey = occlude([*model, "--image", path, "--patch", "7", "--stride", "4", "--fill", "0.5", "--target", "3",
                        "--out", str(tmp_path)], capsys)
    grey = naive_maps(net, image, (7, 7), (4, 4), [0.5])[0]
    assert np.abs(np.array(one_grey["probabilities"]) - grey).max() < 1e-5
    assert np.abs(grey - naive).max() > 1e-3  # the fill per channel mattered


def test_the_aggregate_over_data_uses_the_label_and_its_class(tmp_path, capsys, recorded_figures):
    net, model = saved("ResidualNet", tmp_path)
    images = np.random.default_rng(2).random((8, *SHAPES["ResidualNet"]), dtype=np.float32)
    with torch.no_grad():
        predicted = net(torch.from_numpy(images)).argmax(1).numpy()
    labels = predicted.copy()
    labels[1] = (labels[1] + 1) % 5  # one image misclassified: the aggregate leaves it out
    names = ["north", "east", "south", "west", "centre"]
    np.savez(tmp_path / "data.npz", images=images, labels=labels, class_names=np.array(names))
    result = occlude([*model, "--data", str(tmp_path / "data.npz"), "--index", "0", "--patch", "6", "--stride", "4",
                      "--out", str(tmp_path)], capsys)
    target = int(labels[0])
    assert result["class_names"] == names  # the data's class names, as every command names them
    assert f"P('{names[target]}')" in result["finding"][0]
    assert result["target"] == target and result["target_from"] == "label" and result["index"] == 0
    expected = [i for i in range(8) if labels[i] == target and predicted[i] == target]
    aggregate = result["aggregate"]
    assert aggregate["images"] == len(expected) and aggregate["indices"] == expected
    maps = np.mean([naive_maps(net, images[i], (6, 6), (4, 4), [0.0])[0][..., target] for i in expected], 0)
    assert np.abs(np.array(aggregate["mean_true_class_probability"]) - maps).max() < 1e-5
    assert aggregate["split"] == "grid 3 x 3" and set(aggregate["parts"]) == set(result["which_parts_matter"]["parts"])
    assert result["finding"][-len(aggregate["text"]):] == aggregate["text"]
    assert recorded_figures["occlusion_aggregate.png"][:2] == (3, 2)


def ring_digit() -> np.ndarray:
    """A hand-drawn '0': a ring of ink 3 pixels wide, (1, 28, 28)."""
    rows, cols = np.mgrid[:28, :28]
    radius = np.hypot(rows - 14, cols - 14)
    return ((radius > 6) & (radius < 9)).astype(np.float32)[None]


def test_nnscope_cnn_on_a_given_digit_uses_the_digit_parts_and_its_fast_engine(tmp_path, capsys):
    torch.manual_seed(0)
    cnn = CNN(CNNConfig()).eval()
    save_checkpoint(tmp_path / "cnn.pt", cnn, train_config={}, metrics={}, seed=0)
    np.save(tmp_path / "zero.npy", ring_digit())
    result = occlude(["--model", str(tmp_path / "cnn.pt"), "--image", str(tmp_path / "zero.npy"), "--target", "0",
                      "--out", str(tmp_path)], capsys)
    naive, rows, cols = naive_maps(cnn, ring_digit(), (8, 8), (1, 1), [0.0])
    assert result["engine"] == "nnscope's CNN engine (incremental, C loops)"
    assert result["starts"] == result["row_starts"] == rows == list(range(21))
    assert np.abs(np.array(result["true_class_probability"]) - naive[..., 0]).max() < 1e-5
    summary = result["which_parts_matter"]
    assert summary["split"] == "digit parts" and "loop" in summary["parts"]
    assert any("shape of its ink" in line for line in result["finding"])


def test_grid_regions_cut_the_image_into_nine_named_cells():
    regions = grid_regions((30, 26))
    assert list(regions) == ["top-left", "top-centre", "top-right", "middle-left", "centre", "middle-right",
                             "bottom-left", "bottom-centre", "bottom-right"]
    assert (sum(m.astype(int) for m in regions.values()) == 1).all()  # a partition of the image
    assert regions["top-left"].sum() == 10 * 9 and regions["centre"][10:20, 9:17].all()
    assert regions_for(np.zeros((3, 28, 28)), [str(d) for d in range(10)])[0] == "grid 3 x 3"  # RGB
    assert regions_for(ring_digit(), [str(d) for d in range(10)])[0] == "digit parts"
    assert regions_for(ring_digit(), ["cat", "dog"])[0] == "grid 3 x 3"  # not a digit model


@pytest.mark.parametrize("extra,option", [
    (["--target", "7"], "--target"),  # ResidualNet has 5 classes
    (["--fill", "0.1", "0.2"], "--fill"),  # 3 channels: 1 or 3 values
    (["--patch", "31"], "--patch"),  # the image is 30 x 26
    (["--patch", "10", "27"], "--patch"),
    (["--patch", "1", "2", "3"], "--patch"),
    (["--fill", "1.5"], "--fill"),
    (["--stride", "0"], "--stride"),
    (["--all"], "--all"),
])
def test_bad_input_is_one_line_and_exit_2(extra, option, tmp_path, capsys):
    _, model = saved("ResidualNet", tmp_path)
    _, path = image_file(SHAPES["ResidualNet"], tmp_path)
    code = main(["occlude", *model, "--image", path, "--out", str(tmp_path), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"nnscope occlude: error: {option}"), err


def test_an_image_the_model_cannot_take_is_one_line(tmp_path, capsys):
    _, model = saved("VGGStyle", tmp_path)  # 3 x 32 x 32 only
    _, path = image_file((3, 30, 26), tmp_path)
    code = main(["occlude", *model, "--image", path, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "30 x 26" in err and "Traceback" not in err


@pytest.mark.parametrize("options,message", [
    (OcclusionOptions(patch=(1, 2, 3)), "--patch: 3 numbers; expected 1 (a square) or 2 (height width)"),
    (OcclusionOptions(patch=(0,)), "--patch: 0; expected a whole number of pixels >= 1"),
    (OcclusionOptions(stride=(2, 0)), "--stride: 0; expected a whole number of pixels >= 1"),
    (OcclusionOptions(fill=()), "--fill: no values; expected one, or one per channel"),
    (OcclusionOptions(fill=(0.5, 1.5)), "--fill: 1.5; expected a pixel value (0 black, 1 white) from 0 to 1"),
    (OcclusionOptions(target=-1), "--target: -1; expected a whole number >= 0"),
    (OcclusionOptions(index=-1), "--index: -1; expected a whole number >= 0"),
    (OcclusionOptions(digit=-1), "--digit: -1; expected a whole number >= 0"),
    (OcclusionOptions(images=-1), "--images: -1; expected a whole number of images >= 0"),
])
def test_every_check_names_its_option(options, message):
    with pytest.raises(NnscopeError) as caught:
        options.check()
    assert str(caught.value) == message


@pytest.mark.parametrize("options,message", [
    (OcclusionOptions(patch=(9, 4)), "--patch: 9 x 4 pixels; the image is 8 x 8 (H x W), expected a patch inside it"),
    (OcclusionOptions(fill=(0.1, 0.2)), "--fill: 2 values; the model takes 3 channels, expected 1 or 3"),
    (OcclusionOptions(target=5), "--target: 5; the model has 5 classes, expected 0 to 4"),
    (OcclusionOptions(digit=7), "--digit: 7; the model has 5 classes, expected 0 to 4"),
])
def test_every_image_check_names_its_option(options, message):
    options.check()
    with pytest.raises(NnscopeError) as caught:
        options.check_image(3, 8, 8, 5)
    assert str(caught.value) == message


def test_data_with_more_classes_than_the_model_has_outputs_is_refused(tmp_path, capsys):
    _, model = saved("OutOfOrder", tmp_path)  # grey, any size, 2 classes: the ten digits' labels name no output
    code = main(["occlude", *model, "--images", "2", "--stride", "4", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("nnscope occlude: error: --data: the mnist test set: 10 classes;"), err


def test_another_model_without_an_image_occludes_a_test_digit(mnist, tmp_path, capsys):
    from nnscope.model import load_model

    trained_model = load_model(Path(__file__).parent.parent / "golden" / "cnn.pt")  # a small trained CNN
    scripted = tmp_path / "scripted.pt"  # the same CNN as TorchScript: torch.fx cannot look inside it
    torch.jit.save(torch.jit.trace(trained_model, torch.zeros(1, 1, 28, 28)), scripted)
    result = occlude(["--model", str(scripted), "--images", "2", "--stride", "4", "--out", str(tmp_path)], capsys)
    index = result["index"]
    image = mnist.test_images[index][None].astype(np.float32) / 255
    assert result["label"] == mnist.test_labels[index] == result["target"] == 6 and result["target_from"] == "label"
    assert "test set" in result["source"] and result["aggregate"]["images"] == 2
    assert result["engine"].startswith("full passes: the model could not be traced")
    assert "every position ran as a full pass" in result["engine"]
    naive = naive_maps(trained_model, image, (8, 8), (4, 4), [0.0])[0]
    assert np.abs(np.array(result["probabilities"]) - naive).max() < 1e-5


def test_the_image_is_named_by_its_label_or_prediction_never_by_the_target():
    from nnscope.report.figures_occlusion import image_words

    names = [str(k) for k in range(10)]
    given = {"class_names": names, "unoccluded_probabilities": np.eye(10)[9], "label": None, "source": "cat.png",
             "target": 3, "target_from": "--target"}
    assert image_words(given) == "cat.png: classified '9'"  # --target 3 is the class of map 1, not what it is
    assert image_words({**given, "label": 6, "source": "image 5 of the data"}) == "image 5 of the data: a '6'"


def test_the_nine_grid_cells_get_nine_distinct_colours():
    from nnscope.report.figures_occlusion import PART_COLOURS

    assert len({PART_COLOURS(k) for k in range(len(grid_regions((30, 26))))}) == 9  # picture, legend and bars


def test_all_writes_the_maps_of_every_image_of_any_labelled_data(tmp_path, capsys):
    net, model = saved("ResidualNet", tmp_path)
    images = np.random.default_rng(3).random((3, *SHAPES["ResidualNet"]), dtype=np.float32)
    labels = np.array([0, 3, 1])
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    result = occlude([*model, "--data", str(tmp_path / "data.npz"), "--all", "--patch", "8", "--stride", "6",
                      "--npz", str(tmp_path / "maps.npz"), "--out", str(tmp_path)], capsys)
    assert result["images"] == 3 and result["positions"] == 5 * 4 and "traced engine" in result["engine"]
    saved_maps = np.load(tmp_path / "maps.npz")
    assert saved_maps["labels"].tolist() == labels.tolist()
    assert saved_maps["row_starts"].tolist() == saved_maps["starts"].tolist() == [0, 6, 12, 18, 24]
    assert saved_maps["col_starts"].tolist() == [0, 6, 12, 18]
    for k in range(3):
        naive = naive_maps(net, images[k], (8, 8), (6, 6), [0.0])[0]
        assert np.abs(saved_maps["probabilities"][k] - naive).max() < 1e-5


FLAT_NET = """import torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = torch.nn.Linear(3 * 9 * 7, 3)
    def forward(self, x):
        return self.fc(x.flatten(1))
"""


def test_a_model_whose_first_layer_mixes_every_pixel_runs_full_passes_and_says_why(tmp_path, capsys):
    import importlib.util

    (tmp_path / "flat.py").write_text(FLAT_NET)
    spec = importlib.util.spec_from_file_location("flat_net", tmp_path / "flat.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    image, path = image_file((3, 9, 7), tmp_path)
    result = occlude(["--model", f"{tmp_path / 'flat.py'}:Net", "--image", path, "--patch", "3", "--stride", "2",
                      "--out", str(tmp_path / "out")], capsys)
    # it traces (no TorchScript here), but nothing of a pass can be reused: the engine says so, not "TorchScript?"
    assert result["engine"].startswith("full passes: no layer of the model works on a local window of the image")
    naive = naive_maps(module.Net().eval(), image, (3, 3), (2, 2), [0.0])[0]
    assert np.abs(np.array(result["probabilities"]) - naive).max() < 1e-6
