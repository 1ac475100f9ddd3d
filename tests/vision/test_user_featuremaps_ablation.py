"""`featuremaps` on users' own models: the zero and mean-map ablations against a hand computation.

The oracle runs the same network (same weights) directly and replaces the chosen channels of the
named module's output by a hook written here: zero, or the mean map of that output over the pair's
images computed here. Margin = own-class logit minus the other class's logit, averaged; accuracy =
argmax over every class. Any layer by name, grey and RGB inputs, an odd RGB size (3 x 30 x 26).
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import user_nets  # tests/user_nets.py: tests/ is on the path (no __init__.py there)

from nnscope.cli import main
from nnscope.options.featuremaps import FeatureMapsOptions

TOP = 3  # --top: channels drawn in the _top figure
SINGLE = FeatureMapsOptions.single  # the top-ranked channels also ablated one at a time (every one of 64 or fewer)
SIZES = (1, 2, 4, 8)  # the k of the top-k rows, as documented in docs/problem1.md


def make_case(tmp_path: Path, net_name: str, shape: tuple[int, int, int], seed: int):
    """The net with seeded weights (non-trivial batch-norm statistics, a scaled-up head), saved; an .npz of 3 classes x 5 images."""
    torch.manual_seed(seed)
    net = getattr(user_nets, net_name)()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.2, 0.2)
                module.running_var.uniform_(0.5, 1.5)
        # a larger head: an untrained net's logits are nearly equal, and ablations would move margins by ~1e-3 only
        [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1].weight.mul_(30)
    net.eval()
    shutil.copy(Path(user_nets.__file__), tmp_path / "nets.py")
    torch.save(net.state_dict(), tmp_path / "weights.pt")
    c, h, w = shape
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(3), 5)
    images = (rng.random((len(labels), h, w, c)) * 255).astype(np.uint8)  # (N, H, W, C)
    for k in range(3):  # a little class structure, so the ranking is not pure noise
        images[labels == k, :, :, k % c] //= 2
    np.savez(tmp_path / "data.npz", images=images if c > 1 else images[..., 0], labels=labels)
    return net, images, labels


def run_json(capsys, argv) -> dict:
    assert main(argv + ["--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@torch.no_grad()
def hand_logits(net, layer: str, x: torch.Tensor, channels, fill: torch.Tensor | None) -> torch.Tensor:
    """Logits with `channels` of `layer`'s output replaced by 0 (fill None) or by fill[channel] (H, W)."""
    def replace(_module, _inputs, output):
        output = output.clone()
        for c in channels:
            output[:, c] = 0.0 if fill is None else fill[c]
        return output

    handle = net.get_submodule(layer).register_forward_hook(replace)
    try:
        return net(x)
    finally:
        handle.remove()


def hand_scores(logits: torch.Tensor, labels: np.ndarray, pair) -> tuple[float, float]:
    """(mean own-minus-other logit margin, accuracy over every class) on the pair's images."""
    margins, right = [], []
    for row, label in zip(logits.double().numpy(), labels):
        other = pair[1] if label == pair[0] else pair[0]
        margins.append(row[label] - row[other])
        right.append(row.argmax() == label)
    return float(np.mean(margins)), float(np.mean(right))


CASES = [  # net, input shape, layer (None: the default, the third Conv2d in forward order)
    ("ResidualNet", (3, 30, 26), None),  # layer1.conv_b
    ("ResidualNet", (3, 30, 26), "layer1"),  # a whole residual block's output, by its name
    ("DilatedGroupedNet", (1, 28, 28), "pool"),  # an overlapping max pool, not a Conv2d
    ("VGGStyle", (3, 32, 32), "features.4"),  # a MaxPool2d inside a Sequential
]


