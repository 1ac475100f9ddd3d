"""Exact occlusion of ResNet-18 and VGG-16 (random weights, eval mode, fill 0, target: the predicted
class): nnscope.Occlusion (incremental inference on the fx-traced model) against Captum's Occlusion
at several perturbations_per_eval, and Captum on the batch-norm-folded, frozen TorchScript model
(what is left once the model itself is made as fast as nnscope's full passes), in one run.

Measured as CPU time (time.process_time) at one torch thread, the methods interleaved in rounds
so that a burst of load on a shared machine hits all of them alike; per round the ratio
Captum / nnscope, printed as the minimum and the median over rounds. nnscope's first call, which
compiles the full-pass tail of each group of positions (once per model object), is timed and
printed apart, before the rounds. With --captum-batches K,
each Captum run is stopped after its first K forward batches and its time scaled to all of them
(its batches all cost the same), so the 224 x 224 cases take minutes, not an hour; the rows say
so. On a GPU (where present) the same runs are timed by the wall clock after a synchronise.

Each case also prints the ideal bound: the conv multiply-adds of a full pass over those an ideal
incremental method computes (each position exactly its own changed spans), and the share the
engine's plan computes. Results: docs/occlusion_engine.md.

Last measured 2026-12-07 (evening) after Winograd convs, AMD EPYC (2 logical CPUs at load
average 0.4-3.9), 1 thread, Captum at 224 timed on 6 batches and scaled: nnscope / Captum's best
setting, median (min) over 5 rounds: ResNet-18 64 x 64 patch 8/2 2.14x (1.68x; multiplies' bound
1.87x); 224 patch 32/16 3.14x (2.70x; 3.57x); 224 patch 16/8 3.47x (2.86x; 3.95x); VGG-16 224
patch 16/4, 3 rounds: 12.58x (10.87x; 17.42x).
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.fx.experimental.optimization import fuse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnn_models import ResNet18, vgg  # noqa: E402

from nnscope import Occlusion  # noqa: E402
from nnscope.vision.occlusion.traced import _stored_pass, _trace, patch_starts, plan_groups  # noqa: E402
from nnscope.vision.occlusion import winograd  # noqa: E402
from nnscope.vision.occlusion.traced_cost import ideal_macs, plan_macs  # noqa: E402
from nnscope.vision.occlusion.traced_regions import track_windows  # noqa: E402

CASES = {  # name: (model, side, patch, stride)
    "resnet18-64": (lambda: ResNet18(), 64, 8, 2),
    "resnet18-224-p16s8": (lambda: ResNet18(), 224, 16, 8),
    "resnet18-224-p32s16": (lambda: ResNet18(), 224, 32, 16),
    "vgg16-224-p16s4": (lambda: vgg(16), 224, 16, 4),  # Krypton's setting (SIGMOD 2019)
}


class _Stop(Exception):
    """Raised by the counting forward once Captum has run the batches to be timed."""


def cpu_model() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return "unknown CPU"
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return f"{names[0]} ({len(names)} logical CPUs)" if names else "unknown CPU"


def load() -> str:
    return "load average " + " ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "load unknown"


class Clock:
    """CPU time of this process on the CPU; wall time after a synchronise on CUDA."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __call__(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
            return time.perf_counter()
        return time.process_time()


def bound(model, x: torch.Tensor, patch: int, stride: int) -> tuple[float, float, float, int]:
    """(ideal share, engine's share) of a full pass's conv MACs per position, the engine's multiplies
    (Winograd convs counted as they run) as a share of those MACs, and the engine's position groups."""
    traced, _ = _trace(model)
    with torch.no_grad():
        stored = _stored_pass(traced, x[:1])
    starts = patch_starts(x.shape[-1], patch, stride)
    grid = np.array([(r, c) for r in starts for c in starts])
    plans = plan_groups(traced, stored, len(starts), len(starts), grid, (patch, patch))
    done, total, multiplies = (sum(v) for v in zip(*(plan_macs(traced, stored, plan) for _, plan in plans)))
    tracked = track_windows(traced, stored, grid[:, 0], grid[:, 1], (patch, patch))
    return ideal_macs(traced, stored, tracked) / total, done / total, multiplies / total, len(plans)


def print_bounds(ideal: float, share: float, multiplies: float) -> None:
    print(f"ideal bound {1 / ideal:.2f}x (an ideal incremental method computes {100 * ideal:.1f}% of the conv MACs); "
          f"the engine's plan computes {100 * share:.1f}% (bound {1 / share:.2f}x); with its 3 x 3 convs of "
          f"{winograd.CHANNELS}+ channels as Winograd F(2x2, 3x3) it multiplies {100 * multiplies:.1f}% as often "
          f"(bound {1 / multiplies:.2f}x)")


