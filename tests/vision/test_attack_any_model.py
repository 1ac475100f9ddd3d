"""`nnscope attack` on models of any shape (vision/attack.py, the one path): on hand-made vote nets where a
transplanted square really changes the class, an RGB 3 x 30 x 26 and a grey 1 x 27 x 21 image, every
reported success is rebuilt by hand and re-classified by the net itself, the successes and the candidates
equal a naive loop over the same pastes, bad input is one line with exit code 2, and `--json` end to end
is one JSON document with the contract's keys."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nnscope.analyses import run_attack
from nnscope.cli import main
from nnscope.labelled_data import LabelledImages
from nnscope.models import load_model
from nnscope.options.attack import AttackOptions
from nnscope.vision.attack import NEAR_INK, WHOLE_GRID

# the users' model file: the class is the channel (RGB) or the half (grey) holding the brightest 3 x 3 mean
NETS = '''
import torch
from torch import nn
import torch.nn.functional as F


class PatchVote(nn.Module):
    """Logit k = 10 x the brightest 3 x 3 mean of channel k."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(10.0))

    def forward(self, x):
        return self.scale * F.avg_pool2d(x, 3, stride=1).amax(dim=(2, 3))


class HalfVote(nn.Module):
    """Grey: logit 0 = 1 + 10 x the brightest 3 x 3 mean of the top half of the rows, logit 1 = 10 x that of
    the bottom half: a bright blob wins, and with none (covered by a dark square) the class is 'top'."""

    def forward(self, x):
        half = x.shape[2] // 2
        votes = 10 * torch.stack([F.avg_pool2d(part, 3, stride=1).amax(dim=(1, 2, 3))
                                  for part in (x[:, :, :half], x[:, :, half:])], 1)
        return votes + torch.tensor([1.0, 0.0])
