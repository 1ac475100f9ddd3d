"""`filters`, `featuremaps` and `shift` end to end on users' own models (tests/user_nets.py and a hand-made oracle)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import user_nets  # tests/user_nets.py: tests/ is on the path (no __init__.py there)

from nnscope.cli import main
from nnscope.report import figures_featuremaps, figures_filters, figures_shift

# logits = 10 x the mean of each channel of a 1x1 identity conv: an image whose channel k is all 1 is class k
ORACLE = '''
import torch
from torch import nn

class ChannelVote(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1, bias=False)
        with torch.no_grad():
            self.stem.weight.copy_(torch.eye(3)[:, :, None, None])

    def forward(self, x):
        return 10 * self.stem(x).mean(dim=(2, 3))

class Wide(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 100, (3, 5))
        self.b = nn.Conv2d(100, 40, 3)
        self.fc = nn.Linear(40, 3)

    def forward(self, x):
        return self.fc(self.b(self.a(x)).mean(dim=(2, 3)))
'''
CLASSES = ("cat", "dog", "eel")


@pytest.fixture
def nets(tmp_path) -> Path:
    """tests/user_nets.py and the oracle nets copied as users' model files."""
    shutil.copy(Path(user_nets.__file__), tmp_path / "nets.py")
    (tmp_path / "oracle.py").write_text(ORACLE)
    return tmp_path


@pytest.fixture
def folder(tmp_path) -> Path:
    """An ImageFolder tree of 3 x 30 x 26 RGB PNGs, 4 a class: channel k of class k is 255, the others below 154."""
    return user_nets.write_image_folder(tmp_path / "data", CLASSES, 4)


@pytest.fixture
def drawn(monkeypatch) -> dict:
    """File name -> (suptitle or first title, titles of the axes, axes count) of every figure the analyses save."""
    seen, save = {}, figures_filters.save_figure

    def capture(fig, path, *args, **kwargs):
        titles = [ax.get_title() for ax in fig.axes]
        heading = fig._suptitle.get_text() if fig._suptitle else titles[0]
        seen[Path(path).name] = (heading, titles, len(fig.axes))
        return save(fig, path, *args, **kwargs)

    for module in (figures_filters, figures_featuremaps, figures_shift):
        monkeypatch.setattr(module, "save_figure", capture)
    return seen


