"""The occlusion maps of a whole labelled data set (or its first N images) into one .npz, through a folder
of shard files: resumable after an interruption, and shared by the processes of a torchrun job.

The images are cut into shards of options.shard_size images (shard k: images k * size to (k + 1) * size - 1).
Each shard is computed by one process, in groups of at most GROUP images, and written atomically
(nnscope.fileio) with the options that made it, so a shard file is either whole or absent. A rerun with
the same options keeps the shards already written (checked: the same options, model weights, pixels and
image indices) and computes only the others; a shard written with other options is refused, never
overwritten. Processes share the shards still missing, each shard once (no image computed twice, none
padded); rank 0 then merges the shards in order into the .npz, one shard in memory at a time, so any split
and any resume give the same file byte for byte.
"""

import dataclasses
import hashlib
import io
import json
import time
import zipfile
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from nnscope import distributed
from nnscope.errors import NnscopeError
from nnscope.fileio import atomic_write, versions
from nnscope.findings.occlusion import describe_test_set
from nnscope.labelled_data import LabelledImages
from nnscope.model import weights_sha256
from nnscope.options.occlusion import OcclusionOptions
from nnscope.outputs import check_output_dir, check_output_file
from nnscope.progress import Progress
from nnscope.results import Result
from nnscope.vision.occlusion.aggregate import predict_probabilities
from nnscope.vision.occlusion.maps import model_occlusion
from nnscope.vision.occlusion.spans import patch_starts

GROUP = 64  # images per call of the engine inside a shard: its batches, so the numbers never depend on the split
NPZ_NAME = "occlusion_all.npz"  # the file's name in the output folder when options.npz is not given
FLIPS_LISTED = 10  # the images whose label flips at the most positions, listed in the .npz and the result