def captum_run(forward, x, kwargs, per_eval: int, batches: int, clock: Clock) -> tuple[float, torch.Tensor | None]:
    """(seconds, attribution) of Captum's Occlusion; with batches > 0, the time of its first
    `batches` forward batches scaled to all of them (attribution None)."""
    from captum.attr import Occlusion as CaptumOcclusion

    positions = len(patch_starts(x.shape[-1], kwargs["sliding_window_shapes"][1], kwargs["strides"][1])) ** 2
    total = math.ceil(positions / per_eval)
    if batches <= 0 or batches >= total:
        start = clock()
        out = CaptumOcclusion(forward).attribute(x, **kwargs, perturbations_per_eval=per_eval)
        return clock() - start, out
    calls = [0]

    def counting(inputs):
        calls[0] += 1
        if calls[0] > batches + 1:  # the unoccluded pass, then `batches` batches of perturbations
            raise _Stop
        return forward(inputs)

    start = clock()
    with torch.no_grad():
        forward(x)
    first = clock() - start
    start = clock()
    try:
        CaptumOcclusion(counting).attribute(x, **kwargs, perturbations_per_eval=per_eval)
    except _Stop:
        pass
    timed = clock() - start
    return first + (timed - first) / batches * total, None


def measure(name: str, args, device: torch.device) -> None:
    build, side, patch, stride = CASES[name]
    torch.manual_seed(0)
    model = build().eval().to(device)
    x = torch.rand(1, 3, side, side, device=device)
    with torch.no_grad():
        target = int(model(x).argmax(1))
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(fuse(model))))
    kwargs = dict(sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride), baselines=0.0, target=target)
    ideal, share, multiplies, groups = bound(model, x, patch, stride)
    positions = len(patch_starts(side, patch, stride)) ** 2
    if args.bounds:
        print(f"{name}: 3 x {side} x {side}, patch {patch}, stride {stride}: {positions} positions; {groups} position groups")
        print_bounds(ideal, share, multiplies)
        print()
        return
    clock = Clock(device)
    start = clock()
    Occlusion(model).attribute(x, **kwargs, perturbations_per_eval=64)  # compiles the tails once per model
    first = clock() - start
    methods = {"nnscope.Occlusion (incremental)": lambda: Occlusion(model).attribute(
        x, **kwargs, perturbations_per_eval=64)}
    for per_eval in args.per_eval:
        methods[f"Captum, perturbations_per_eval={per_eval}"] = (model, per_eval)
    folded = args.folded_per_eval if args.folded_per_eval else (8 if side >= 224 else 32)
    methods[f"Captum on the folded frozen model, perturbations_per_eval={folded}"] = (frozen, folded)
    extrapolated = args.captum_batches if side >= 224 else 0
    times = {m: [] for m in methods}
    ours, error = None, 0.0
    for _ in range(args.rounds):
        for method, run in methods.items():
            if callable(run):
                start = clock()
                ours = run()
                times[method].append(clock() - start)
                continue
            seconds, theirs = captum_run(run[0], x, kwargs, run[1], extrapolated, clock)
            times[method].append(seconds)
            if theirs is not None:
                error = max(error, (theirs - ours).abs().max().item())
    nn_times = times["nnscope.Occlusion (incremental)"]
    print(f"{name}: 3 x {side} x {side}, patch {patch}, stride {stride}: {positions} positions; "
          f"{args.rounds} rounds; {groups} position groups; nnscope's first call (compiling each group's "
          f"full-pass tail once per model; the trace is made above): {first:.2f} s, not in the rounds")
    print_bounds(ideal, share, multiplies)
    width = max(len(m) for m in methods)
    print(f"{'method':<{width}}  s/image min  median  nnscope x faster: min  median")
    for method, seconds in times.items():
        ratios = [s / n for s, n in zip(seconds, nn_times)]
        print(f"{method:<{width}}  {min(seconds):11.2f}  {statistics.median(seconds):6.2f}  "
              f"{min(ratios):20.2f}  {statistics.median(ratios):6.2f}")
    captum = [m for m in methods if m.startswith("Captum, ")]
    best = [min(times[m][r] for m in captum) / nn_times[r] for r in range(args.rounds)]
    note = f"Captum timed on its first {extrapolated} batches, scaled" if extrapolated else f"max |nnscope - Captum| = {error:.1e}"
    print(f"nnscope / Captum's best setting per round: min {min(best):.2f}x, median {statistics.median(best):.2f}x; {note}\n")
    if not extrapolated:
        assert error < 1e-4, "attributions disagree"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--per-eval", type=int, nargs="+", default=[4, 8, 16, 32, 64],
                        help="Captum perturbations_per_eval values to try")
    parser.add_argument("--folded-per-eval", type=int, default=0,
                        help="perturbations_per_eval of Captum on the folded model (0: 8 at 224, 32 below)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (each runs every method once)")
    parser.add_argument("--captum-batches", type=int, default=6,
                        help="at 224 x 224, time this many of Captum's forward batches and scale (0: full runs)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--bounds", action="store_true",
                        help="print each case's bounds (counted, not timed) and time nothing")
    parser.add_argument("--quick", action="store_true",
                        help="a short run: ResNet-18 at 64 and at 224 (patch 32), 2 rounds, per_eval 8 and 32")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.rounds, args.per_eval = ["resnet18-64", "resnet18-224-p32s16"], 2, [8, 32]
    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"{cpu_model()}, {args.threads} torch thread(s)"
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {where}; torch {torch.__version__}; "
          f"{'wall time' if device.type == 'cuda' else 'CPU time'}; {load()}\n")
    for name in args.cases:
        measure(name, args, device)
    print(f"end: {load()}")


if __name__ == "__main__":
    main()