@pytest.mark.parametrize("net_name, shape, layer", CASES)
def test_zero_and_mean_ablations_equal_a_hook_written_here(capsys, tmp_path, net_name, shape, layer):
    net, images, labels = make_case(tmp_path, net_name, shape, seed=len(net_name))
    out = tmp_path / "fm"
    argv = ["featuremaps", "--model", f"{tmp_path}/nets.py:{net_name}", "--weights", str(tmp_path / "weights.pt"),
            "--data", str(tmp_path / "data.npz"), "--top", str(TOP), "--draws", "3", "--out", str(out)]
    result = run_json(capsys, argv + (["--layer", layer] if layer else []))
    layer = result["layer"]
    pair = result["pair"]
    assert pair == [0, 1]

    chosen = np.isin(labels, pair)
    x = torch.from_numpy(np.ascontiguousarray(images[chosen].transpose(0, 3, 1, 2))).float() / 255.0
    if shape[0] == 1:
        x = x[:, :1]
    y = labels[chosen]
    captured = []
    handle = net.get_submodule(layer).register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()))
    with torch.no_grad():
        plain = net(x)
    handle.remove()
    maps = captured[0].double()  # (N, C, H, W)
    mean_map = maps.mean(0).float()  # over both classes' images

    # the ranking: Cohen's d of the spatial means, pooled sd with n - 1, by hand
    pooled = maps.mean(dim=(2, 3)).numpy()
    a, b = pooled[y == pair[0]], pooled[y == pair[1]]
    sd = np.sqrt(((len(a) - 1) * a.var(0, ddof=1) + (len(b) - 1) * b.var(0, ddof=1)) / (len(a) + len(b) - 2))
    # a channel constant over both classes (dead after a ReLU) separates nothing: d = 0
    d = np.divide(a.mean(0) - b.mean(0), sd, out=np.zeros(len(sd)), where=sd > 1e-12)
    order = [r["channel"] for r in result["channel_ranking"]]
    assert sorted(order) == list(range(maps.shape[1]))
    np.testing.assert_allclose([r["effect_size"] for r in result["channel_ranking"]], d[order], rtol=1e-3, atol=1e-4)
    assert np.all(np.diff(np.abs(d[order])) <= 1e-6)  # ranked by |d|

    zero, mean = result["ablation"], result["mean_ablation"]
    assert zero["fill"] == "zero" and mean["fill"] == "mean" and zero["images"] == mean["images"] == len(y) == 10
    assert "forward hook" in zero["method"] and "mean map" in mean["method"]
    base = hand_scores(plain, y, pair)
    for study in (zero, mean):
        assert study["baseline"]["margin"] == pytest.approx(base[0], rel=1e-4, abs=1e-5)
        assert study["baseline"]["accuracy"] == pytest.approx(base[1])
    for study, fill in ((zero, None), (mean, mean_map)):
        assert [row["k"] for row in study["by_k"]] == [k for k in SIZES if k <= maps.shape[1]]
        for row in study["by_k"]:
            assert row["top_channels"] == order[:row["k"]]
            margin, accuracy = hand_scores(hand_logits(net, layer, x, order[:row["k"]], fill), y, pair)
            assert row["top"]["margin"] == pytest.approx(margin, rel=1e-4, abs=1e-5)
            assert row["top"]["accuracy"] == pytest.approx(accuracy)
        # each of the top SINGLE channels alone, in the study and in its ranking row
        assert sorted(map(int, study["alone"])) == sorted(order[:SINGLE])
        prefix = "ablated" if fill is None else "mean_ablated"
        for row in result["channel_ranking"][:SINGLE]:
            margin, accuracy = hand_scores(hand_logits(net, layer, x, [row["channel"]], fill), y, pair)
            assert study["alone"][str(row["channel"])]["margin"] == pytest.approx(margin, rel=1e-4, abs=1e-5)
            assert row[f"{prefix}_margin"] == pytest.approx(margin, rel=1e-4, abs=1e-5)
            assert row[f"{prefix}_accuracy"] == pytest.approx(accuracy)
        assert all(f"{prefix}_margin" not in row for row in result["channel_ranking"][SINGLE:])
    gap = max(abs(m["top"]["margin"] - z["top"]["margin"]) for m, z in zip(mean["by_k"], zero["by_k"]))
    assert result["mean_vs_zero_margin"] == pytest.approx(gap)

    # the _top figure's mean maps are each class's mean of the layer's output
    for k, label in enumerate(pair):
        np.testing.assert_allclose(result["mean_maps"][k], maps[y == label].mean(0).numpy(), atol=1e-5)
    stem = f"featuremaps_{layer}"
    assert [f["file"] for f in result["figures"]] == [f"{stem}.png", f"{stem}_top.png", f"{stem}_ablation.png"]
    assert all((out / f["file"]).stat().st_size > 0 for f in result["figures"])
    assert any(line.startswith("Replacing by their mean map the top k") for line in result["finding"])