@dataclasses.dataclass
class OcclusionTestSetResult(Result):
    """What `occlude --all` computed, how fast, what it found, and where the .npz and its shards are."""

    title: ClassVar[str] = "occlusion maps of a data set"

    images: int
    patch: int
    stride: int
    fill: float
    positions: int
    processes: int
    loops: str  # 'C' where nnscope's CNN engine ran on its C loops, else 'torch' ('C+torch': shards of both)
    engine: str
    seconds: float  # this run's computing time (the slowest process), kept shards not counted
    npz: str
    images_per_second: float  # images computed by this run / seconds
    shards: str  # the folder of shard files
    shards_total: int
    shards_kept: int  # written by an earlier run with the same options, checked and kept
    images_computed: int  # by this run
    class_mean_probability: list  # per class: the mean over its images and positions of P(label) (None: no image)
    most_flipped: list  # [{index, label, share}]: correctly classified images whose label flips most under the patch
    finding: list[str] = dataclasses.field(default_factory=list)
    figures: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """Where the shards of one run go, which images each holds, and the options each must carry."""

    folder: Path
    size: int
    count: int
    options: dict  # the options every shard shares (weights and data included)

    @property
    def total(self) -> int:
        return -(-self.count // self.size)

    def path(self, k: int) -> Path:
        return self.folder / f"shard_{k:05d}.npz"

    def indices(self, k: int) -> np.ndarray:
        return np.arange(k * self.size, min(self.count, (k + 1) * self.size))

    def expected(self, k: int, data: LabelledImages) -> dict:
        """The options shard k must have been written with: the run's, and the digest of its own pixels."""
        pixels = np.ascontiguousarray(data.images[self.indices(k)])
        return {**self.options, "pixels": hashlib.sha256(pixels.tobytes()).hexdigest()[:16]}


def weights_digest(module: torch.nn.Module) -> str:
    """A short digest of a module's parameters and buffers (names, shapes, dtypes and bytes)."""
    return weights_sha256(module.state_dict())[:16]


def shard_plan(model, data: LabelledImages, options: OcclusionOptions, path: Path, count: int) -> ShardPlan:
    """The shard folder (options.shards, else '<npz name>.shards' beside the .npz) and the options to record."""
    folder = Path(options.shards) if options.shards is not None else path.with_name(path.name + ".shards")
    check_output_dir("--shards" if options.shards is not None else "--npz", folder)
    recorded = {"--patch": options.patch_hw[0], "--stride": options.stride_hw[0], "--fill": options.fills[0],
                "--shard-size": options.shard_size, "model": model.source, "weights": weights_digest(model.module),
                "data": data.source, "data images": len(data.labels)}
    return ShardPlan(folder, options.shard_size, count, recorded)


def read_shard_header(path: Path) -> tuple[dict, np.ndarray]:
    """(the options, the image indices) a shard file was written with; NnscopeError when it is not a shard."""
    try:
        with np.load(path, allow_pickle=False) as shard:
            return json.loads(str(shard["options"])), shard["indices"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise NnscopeError(f"--shards: {path} is not a shard of `nnscope occlude --all` ({type(e).__name__}); "
                           "refusing to replace it: remove it or give another --shards folder") from None


def kept_shards(plan: ShardPlan, data: LabelledImages) -> set[int]:
    """The shards an earlier run wrote with these options and these images (kept, not redone); NnscopeError
    naming the first shard written otherwise (never overwritten)."""
    kept = set()
    for k in range(plan.total):
        if not plan.path(k).exists():
            continue
        written, indices = read_shard_header(plan.path(k))
        expected = plan.expected(k, data)
        for key, value in expected.items():
            if written.get(key) != value:
                raise NnscopeError(f"--shards: {plan.path(k)} was written with {key} {written.get(key)!r}, this run "
                                   f"has {value!r}; refusing to overwrite it: rerun with its options, or give "
                                   "another --shards folder")
        if not np.array_equal(indices, plan.indices(k)):
            raise NnscopeError(f"--shards: {plan.path(k)} holds images {indices[0]} to {indices[-1]}, this run puts "
                               f"{plan.indices(k)[0]} to {plan.indices(k)[-1]} there; refusing to overwrite it: "
                               "give another --shards folder")
        kept.add(k)
    return kept


def occlusion_of_test_set(model, data: LabelledImages, options: OcclusionOptions, out: Path | str | None = None,
                          progress: Progress | None = None) -> OcclusionTestSetResult:
    """The probabilities (N, rows, cols, K) of the first options.images images of `data` (all: None) on a
    loaded model in options.npz (or out/occlusion_all.npz), through the shard files (see the module), with
    the mean map of P(label) per class and the images whose label flips most; rank 0 writes the .npz. A
    square patch and one fill value."""
    path = Path(options.npz) if options.npz is not None else Path(out if out is not None else ".") / NPZ_NAME
    check_output_file("--npz" if options.npz is not None else "--out", path)  # before the whole test set, not after
    distributed.init()
    # the maps do not depend on the thread count (each batch runs on one thread), so a process
    # alone uses every torch thread; under torchrun the processes share the cores, one thread each
    if distributed.world_size() > 1:
        torch.set_num_threads(1)
    count = min(options.images or len(data.labels), len(data.labels))
    plan = shard_plan(model, data, options, path, count)
    kept = kept_shards(plan, data)  # every process checks them all, and fails alike
    if distributed.rank() == 0:  # what a killed run left of a shard it was writing (never a shard: fileio)
        for left in plan.folder.glob(".shard_*.npz.*.tmp"):
            left.unlink(missing_ok=True)
    distributed.barrier()  # no process writes a shard before all have read the folder: they share one to-do list
    missing = [k for k in range(plan.total) if k not in kept]
    mine = missing[distributed.rank()::distributed.world_size()]
    patch, stride, fill = options.patch_hw[0], options.stride_hw[0], options.fills[0]
    row_starts, col_starts = (patch_starts(patch, stride, side).tolist() for side in data.input_shape[1:])
    start, done, total = time.perf_counter(), 0, sum(len(plan.indices(k)) for k in mine)
    for k in mine:
        write_shard(model, data, plan, k, patch, stride, fill)
        done += len(plan.indices(k))
        if progress is not None:
            rate = done / max(time.perf_counter() - start, 1e-9)
            progress(done, total, f"images, {rate:.1f} images/s, {len(kept)} of {plan.total} shards kept")
    seconds = time.perf_counter() - start
    parts = distributed.gather_objects((seconds, done))
    distributed.barrier()  # every shard is written
    summary = merge_shards(plan, path, row_starts, col_starts, patch, stride, fill) if distributed.rank() == 0 else None
    summary = distributed.gather_objects(summary)[0]
    if options.shards is None and distributed.rank() == 0:  # the shards of the default folder served their purpose
        for k in range(plan.total):
            plan.path(k).unlink(missing_ok=True)
        if plan.folder.is_dir() and not any(plan.folder.iterdir()):
            plan.folder.rmdir()
    seconds, computed = max(s for s, _ in parts), sum(n for _, n in parts)
    result = OcclusionTestSetResult(
        images=count, patch=patch, stride=stride, fill=fill, positions=len(row_starts) * len(col_starts),
        processes=distributed.world_size(), loops=summary["loops"], engine=summary["engine"], seconds=seconds,
        npz=str(path), images_per_second=computed / seconds if seconds else float("inf"), shards=str(plan.folder),
        shards_total=plan.total, shards_kept=len(kept), images_computed=computed,
        class_mean_probability=summary["class_mean_probability"], most_flipped=summary["most_flipped"])
    result.finding = describe_test_set(result)
    return result


def write_shard(model, data: LabelledImages, plan: ShardPlan, k: int, patch: int, stride: int, fill: float) -> str:
    """Compute shard k (GROUP images per call of the engine) and write it atomically; the engine, in words."""
    indices = plan.indices(k)
    maps, unoccluded, engine = [], [], ""
    for first in range(0, len(indices), GROUP):
        pixels = data.float_images(indices[first:first + GROUP])
        occluded = model_occlusion(model, torch.from_numpy(pixels).to(model.device), patch, stride, fill)
        maps.append(occluded.probabilities)
        unoccluded.append(predict_probabilities(model, pixels))
        engine = occluded.engine
    arrays = {"probabilities": np.concatenate(maps).astype(np.float32), "indices": indices,
              "labels": np.asarray(data.labels[indices], np.int64),
              "unoccluded_probabilities": np.concatenate(unoccluded).astype(np.float32),
              "options": np.array(json.dumps(plan.expected(k, data), sort_keys=True)), "engine": np.array(engine)}
    atomic_write(plan.path(k), lambda f: write_npz(f, arrays))
    return engine


def shard_arrays(plan: ShardPlan, *names: str):
    """For each shard in order, the arrays `names` of its file (one shard open at a time)."""
    for k in range(plan.total):
        with np.load(plan.path(k), allow_pickle=False) as shard:
            yield [shard[name] for name in names]


def merge_shards(plan: ShardPlan, path: Path, row_starts, col_starts, patch: int, stride: int, fill: float) -> dict:
    """Write the .npz from the shards, in order, one shard's maps in memory at a time; its summary (loops,
    engine, the mean P(label) per class, the images that flip most) for the result."""
    rows, cols = len(row_starts), len(col_starts)
    small = list(shard_arrays(plan, "labels", "unoccluded_probabilities", "engine"))
    engines = [str(engine) for _, _, engine in small]
    loops = "+".join(sorted({"C" if e.startswith("nnscope's CNN") else "torch" for e in engines}))
    labels = np.concatenate([labels for labels, _, _ in small])
    unoccluded = np.concatenate([u for _, u, _ in small])
    classes = unoccluded.shape[1]
    sums, flip_share = np.zeros((classes, rows, cols)), np.zeros(len(labels))
    for k, (maps, mine) in enumerate(shard_arrays(plan, "probabilities", "labels")):
        np.add.at(sums, mine, np.take_along_axis(maps, mine[:, None, None, None], -1)[..., 0])
        flip_share[plan.indices(k)] = (maps.argmax(-1) != mine[:, None, None]).mean((1, 2))
    counts = np.bincount(labels, minlength=classes)
    means = np.divide(sums, counts[:, None, None], out=np.full_like(sums, np.nan), where=counts[:, None, None] > 0)
    correct = np.flatnonzero(unoccluded.argmax(1) == labels)  # a flip is a change from the right label
    flipped = correct[np.argsort(-flip_share[correct], kind="stable")][:FLIPS_LISTED]
    arrays = {"probabilities": {"shape": (len(labels), rows, cols, classes),
                                "chunks": lambda: (maps for maps, in shard_arrays(plan, "probabilities"))},
              "labels": labels, "indices": np.arange(len(labels)), "starts": np.asarray(row_starts),
              "row_starts": np.asarray(row_starts), "col_starts": np.asarray(col_starts), "patch": np.int64(patch),
              "stride": np.int64(stride), "fill": np.float64(fill), "loops": np.array(loops),
              "unoccluded_probabilities": unoccluded, "class_counts": counts,
              "class_mean_maps": means.astype(np.float32), "flip_share": flip_share, "most_flipped": flipped,
              "most_flipped_share": flip_share[flipped], "versions": np.array(json.dumps(versions(), sort_keys=True))}
    atomic_write(path, lambda f: write_npz(f, arrays))
    class_means = means.mean((1, 2))
    return {"loops": loops, "engine": engines[0],
            "class_mean_probability": [float(m) if n else None for m, n in zip(class_means, counts)],
            "most_flipped": [{"index": int(i), "label": int(labels[i]), "share": float(flip_share[i])} for i in flipped]}


def write_npz(f, arrays: dict) -> None:
    """An uncompressed .npz of `arrays` into the open file `f`, byte for byte reproducibly (no timestamps).
    A value {'shape': shape, 'chunks': f()} is a float32 array of that shape written from the arrays f()
    yields in order, one at a time (the maps of a whole data set never in memory at once)."""
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            if isinstance(value, dict):
                with archive.open(info, "w", force_zip64=True) as entry:
                    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False,
                              "shape": tuple(value["shape"])}
                    np.lib.format.write_array_header_1_0(entry, header)
                    for chunk in value["chunks"]():
                        entry.write(np.ascontiguousarray(chunk, "<f4").tobytes())
                continue
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(value), allow_pickle=False)
            archive.writestr(info, buffer.getvalue())
