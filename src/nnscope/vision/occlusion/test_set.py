"""The occlusion maps of the whole test set (or its first N images) into one .npz, sharded by
groups of images over the processes of a torchrun job: any split writes the same file."""

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from nnscope import distributed
from nnscope.data import Digits, as_float_images
from nnscope.fileio import atomic_write, versions
from nnscope.options.occlusion import OcclusionOptions
from nnscope.outputs import check_output_file
from nnscope.progress import Progress
from nnscope.vision.occlusion import c_loops
from nnscope.vision.occlusion.maps import occlusion_probabilities
from nnscope.vision.occlusion.spans import patch_starts

GROUP = 64  # images per group: every process computes whole groups, so any split gives the same numbers
NPZ_NAME = "occlusion_all.npz"  # the file's name in the output folder when options.npz is not given


def occlusion_of_test_set(model, data: Digits, options: OcclusionOptions, out: Path | str | None = None,
                          progress: Progress | None = None) -> dict:
    """The probabilities (N, rows, cols, 10) of the first options.images test images (all: None) in
    options.npz (or out/occlusion_all.npz), and how fast they were computed; rank 0 writes the file."""
    path = Path(options.npz) if options.npz is not None else Path(out if out is not None else ".") / NPZ_NAME
    check_output_file("--npz" if options.npz is not None else "--out", path)  # before the whole test set, not after
    distributed.init()
    # the maps do not depend on the thread count (each batch runs on one thread), so a process
    # alone uses every torch thread; under torchrun the processes share the cores, one thread each
    if distributed.world_size() > 1:
        torch.set_num_threads(1)
    count = min(options.images or len(data.test_images), len(data.test_images))
    groups = distributed.shard(-(-count // GROUP))
    mine = range(groups.start * GROUP, min(count, groups.stop * GROUP))
    images = as_float_images(data.test_images[mine.start : mine.stop])
    start = time.perf_counter()
    probabilities = occlusion_probabilities(model, images, options.patch, options.stride, options.fill,
                                            images_per_group=GROUP, progress=progress)
    seconds = time.perf_counter() - start
    parts = distributed.gather_objects((probabilities, seconds))
    loops = "C" if c_loops.for_model(model.config) is not None else "torch"
    result = {"images": count, "patch": options.patch, "stride": options.stride, "fill": options.fill,
              "positions": len(patch_starts(options.patch, options.stride)) ** 2,
              "processes": distributed.world_size(), "loops": loops, "seconds": max(s for _, s in parts),
              "npz": str(path)}
    result["images_per_second"] = count / result["seconds"] if result["seconds"] else float("inf")
    if distributed.rank() == 0:
        save_probabilities(path, np.concatenate([p for p, _ in parts]), data.test_labels[:count],
                           options.patch, options.stride, options.fill, loops)
    distributed.barrier()
    result["figures"] = []
    return result


def save_probabilities(path, probabilities: np.ndarray, labels: np.ndarray, patch: int, stride: int,
                       fill: float, loops: str):
    """Write the maps of many images to one .npz, atomically and byte for byte reproducibly (no
    timestamps): probabilities (N, rows, cols, 10) float32, labels (N,), patch, stride, fill, loops
    ('C' or 'torch': which loops computed them; the two agree to ~1e-7), versions."""
    arrays = {"probabilities": probabilities.astype(np.float32), "labels": np.asarray(labels),
              "indices": np.arange(len(labels)), "starts": patch_starts(patch, stride),
              "patch": np.int64(patch), "stride": np.int64(stride), "fill": np.float64(fill),
              "loops": np.array(loops), "versions": np.array(json.dumps(versions(), sort_keys=True))}

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
            for name, value in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
                archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())

    return atomic_write(path, write)