def test_random_channel_sets_are_the_seeded_draws(capsys, tmp_path):
    """The k-random rows: the mean margin over the seeded draws, recomputed by hand for the mean fill."""
    net, images, labels = make_case(tmp_path, "ResidualNet", (3, 30, 26), seed=3)
    result = run_json(capsys, ["featuremaps", "--model", f"{tmp_path}/nets.py:ResidualNet", "--weights",
                               str(tmp_path / "weights.pt"), "--data", str(tmp_path / "data.npz"), "--classes", "2", "0",
                               "--draws", "2", "--seed", "5", "--out", str(tmp_path / "o")])
    pair, layer = result["pair"], result["layer"]
    assert pair == [2, 0]
    chosen = np.isin(labels, pair)
    x = torch.from_numpy(np.ascontiguousarray(images[chosen].transpose(0, 3, 1, 2))).float() / 255.0
    y = labels[chosen]
    captured = []
    handle = net.get_submodule(layer).register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()))
    with torch.no_grad():
        net(x)
    handle.remove()
    mean_map = captured[0].mean(0)
    channels = captured[0].shape[1]
    generator = np.random.default_rng(5)
    for row in result["mean_ablation"]["by_k"]:
        draws = [generator.choice(channels, row["k"], replace=False).tolist() for _ in range(2)]
        margins = [hand_scores(hand_logits(net, layer, x, c, mean_map), y, pair)[0] for c in draws]
        assert row["random_margin"] == pytest.approx(np.mean(margins), rel=1e-4, abs=1e-5)
        assert row["random_margin_std"] == pytest.approx(np.std(margins), rel=1e-4, abs=1e-5)


def test_without_data_there_is_no_ablation_and_no_top_figure(capsys, tmp_path):
    make_case(tmp_path, "ResidualNet", (3, 30, 26), seed=1)
    np.save(tmp_path / "one.npy", np.random.default_rng(0).random((3, 30, 26)).astype(np.float32))
    result = run_json(capsys, ["featuremaps", "--model", f"{tmp_path}/nets.py:ResidualNet", "--weights",
                               str(tmp_path / "weights.pt"), "--image", str(tmp_path / "one.npy"),
                               "--out", str(tmp_path / "o")])
    assert "ablation" not in result and "mean_ablation" not in result
    assert [f["file"] for f in result["figures"]] == ["featuremaps_layer1.conv_b.png"]


@pytest.mark.parametrize("command", ["featuremaps", "shift", "occlude"])
def test_index_given_with_image_is_named_as_ignored(capsys, tmp_path, command):
    make_case(tmp_path, "ResidualNet", (3, 30, 26), seed=1)
    np.save(tmp_path / "one.npy", np.random.default_rng(0).random((3, 30, 26)).astype(np.float32))
    index = ["--index", "0", "1"] if command == "featuremaps" else ["--index", "0"]
    extra = ["--no-sweep"] if command == "shift" else []
    assert main([command, "--model", f"{tmp_path}/nets.py:ResidualNet", "--weights", str(tmp_path / "weights.pt"),
                 "--image", str(tmp_path / "one.npy"), *index, *extra,
                 "--out", str(tmp_path / "o"), "--json"]) == 0
    captured = capsys.readouterr()
    err = " ".join(captured.err.split())
    # --dataset is a data set like --data now (the MNIST test sets are labelled data sets): not ignored
    assert "note: --index is ignored with --image" in err
    json.loads(captured.out)  # stdout stays one JSON document
