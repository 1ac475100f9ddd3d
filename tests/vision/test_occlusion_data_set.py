"""`nnscope occlude` at the sizes people use: --drill-down on one image (exact where it says so, fewer
positions computed below R = 1), and --all over a whole labelled data set through shard files: the class
means and the flips against a one-position-per-pass loop, a rerun that keeps the shards already written,
a shard of other options refused, an interrupted run resumed to the same bytes, and two torchrun
processes writing the file of one."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nnscope.cli import main
from vision.test_occlusion_models import SHAPES, image_file, naive_maps, occlude, saved


def test_drill_down_of_one_is_the_exact_map(tmp_path, capsys):
    net, model = saved("ResidualNet", tmp_path)
    image, path = image_file(SHAPES["ResidualNet"], tmp_path)
    common = [*model, "--image", path, "--patch", "6", "--stride", "2", "--out", str(tmp_path)]
    exact = occlude(common, capsys)
    drilled = occlude([*common, "--drill-down", "1"], capsys)
    naive = naive_maps(net, image, (6, 6), (2, 2), [0.0])[0]
    assert "drill_down" not in exact
    drill = drilled["drill_down"]
    assert drill["positions"] == drill["computed_positions"] == 13 * 11 and drill["approximate"] is False
    assert np.array(drill["computed"]).all()
    assert np.abs(np.array(drilled["probabilities"]) - naive).max() < 1e-5
    assert np.abs(np.array(drilled["probabilities"]) - np.array(exact["probabilities"])).max() < 1e-5
    assert not any("approximate" in line for line in drilled["finding"])


def test_drill_down_below_one_computes_fewer_positions_and_says_so(tmp_path, capsys):
    net, model = saved("ResidualNet", tmp_path)
    image, path = image_file(SHAPES["ResidualNet"], tmp_path)
    result = occlude([*model, "--image", path, "--patch", "4", "--stride", "1", "--drill-down", "0.05",
                      "--out", str(tmp_path)], capsys)
    drill, positions = result["drill_down"], 27 * 23
    computed = np.array(drill["computed"])
    assert computed.shape == (27, 23) and drill["positions"] == positions
    assert drill["computed_positions"] == computed.sum() < positions and drill["approximate"] is True
    assert computed[::2, ::2].all()  # the coarse grid is computed exactly
    assert result["engine"].startswith(f"drill-down (approximate): {computed.sum()} of {positions} positions")
    naive = naive_maps(net, image, (4, 4), (1, 1), [0.0])[0]
    got = np.array(result["probabilities"])
    assert np.abs(got[computed] - naive[computed]).max() < 1e-5  # every computed value is the exact one
    assert np.abs(got[~computed] - naive[~computed]).max() > 1e-6  # the rest are interpolated, not computed
    assert result["finding"][0].startswith("The map is a drill-down (approximate, R = 0.05)")
    assert all(f["caption"].startswith("drill-down (approximate, R = 0.05") for f in result["figures"][:2])


@pytest.mark.parametrize("extra,start", [
    (["--drill-down", "0"], "--drill-down: 0; expected a share of the positions > 0 and <= 1"),
    (["--drill-down", "1.5"], "--drill-down: 1.5; expected"),
    (["--all", "--drill-down", "0.5"], "--drill-down: one image's approximate map; --all"),
    (["--all", "--shard-size", "0"], "--shard-size: 0; expected a whole number of images >= 1"),
])
def test_bad_drill_down_and_shard_options_are_one_line(extra, start, tmp_path, capsys):
    _, model = saved("ResidualNet", tmp_path)
    code = main(["occlude", *model, "--out", str(tmp_path), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"nnscope occlude: error: {start}"), err


def labelled_npz(folder: Path, count: int = 5, seed: int = 3) -> tuple[np.ndarray, np.ndarray, str]:
    images = np.random.default_rng(seed).random((count, *SHAPES["ResidualNet"]), dtype=np.float32)
    labels = np.array([0, 3, 1, 3, 4, 0, 2][:count])
    np.savez(folder / "data.npz", images=images, labels=labels)
    return images, labels, str(folder / "data.npz")


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_all_writes_shards_class_means_and_flips_and_a_rerun_keeps_the_shards(tmp_path, capsys):
    net, model = saved("ResidualNet", tmp_path)
    images, labels, data = labelled_npz(tmp_path)
    shards = tmp_path / "shards"
    argv = [*model, "--data", data, "--all", "--patch", "8", "--stride", "6", "--shard-size", "2",
            "--shards", str(shards), "--npz", str(tmp_path / "maps.npz"), "--out", str(tmp_path)]
    first = occlude(argv, capsys)
    assert first["shards_total"] == 3 and first["shards_kept"] == 0 and first["images_computed"] == 5
    assert sorted(p.name for p in shards.iterdir()) == ["shard_00000.npz", "shard_00001.npz", "shard_00002.npz"]
    naive = np.stack([naive_maps(net, image, (8, 8), (6, 6), [0.0])[0] for image in images])  # (5, 5, 4, 5)
    with np.load(tmp_path / "maps.npz") as saved_maps:
        assert np.abs(saved_maps["probabilities"] - naive).max() < 1e-5
        assert saved_maps["indices"].tolist() == list(range(5)) and saved_maps["labels"].tolist() == labels.tolist()
        own = naive[np.arange(5), ..., labels]  # (5, rows, cols): P(label) at every position
        for k in range(5):
            mine = labels == k
            assert saved_maps["class_counts"][k] == mine.sum()
            if mine.any():
                assert np.abs(saved_maps["class_mean_maps"][k] - own[mine].mean(0)).max() < 1e-5
            else:
                assert np.isnan(saved_maps["class_mean_maps"][k]).all()
        flips = (naive.argmax(-1) != labels[:, None, None]).mean((1, 2))
        assert np.allclose(saved_maps["flip_share"], flips)
        with torch.no_grad():
            unoccluded = torch.softmax(net(torch.from_numpy(images)), 1).numpy()
        assert np.abs(saved_maps["unoccluded_probabilities"] - unoccluded).max() < 1e-5
        correct = np.flatnonzero(unoccluded.argmax(1) == labels)
        expected = sorted(correct, key=lambda i: (-flips[i], i))
        assert saved_maps["most_flipped"].tolist() == expected
        assert [f["index"] for f in first["most_flipped"]] == expected
        assert np.allclose(saved_maps["most_flipped_share"], flips[expected])
    before, merged = stamps(shards), (tmp_path / "maps.npz").read_bytes()
    again = occlude(argv, capsys)
    assert again["shards_kept"] == 3 and again["images_computed"] == 0
    assert any(line.startswith("Resumed: 3 of 3 shards") for line in again["finding"])
    assert stamps(shards) == before  # kept, not rewritten
    assert (tmp_path / "maps.npz").read_bytes() == merged


def test_a_shard_of_other_options_or_not_a_shard_is_refused_not_overwritten(tmp_path, capsys):
    _, model = saved("ResidualNet", tmp_path)
    _, _, data = labelled_npz(tmp_path, 3)
    shards = tmp_path / "shards"
    argv = ["--all", "--stride", "6", "--shard-size", "2", "--shards", str(shards), "--npz", str(tmp_path / "maps.npz"),
            "--out", str(tmp_path), *model, "--data", data]
    occlude([*argv, "--patch", "8"], capsys)
    before = stamps(shards)
    code = main(["occlude", *argv, "--patch", "6"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"nnscope occlude: error: --shards: {shards / 'shard_00000.npz'} was written with "
                          "--patch 8, this run has 6; refusing to overwrite it"), err
    assert stamps(shards) == before
    (shards / "shard_00001.npz").write_bytes(b"not a shard")
    code = main(["occlude", *argv, "--patch", "8"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith(f"nnscope occlude: error: --shards: {shards / 'shard_00001.npz'} is not a "
                                        "shard of `nnscope occlude --all`"), err
    assert (shards / "shard_00001.npz").read_bytes() == b"not a shard"


def test_the_default_shards_are_removed_once_merged(tmp_path, capsys):
    _, model = saved("ResidualNet", tmp_path)
    _, _, data = labelled_npz(tmp_path, 3)
    result = occlude([*model, "--data", data, "--all", "--patch", "8", "--stride", "6", "--shard-size", "2",
                      "--out", str(tmp_path)], capsys)
    assert result["shards"] == str(tmp_path / "occlusion_all.npz.shards") and result["shards_total"] == 2
    assert (tmp_path / "occlusion_all.npz").is_file() and not (tmp_path / "occlusion_all.npz.shards").exists()


def run_all(launcher: list[str], model: list[str], data: str, shards: Path, npz: Path, **kwargs):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    command = [*launcher, "-m", "nnscope", "occlude", *model, "--data", data, "--all", "--patch", "4", "--stride",
               "1", "--shard-size", "1", "--shards", str(shards), "--npz", str(npz), "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def finished(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out)


@pytest.mark.slow
def test_an_interrupted_run_resumes_keeping_its_shards_and_two_processes_write_the_same_file(tmp_path):
    _, model = saved("ResidualNet", tmp_path)
    images = np.random.default_rng(5).random((8, 3, 40, 40), dtype=np.float32)
    np.savez(tmp_path / "data.npz", images=images, labels=np.array([0, 1, 2, 3, 4, 0, 1, 2]))
    data = str(tmp_path / "data.npz")
    whole = finished(run_all([sys.executable], model, data, tmp_path / "whole", tmp_path / "whole.npz"))
    assert whole["images_computed"] == 8 and whole["processes"] == 1
    # killed once the first shard is written
    process = run_all([sys.executable], model, data, tmp_path / "cut", tmp_path / "cut.npz")
    first = tmp_path / "cut" / "shard_00000.npz"
    deadline = time.monotonic() + 300
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    written = stamps(tmp_path / "cut")
    kept = {name for name in written if not name.startswith(".")}
    assert "shard_00000.npz" in kept and len(kept) < 8 and not (tmp_path / "cut.npz").exists()
    resumed = finished(run_all([sys.executable], model, data, tmp_path / "cut", tmp_path / "cut.npz"))
    assert resumed["shards_kept"] == len(kept) and resumed["images_computed"] == 8 - len(kept)
    after = stamps(tmp_path / "cut")
    assert all(after[name] == written[name] for name in kept)  # the same files: inode and mtime unchanged
    assert sorted(after) == [f"shard_{k:05d}.npz" for k in range(8)]  # no temporary file left over
    assert (tmp_path / "cut.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
    # two processes: each shard once, the same bytes
    two = finished(run_all([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                            "--master_port", "29563"], model, data, tmp_path / "two", tmp_path / "two.npz"))
    assert two["processes"] == 2 and two["images_computed"] == 8 and two["shards_kept"] == 0
    assert (tmp_path / "two.npz").read_bytes() == (tmp_path / "whole.npz").read_bytes()
