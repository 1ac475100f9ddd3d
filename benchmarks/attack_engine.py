"""The transplant attack's search through the occlusion engine against plain full passes: CPU seconds of
`nnscope.vision.attack.search` on a small ResNet-like model (tests/user_nets.py ResidualNet, seeded random
weights, 3 x 32 x 32, RGB: pastes at every position of the grid), one image (its class: the model's
prediction), --donors per other class of five classes, the attack's default sizes 4, 6, 8 and 10, stride 1,
with model_occlusion's engine forced to "traced" and to "plain".

CPU time of this process at one torch thread, the two engines interleaved in rounds, so that other work on
a shared machine slows both alike; prints every round, the minimum and the median of the per-round ratios,
and whether the two engines found the same hits (they must: both are exact).

    PYTHONPATH=src .venv/bin/python benchmarks/attack_engine.py [--rounds 3] [--donors 2]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import trained_like  # noqa: E402  (tests/helpers.py: seeded weights, real batch-norm statistics)
from nnscope.models.formats import Network  # noqa: E402
from nnscope.models.loaded import loaded_from_network  # noqa: E402
from nnscope.vision import attack  # noqa: E402
from nnscope.vision.occlusion import maps  # noqa: E402

SHAPE, SIZES, CLASSES = (3, 32, 32), (4, 6, 8, 10), 5


def timed_search(model, image, label, donors, engine: str) -> tuple[float, list]:
    """CPU seconds of one search with the engine forced, and its hits."""
    chosen = maps.model_occlusion

    def forced(*args, **kwargs):
        return chosen(*args, **{**kwargs, "engine": engine})

    attack.model_occlusion = forced
    try:
        start = time.process_time()
        hits = attack.search(model, image[None], label, donors, SIZES)
        return time.process_time() - start, hits
    finally:
        attack.model_occlusion = chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--donors", type=int, default=2, help="donors per other class (4 other classes)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = loaded_from_network(Network(trained_like("ResidualNet"), "python", "ResidualNet", SHAPE))
    rng = np.random.default_rng(0)
    image = rng.random(SHAPE, dtype=np.float32)
    donors = rng.random(((CLASSES - 1) * args.donors, *SHAPE), dtype=np.float32)
    label = int(attack.predict_probabilities(model, image[None])[0].argmax())
    positions = sum(len(maps.patch_starts(s, 1, SHAPE[1])) * len(maps.patch_starts(s, 1, SHAPE[2])) for s in SIZES)
    print(f"ResidualNet {SHAPE}, {len(donors)} donors x {positions} positions = {len(donors) * positions} pastes, "
          f"1 thread, load {open('/proc/loadavg').read().split()[0]}")
    ratios = []
    for k in range(args.rounds):
        traced, traced_hits = timed_search(model, image, label, donors, "traced")
        plain, plain_hits = timed_search(model, image, label, donors, "plain")
        ratios.append(plain / traced)
        print(f"round {k + 1}: traced engine {traced:.2f} s, plain passes {plain:.2f} s, speed-up {plain / traced:.2f}x, "
              f"same hits: {traced_hits == plain_hits} ({len(traced_hits)})")
    print(f"speed-up over plain passes: min {min(ratios):.2f}x, median {statistics.median(ratios):.2f}x")


if __name__ == "__main__":
    main()
