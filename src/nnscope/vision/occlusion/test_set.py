"""The occlusion maps of a whole labelled data set (or its first N images) into one .npz, sharded by
groups of images over the processes of a torchrun job: any split writes the same file."""

import dataclasses
import io
import json
import time
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from nnscope import distributed
from nnscope.fileio import atomic_write, versions
from nnscope.findings.occlusion import describe_test_set
from nnscope.labelled_data import LabelledImages
from nnscope.options.occlusion import OcclusionOptions
from nnscope.outputs import check_output_file
from nnscope.progress import Progress
from nnscope.results import Result
from nnscope.vision.occlusion.maps import model_occlusion
from nnscope.vision.occlusion.spans import patch_starts

GROUP = 64  # images per group: every process computes whole groups, so any split gives the same numbers
NPZ_NAME = "occlusion_all.npz"  # the file's name in the output folder when options.npz is not given


@dataclasses.dataclass
class OcclusionTestSetResult(Result):
    """What `occlude --all` computed, how fast, and where the .npz is."""

    title: ClassVar[str] = "occlusion maps of a data set"

    images: int
    patch: int
    stride: int
    fill: float
    positions: int
    processes: int
    loops: str  # 'C' where nnscope's CNN engine ran on its C loops, else 'torch'
    engine: str
    seconds: float
    npz: str
    images_per_second: float
    finding: list[str] = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=list)


def occlusion_of_test_set(model, data: LabelledImages, options: OcclusionOptions, out: Path | str | None = None,
                          progress: Progress | None = None) -> OcclusionTestSetResult:
    """The probabilities (N, rows, cols, K) of the first options.images images of `data` (all: None) on a
    loaded model in options.npz (or out/occlusion_all.npz), and how fast they were computed; rank 0 writes
    the file. A square patch and one fill value."""
    path = Path(options.npz) if options.npz is not None else Path(out if out is not None else ".") / NPZ_NAME
    check_output_file("--npz" if options.npz is not None else "--out", path)  # before the whole test set, not after
    distributed.init()
    # the maps do not depend on the thread count (each batch runs on one thread), so a process
    # alone uses every torch thread; under torchrun the processes share the cores, one thread each
    if distributed.world_size() > 1:
        torch.set_num_threads(1)
    count = min(options.images or len(data.labels), len(data.labels))
    groups = distributed.shard(-(-count // GROUP))
    mine = range(groups.start * GROUP, min(count, groups.stop * GROUP))
    patch, stride, fill = options.patch_hw[0], options.stride_hw[0], options.fills[0]
    row_starts, col_starts = (patch_starts(patch, stride, side).tolist() for side in data.input_shape[1:])
    start = time.perf_counter()
    maps, engine = [], None
    for first in range(mine.start, mine.stop, GROUP):
        images = torch.from_numpy(data.float_images(np.arange(first, min(first + GROUP, mine.stop)))).to(model.device)
        occluded = model_occlusion(model, images, patch, stride, fill)
        maps.append(occluded.probabilities)
        engine = occluded.engine
        if progress is not None:
            progress(first + len(images) - mine.start, len(mine), "images")
    seconds = time.perf_counter() - start
    parts = distributed.gather_objects((np.concatenate(maps) if maps else None, seconds, engine))
    engine = next(e for _, _, e in parts if e is not None)
    loops = "C" if engine.startswith("nnscope's CNN") else "torch"
    result = OcclusionTestSetResult(
        images=count, patch=patch, stride=stride, fill=fill, positions=len(row_starts) * len(col_starts),
        processes=distributed.world_size(), loops=loops, engine=engine, seconds=max(s for _, s, _ in parts),
        npz=str(path), images_per_second=0.0)
    result.images_per_second = count / result.seconds if result.seconds else float("inf")
    if distributed.rank() == 0:
        save_probabilities(path, np.concatenate([p for p, _, _ in parts if p is not None]), data.labels[:count],
                           patch, stride, fill, loops, row_starts, col_starts)
    distributed.barrier()
    result.finding = describe_test_set(result)
    return result


def save_probabilities(path, probabilities: np.ndarray, labels: np.ndarray, patch: int, stride: int,
                       fill: float, loops: str, row_starts, col_starts):
    """Write the maps of many images to one .npz, atomically and byte for byte reproducibly (no
    timestamps): probabilities (N, rows, cols, K) float32, labels (N,), row_starts, col_starts (starts:
    row_starts' old name), patch, stride, fill, loops ('C' or 'torch': which loops computed them; the two
    agree to ~1e-7), versions."""
    arrays = {"probabilities": probabilities.astype(np.float32), "labels": np.asarray(labels),
              "indices": np.arange(len(labels)), "starts": np.asarray(row_starts),
              "row_starts": np.asarray(row_starts), "col_starts": np.asarray(col_starts),
              "patch": np.int64(patch), "stride": np.int64(stride), "fill": np.float64(fill),
              "loops": np.array(loops), "versions": np.array(json.dumps(versions(), sort_keys=True))}

    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
            for name, value in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
                archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())

    return atomic_write(path, write)
