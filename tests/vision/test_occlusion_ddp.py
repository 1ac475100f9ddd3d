"""Scale-out: `torchrun --nproc_per_node 2 -m nnscope occlude --all` writes the same file, byte for
byte, as one process."""

import os
import subprocess
import sys

import numpy as np
import pytest

from nnscope.model import CNNConfig, save_checkpoint
from nnscope.vision.occlusion import c_build
from vision.occlusion_models import random_model


def occlude_all(launcher: list[str], checkpoint, path, limit: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*launcher, "-m", "nnscope", "occlude", "--all", "--limit", str(limit), "--checkpoint",
                           str(checkpoint), "--npz", str(path), "--json"], capture_output=True, text=True, env=env,
                          timeout=300)


@pytest.mark.slow
def test_two_processes_write_the_same_file_as_one(mnist, tmp_path):
    checkpoint = save_checkpoint(tmp_path / "model.pt", random_model(1, CNNConfig()),  # the shipped shape
                                 train_config={}, metrics={}, seed=1)
    limit = 70  # two groups of 64 images: rank 0 takes the first, rank 1 the last 6 images
    one = occlude_all([sys.executable], checkpoint, tmp_path / "one.npz", limit)
    assert one.returncode == 0, one.stderr[-2000:]
    two = occlude_all([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                       "--master_port", "29561"], checkpoint, tmp_path / "two.npz", limit)
    assert two.returncode == 0, two.stderr[-2000:]
    assert '"processes": 2' in two.stdout and '"processes": 1' in one.stdout
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    with np.load(tmp_path / "two.npz") as saved:
        assert saved["probabilities"].shape == (limit, 21, 21, 10)
        assert np.array_equal(saved["labels"], mnist.test_labels[:limit])
        assert np.allclose(saved["probabilities"].sum(-1), 1, atol=1e-5)
        assert str(saved["loops"]) == ("C" if c_build.load() is not None else "torch")