'''
RGB = ("red", "green", "blue")
GREY = ("top", "bottom")
CASES = {  # net, shape (C, H, W), class names, sizes, where the pastes go
    "rgb": ("PatchVote", (3, 30, 26), RGB, (3, 7), WHOLE_GRID),
    "grey": ("HalfVote", (1, 27, 21), GREY, (3, 8), NEAR_INK),
}


def blobs(shape, names, per_class: int, seed: int = 0) -> LabelledImages:
    """Dim noise (below 0.4) with one bright 3 x 3 blob (0.7 to 1) a image: in channel k of class k (RGB),
    or in the top / bottom half of the rows (grey), at a seeded place."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    labels = np.arange(per_class * len(names)) % len(names)
    images = (rng.random((len(labels), c, h, w)) * (0.4 if c == 3 else 0.3)).astype(np.float32)
    for i, k in enumerate(labels):
        q = rng.integers(0, w - 3)
        if c == 3:
            images[i, k, (r := rng.integers(0, h - 3)) : r + 3, q : q + 3] = rng.uniform(0.7, 1.0)
        else:
            low = 0 if k == 0 else h // 2
            images[i, 0, (r := rng.integers(low, low + h // 2 - 3)) : r + 3, q : q + 3] = rng.uniform(0.7, 1.0)
    return LabelledImages(images, 1.0, labels.astype(np.int64), tuple(names), "blobs")


@pytest.fixture
def nets(tmp_path) -> Path:
    (tmp_path / "vote.py").write_text(NETS)
    return tmp_path / "vote.py"


def loaded_case(nets: Path, case: str):
    name, shape, names, sizes, rule = CASES[case]
    loaded = load_model(f"{nets}:{name}", input_shape=shape, class_names=list(names))
    return loaded, blobs(shape, names, 4), sizes, rule


@torch.no_grad()
def classify(net, images: np.ndarray) -> np.ndarray:
    return net(torch.from_numpy(np.ascontiguousarray(images, np.float32))).argmax(1).numpy()


def naive_positions(image: np.ndarray, size: int, rule: str) -> list[tuple[int, int]]:
    """Every top-left corner of a size x size square; near the ink: those whose square grown by one pixel
    on each side holds a pixel above 0.5."""
    _, h, w = image.shape
    corners = [(r, c) for r in range(h - size + 1) for c in range(w - size + 1)]
    if rule == WHOLE_GRID:
        return corners
    ink = image[0] > 0.5
    return [(r, c) for r, c in corners if ink[max(r - 1, 0) : r + size + 1, max(c - 1, 0) : c + size + 1].any()]


def naive_attack(net, image: np.ndarray, label: int, data: LabelledImages, per_class: int, sizes, rule: str):
    """(donor indices, candidates, successes {(donor index, size, row, col, new label)}): one paste at a time,
    the donors the first `per_class` correctly classified images of each other class in data order."""
    pictures = data.float_images()
    correct = classify(net, pictures) == data.labels
    donors = [i for k in range(len(data.class_names)) if k != label
              for i in [j for j in range(len(data.labels)) if correct[j] and data.labels[j] == k][:per_class]]
    candidates, successes = 0, set()
    for size in sizes:
        for r, c in naive_positions(image, size, rule):
            for d in donors:
                pasted = image.copy()
                pasted[:, r : r + size, c : c + size] = pictures[d][:, r : r + size, c : c + size]
                candidates += 1
                new = int(classify(net, pasted[None])[0])
                if new != label:
                    successes.add((d, size, r, c, new))
    return donors, candidates, successes


@pytest.mark.parametrize("case", ["rgb", "grey"])
def test_every_success_is_the_transplant_it_reports(nets, case):
    loaded, data, sizes, rule = loaded_case(nets, case)
    result = run_attack(loaded, data, AttackOptions(digit=1, sizes=sizes, images=3, rate_stride=3, every_image=True))
    net, pictures = loaded.module, data.float_images()
    image = pictures[result["index"]]
    assert data.labels[result["index"]] == result["digit"] == 1
    assert result["image_shape"] == list(CASES[case][1]) and result["positions"] == rule
    assert result["successes"], "the vote nets are built so that some paste changes the class"
    for s in result["successes"]:
        size, (sr, sc), (tr, tc) = s["patch_size"], (s["source_row"], s["source_col"]), (s["target_row"], s["target_col"])
        assert (sr, sc) == (tr, tc)  # the square goes back to the place it was cut from
        pasted = image.copy()
        pasted[:, tr : tr + size, tc : tc + size] = pictures[s["donor_index"]][:, sr : sr + size, sc : sc + size]
        assert np.array_equal(pasted[0] if len(pasted) == 1 else pasted, s["adversarial_image"])  # grey: H x W
        assert classify(net, pasted[None])[0] == s["prediction"] != 1
        assert data.labels[s["donor_index"]] == s["donor_digit"] != 1
    assert result["smallest_patch"] == min(s["patch_size"] for s in result["successes"])
    assert result["reachable_digits"] == sorted({s["prediction"] for s in result["successes"]})
    assert result["rate"]["images"] == 3


@pytest.mark.parametrize("case", ["rgb", "grey"])
def test_successes_and_candidates_equal_a_naive_loop(nets, case):
    loaded, data, sizes, rule = loaded_case(nets, case)
    image = data.float_images([1])[0]  # given as --image: its class is the model's prediction
    label = int(classify(loaded.module, image[None])[0])
    assert label == 1
    result = run_attack(loaded, data, AttackOptions(digit=None, sizes=sizes, images=0), image=image, image_name="x.npy")
    donors, candidates, successes = naive_attack(loaded.module, image, label, data, 2, sizes, rule)
    assert successes and candidates > len(successes)
    assert result["source"] == "x.npy" and result["index"] is None and result["digit"] == label
    assert result["donors"].tolist() == donors
    assert result["candidates"] == candidates
    assert {(s["donor_index"], s["patch_size"], s["target_row"], s["target_col"], s["prediction"])
            for s in result["successes"]} == successes
    assert result["unverified_hits"] == 0  # the engine is exact: no hit is dropped by the check


def attack(argv, capsys) -> tuple[int, str, str]:
    code = main(["attack", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def saved_rgb(nets, tmp_path) -> list[str]:
    """--model/--weights of PatchVote and an .npz --data of the RGB blobs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("vote", nets)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.save(module.PatchVote().state_dict(), tmp_path / "vote.pt")
    data = blobs((3, 30, 26), RGB, 4)
    np.savez(tmp_path / "blobs.npz", images=data.images, labels=data.labels, class_names=np.array(RGB))
    return ["--model", f"{nets}:PatchVote", "--weights", str(tmp_path / "vote.pt"), "--data", str(tmp_path / "blobs.npz")]


@pytest.mark.parametrize("extra,words", [
    ([], "--data"),  # no --data (the first four arguments only)
    (["--digit", "purple"], "--digit"),
    (["--digit", "7"], "--digit"),
    (["--image", "WRONG"], "--image"),
    (["--index", "99"], "--index"),
    (["--sizes", "27"], "--sizes"),
])
def test_bad_input_is_one_line_and_exit_code_2(saved_rgb, tmp_path, capsys, extra, words):
    argv = saved_rgb[:4] if not extra else [*saved_rgb, *extra]
    if "WRONG" in argv:
        np.save(tmp_path / "small.npy", np.zeros((3, 20, 26), np.float32))
        argv[argv.index("WRONG")] = str(tmp_path / "small.npy")
    code, out, err = attack([*argv, "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err and "Traceback" not in err, err


def test_digit_by_class_name_picks_that_class(saved_rgb, tmp_path, capsys):
    code, out, err = attack([*saved_rgb, "--digit", "blue", "--sizes", "3", "--images", "0", "--json",
                             "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["digit"] == 2 and result["class_names"] == list(RGB)


@pytest.mark.slow
def test_json_end_to_end_is_one_document_with_the_contract_keys(saved_rgb, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(Path(__file__).parents[2] / "src"),
                                                                   os.environ.get("PYTHONPATH", "")] if p)}
    run = subprocess.run([sys.executable, "-m", "nnscope", "attack", *saved_rgb, "--sizes", "3", "5", "--images", "2",
                          "--json", "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)  # exactly one document: json.loads rejects anything after it
    for key in ("model", "class_names", "source", "image_shape", "successes", "candidates", "digit", "index",
                "smallest_patch", "reachable_digits", "sizes", "positions", "rate", "finding", "figures", "seconds"):
        assert key in result, key
    assert result["model"].endswith("vote.py:PatchVote") or "PatchVote" in result["model"]
    assert result["class_names"] == list(RGB) and result["image_shape"] == [3, 30, 26]
    assert result["sizes"] == [3, 5] and result["successes"] and result["rate"]["images"] == 2
    assert all(s["prediction"] != result["digit"] for s in result["successes"])
    assert [(tmp_path / "out" / f["file"]).exists() for f in result["figures"]] == [True] * len(result["figures"])


@pytest.mark.slow
def test_nnscope_cnn_with_image_and_no_data_takes_its_donors_from_the_mnist_test_set(trained_checkpoint, trained_model,
                                                                                       mnist, tmp_path, capsys):
    six = int(np.flatnonzero(mnist.test_labels == 6)[0])
    image = mnist.test_images[six][None].astype(np.float32) / 255
    np.save(tmp_path / "six.npy", image)
    code, out, err = attack(["--model", str(trained_checkpoint), "--image", str(tmp_path / "six.npy"), "--sizes", "6",
                             "--images", "0", "--json", "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["source"] == str(tmp_path / "six.npy") and result["digit"] == 6 and result["image_shape"] == [1, 28, 28]
    labels = mnist.test_labels[result["donors"]]
    assert sorted(labels.tolist()) == sorted(2 * [d for d in range(10) if d != 6])  # 2 donors of each other digit
    for s in result["successes"]:
        size, r, c = s["patch_size"], s["target_row"], s["target_col"]
        pasted = image.copy()
        pasted[:, r : r + size, c : c + size] = mnist.test_images[s["donor_index"]][r : r + size, c : c + size] / 255
        assert mnist.test_labels[s["donor_index"]] == s["donor_digit"] != 6
        assert int(trained_model(torch.from_numpy(pasted[None])).argmax()) == s["prediction"] != 6