def run_json(capsys, argv) -> dict:
    assert main(argv + ["--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_filters_draw_rgb_kernels_in_colour_and_default_to_the_first_three_convs(capsys, nets, tmp_path, drawn):
    out = tmp_path / "out"
    result = run_json(capsys, ["filters", "--model", f"{nets}/nets.py:VGGStyle", "--input-shape", "3", "32", "32",
                               "--out", str(out)])
    assert list(result["layers"]) == ["features.0", "features.2", "features.5"]  # forward order
    first = result["layers"]["features.0"]
    assert first["shape"] == [8, 3, 3, 3] and first["colour"] and not first["summarised"]
    assert len(first["filter_norms"]) == 8
    pixels = np.asarray(Image.open(out / "filters_features.0.png").convert("RGB")).astype(int)
    assert (np.abs(pixels[..., 0] - pixels[..., 1]) > 40).mean() > 0.01  # coloured kernels, not grey
    assert "RGB kernels in colour" in drawn["filters_features.0.png"][0]
    assert not result["layers"]["features.2"]["colour"]
    assert all((out / f["file"]).exists() for f in result["figures"])


def test_filters_grouped_depthwise_and_a_large_layer_summarised(capsys, nets, tmp_path, drawn):
    result = run_json(capsys, ["filters", "--model", f"{nets}/nets.py:DilatedGroupedNet", "--input-shape", "1", "28",
                               "28", "--out", str(tmp_path / "g")])
    assert result["layers"]["grouped"]["groups"] == 4 and result["layers"]["grouped"]["shape"] == [8, 2, 3, 3]
    assert "in 4 groups" in drawn["filters_grouped.png"][0]
    assert "depthwise" in drawn["filters_depthwise.png"][0]
    wide = run_json(capsys, ["filters", "--model", f"{nets}/oracle.py:Wide", "--input-shape", "3", "16", "16",
                             "--out", str(tmp_path / "w")])
    a, b = wide["layers"]["a"], wide["layers"]["b"]
    assert a["kernel"] == [3, 5] and a["summarised"] and len(a["shown_filters"]) == 64
    norms = np.asarray(a["filter_norms"])
    assert set(a["shown_filters"]) == set(np.argsort(-norms, kind="stable")[:64].tolist())  # the strongest
    assert "strongest 64 of 100 filters" in drawn["filters_a.png"][0]
    assert b["summarised"] and len(b["shown_filters"]) == 32 and len(b["shown_slices"]) == 16
    assert "strongest 32 of 40 filters" in drawn["filters_b.png"][0]
    assert any("strongest" in line for line in wide["finding"])


def test_featuremaps_rank_and_ablate_over_an_image_folder_against_the_oracle(capsys, nets, folder, tmp_path, drawn):
    out = tmp_path / "fm"
    result = run_json(capsys, ["featuremaps", "--model", f"{nets}/oracle.py:ChannelVote", "--data", str(folder),
                               "--classes", "cat", "dog", "--out", str(out)])
    assert result["layer"] == "stem" and result["pair"] == [0, 1] and result["counts"] == [4, 4]
    assert result["class_names"] == list(CLASSES)
    ranking = result["channel_ranking"]
    assert {ranking[0]["channel"], ranking[1]["channel"]} == {0, 1} and ranking[2]["channel"] == 2
    assert {r["channel"]: r["higher_for"] for r in ranking[:2]} == {0: 0, 1: 1}
    study = result["ablation"]
    assert study["baseline"]["accuracy"] == 1.0
    by_k = {row["k"]: row["top"]["accuracy"] for row in study["by_k"]}
    # one of the pair's channels zeroed: that class falls to the others, the other class stays right; both: 'eel'
    assert by_k == {1: 0.5, 2: 0.0}
    assert "forward hook" in study["method"]
    heading, titles, _ = drawn["featuremaps_stem.png"]
    assert heading.startswith("Feature maps") and titles[2] == "'cat': stem, 3 channels of 30 x 26"
    assert drawn["featuremaps_stem.png"][2] == 2 + 3 + 2  # two inputs, two grids and their difference, colour bars
    assert all((out / f["file"]).exists() for f in result["figures"])


def test_featuremaps_on_an_image_without_data_skip_the_ranking(capsys, nets, tmp_path, drawn):
    image = tmp_path / "one.png"
    Image.fromarray((np.random.default_rng(1).random((30, 26, 3)) * 255).astype(np.uint8)).save(image)
    torch.save(user_nets.ResidualNet().state_dict(), tmp_path / "res.pt")
    result = run_json(capsys, ["featuremaps", "--model", f"{nets}/nets.py:ResidualNet", "--weights",
                               str(tmp_path / "res.pt"), "--image", str(image), "--out", str(tmp_path / "o")])
    assert result["layer"] == "layer1.conv_b"  # the third Conv2d in forward order
    assert result["skipped"].startswith("no --data given") and "channel_ranking" not in result
    assert np.asarray(result["examples"][0]["feature_maps"]).shape == (16, 15, 13)
    assert any("skipped" in line for line in result["finding"])
    assert [f["file"] for f in result["figures"]] == ["featuremaps_layer1.conv_b.png"]


def test_shift_sweeps_an_odd_rgb_size_with_the_four_paddings(capsys, nets, folder, tmp_path, drawn):
    result = run_json(capsys, ["shift", "--model", f"{nets}/oracle.py:ChannelVote", "--data", str(folder),
                               "--digit", "2", "--pixels", "20", "--sweep-max", "2", "--out", str(tmp_path / "s")])
    assert result["image_shape"] == [3, 30, 26] and result["label"] == 2 and result["original"]["prediction"] == 2
    assert np.asarray(result["right"]["image"]).shape == (3, 30, 26)
    sweep = result["sweep"]
    assert sweep["paddings"] == ["clamp", "zero", "reflect", "wrap"] and sweep["images"] == 12
    # channel k is 1 everywhere in class k: every shift and padding keeps it the largest mean
    for axis in ("x", "y"):
        for padding in sweep["paddings"]:
            assert sweep["accuracy"][axis][padding] == [1.0] * 5
    assert drawn["shift_example.png"][2] == 6 and "20 px right" in " ".join(drawn["shift_example.png"][1])
    assert drawn["shift_sweep.png"][2] == 4  # x and y, each with its colour bar
    assert drawn["shift_per_digit.png"][1][:2] == [f"accuracy (%) per class, shift in {a}, clamp padding" for a in "xy"]


def test_shift_of_an_image_without_data_skips_the_sweep(capsys, nets, tmp_path):
    image = tmp_path / "grey.png"
    Image.fromarray((np.random.default_rng(2).random((28, 28)) * 255).astype(np.uint8)).save(image)
    result = run_json(capsys, ["shift", "--model", f"{nets}/nets.py:DilatedGroupedNet", "--image", str(image),
                               "--out", str(tmp_path / "s")])
    assert "sweep" not in result and result["skipped"].startswith("no --data given")
    assert result["label"] is None and result["digit"] == result["original"]["prediction"]


@pytest.mark.parametrize("argv, words", [
    (["filters", "--model", "{d}/nets.py:ResidualNet", "--input-shape", "3", "30", "26", "--layer", "layer1.conv"],
     "--layer: no layer 'layer1.conv'"),
    (["filters", "--model", "{d}/nets.py:ResidualNet", "--input-shape", "3", "30", "26", "--layer", "fc"],
     "--layer: 'fc' is a Linear, not a Conv2d"),
    (["featuremaps", "--model", "{d}/oracle.py:ChannelVote", "--data", "{data}", "--classes", "cat", "cow"],
     "--classes: 'cow' is not a class of the data"),
    (["featuremaps", "--model", "{d}/oracle.py:ChannelVote", "--data", "{data}", "--layer", "stm"],
     "close matches: stem"),
    (["featuremaps", "--model", "{d}/nets.py:VGGStyle", "--image", "{d}/wrong.png"], "30 x 26"),
    (["shift", "--model", "{d}/nets.py:VGGStyle", "--input-shape", "3", "32", "32"], "the shift needs an image: give --data PATH"),
    (["shift", "--model", "{d}/oracle.py:ChannelVote", "--data", "{data}", "--pixels", "26"], "--pixels: 26"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, nets, folder, argv, words):
    Image.fromarray(np.zeros((30, 26, 3), np.uint8)).save(nets / "wrong.png")
    argv = [a.replace("{d}", str(nets)).replace("{data}", str(folder)) for a in argv]
    assert main(argv + ["--out", str(nets / "o")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and words in err, err


@pytest.mark.parametrize("command, extra, words", [
    ("filters", [], "stem: 3 filters of 3 x 1 x 1 weights"),
    ("featuremaps", ["--classes", "0", "2"], "Zeroing the top k = 1, 2 channels"),
    ("shift", ["--no-sweep"], "(a 'cat') is predicted 'cat'"),  # the first class the model gets right
])
def test_human_view_prints_the_finding_and_the_figures(capsys, nets, folder, tmp_path, command, extra, words):
    data = [] if command == "filters" else ["--data", str(folder)]
    argv = [command, "--model", f"{nets}/oracle.py:ChannelVote", *data, "--input-shape", "3", "30", "26", *extra,
            "--out", str(tmp_path / "h")]
    assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert words in out and "figures: " in out


def test_torchscript_and_exported_models(capsys, tmp_path):
    torch.manual_seed(0)
    net = user_nets.VGGStyle().eval()
    torch.jit.save(torch.jit.script(net), tmp_path / "vgg_script.pt")
    batch = torch.export.Dim("batch")
    torch.export.save(torch.export.export(net, (torch.rand(2, 3, 32, 32),), dynamic_shapes={"x": {0: batch}}),
                      tmp_path / "vgg.pt2")
    expected = net.features[0].weight.detach().double().flatten(1).norm(dim=1).numpy()
    for name in ("vgg_script.pt", "vgg.pt2"):
        result = run_json(capsys, ["filters", "--model", str(tmp_path / name), "--input-shape", "3", "32", "32",
                                   "--out", str(tmp_path / name.replace(".", "_"))])
        assert list(result["layers"]) == ["features.0", "features.2", "features.5"]
        np.testing.assert_allclose(result["layers"]["features.0"]["filter_norms"], expected, rtol=1e-6)
    np.save(tmp_path / "img.npy", np.random.default_rng(0).random((3, 32, 32)).astype(np.float32))
    exported = run_json(capsys, ["featuremaps", "--model", str(tmp_path / "vgg.pt2"), "--image", str(tmp_path / "img.npy"),
                                 "--out", str(tmp_path / "fm")])
    with torch.no_grad():
        direct = net.features[:6](torch.from_numpy(np.load(tmp_path / "img.npy"))[None])[0].numpy()  # features.5's output
    np.testing.assert_allclose(exported["examples"][0]["feature_maps"], direct, atol=1e-5)
    assert main(["featuremaps", "--model", str(tmp_path / "vgg_script.pt"), "--image", str(tmp_path / "img.npy"),
                 "--out", str(tmp_path / "fm2")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "forward hooks cannot be set" in err


def test_named_filters_need_no_input_size(capsys, nets, tmp_path):
    """Filters are weights: named layers of a FILE.py:NAME model are read without --input-shape (the model is
    not run); only the default, the first three Conv2d in forward order, needs a forward pass."""
    torch.manual_seed(0)
    torch.save(user_nets.ResidualNet().state_dict(), tmp_path / "w.pt")
    spec = [f"{nets}/nets.py:ResidualNet", "--weights", str(tmp_path / "w.pt")]
    result = run_json(capsys, ["filters", "--model", *spec, "--layers", "stem", "layer1.conv_a",
                               "--out", str(tmp_path / "f")])
    weights = torch.load(tmp_path / "w.pt")
    assert list(result["layers"]) == ["stem", "layer1.conv_a"]
    assert result["layers"]["stem"]["max"] == pytest.approx(float(weights["stem.weight"].max()))
    assert main(["filters", "--model", *spec, "--out", str(tmp_path / "g")]) == 2  # the default needs the order
    assert "--input-shape" in capsys.readouterr().err
