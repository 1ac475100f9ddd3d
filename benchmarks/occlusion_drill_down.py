"""Drill-down occlusion against the full exact map, on a model whose maps are peaked.

Random weights give flat softmax maps, on which any interpolation looks good, so the model is
trained first: ResNet-18 (torchvision's layout, 4 classes) at 3 x 64 x 64, a few hundred seeded
Adam steps (lr 1e-3) on synthetic images (uniform noise with a 12 x 12 square of one of four colours at a
random place; the label is the colour), until it finds the square. Then, per image, the exact map
(every position through the engine) and drill-down maps at several shares R, each timed as CPU
time at one thread, and compared on the target's probability map: SSIM (7 x 7 uniform windows,
data range 1, as scikit-image's default) and the largest absolute error.

Last measured 2026-12-07 (AMD EPYC at load 22-29, one thread; docs/occlusion_engine.md): accuracy
81.5%; exact map 4.12 s per image; R = 0.1: 41% of positions exact, 2.09x, SSIM >= 0.915, largest
error 0.267; R = 0.5: 77%, 1.11x, SSIM >= 0.978.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cnn_models import ResNet18  # noqa: E402

from nnscope.vision.occlusion.drill_down import drill_down_occlusion  # noqa: E402
from nnscope.vision.occlusion.traced import traced_occlusion  # noqa: E402

COLOURS = torch.tensor([[1.0, 0.1, 0.1], [0.1, 1.0, 0.1], [0.1, 0.1, 1.0], [1.0, 1.0, 0.1]])


def synthetic(count: int, generator: torch.Generator, side: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise images with one coloured 12 x 12 square each, and the square's colour as the label."""
    images = torch.rand(count, 3, side, side, generator=generator) * 0.6
    labels = torch.randint(0, 4, (count,), generator=generator)
    corners = torch.randint(0, side - 12, (count, 2), generator=generator)
    for i in range(count):
        r, c = corners[i].tolist()
        images[i, :, r:r + 12, c:c + 12] = COLOURS[labels[i]][:, None, None]
    return images, labels


def ssim(a: np.ndarray, b: np.ndarray, window: int = 7) -> float:
    """Mean structural similarity of two maps in [0, 1] (uniform windows, scikit-image's constants)."""
    x, y = (torch.as_tensor(v, dtype=torch.float64)[None, None] for v in (a, b))

    def mean(v):
        return F.avg_pool2d(v, window, 1)

    mx, my = mean(x), mean(y)
    n = window * window
    vx, vy = (mean(x * x) - mx ** 2) * n / (n - 1), (mean(y * y) - my ** 2) * n / (n - 1)
    cov = (mean(x * y) - mx * my) * n / (n - 1)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    s = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))
    return float(s.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="Adam steps")
    parser.add_argument("--batch", type=int, default=16, help="synthetic images per step")
    parser.add_argument("--images", type=int, default=3, help="images mapped")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.1, 0.25, 0.5])
    parser.add_argument("--patch", type=int, default=8)
    parser.add_argument("--stride", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = ResNet18(classes=4)
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    model.train()
    for step in range(args.steps):
        x, y = synthetic(args.batch, generator)
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    test_x, test_y = synthetic(200, generator)
    with torch.no_grad():
        accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
    print(f"ResNet-18, 4 classes, {args.steps} Adam steps of {args.batch} synthetic images (seed 0): "
          f"last loss {loss.item():.3f}, accuracy {accuracy:.1%} on 200 new images")
    patch, stride = (args.patch, args.patch), (args.stride, args.stride)
    rows = {share: [] for share in args.shares}
    exact_times = []
    for i in range(args.images):
        image, label = test_x[i:i + 1], int(test_y[i])
        start = time.process_time()
        exact = traced_occlusion(model, image, patch, stride)
        exact_times.append(time.process_time() - start)
        truth = exact.probabilities()[0, :, :, label].numpy()
        for share in args.shares:
            start = time.process_time()
            drill = drill_down_occlusion(model, image, patch, stride, share, target=label)
            seconds = time.process_time() - start
            filled = drill.probabilities()[0, :, :, label].numpy()
            rows[share].append((seconds, ssim(truth, filled), float(np.abs(truth - filled).max()),
                                float(drill.computed.mean()), float(truth.max() - truth.min())))
    print(f"3 x 64 x 64, patch {args.patch}, stride {args.stride}: {truth.size} positions; {args.images} images; "
          f"exact map {statistics.median(exact_times):.2f} s CPU per image (median)")
    print("share R  computed  CPU s/image  speed-up vs exact  SSIM (min)  largest |error| (max)  map range")
    for share, values in rows.items():
        seconds, similarity, error, computed, spread = zip(*values)
        print(f"{share:7.2f}  {100 * statistics.mean(computed):7.1f}%  {statistics.median(seconds):11.2f}  "
              f"{statistics.median(exact_times) / statistics.median(seconds):17.2f}x  {min(similarity):10.3f}  "
              f"{max(error):21.4f}  {statistics.mean(spread):.3f}")


if __name__ == "__main__":
    main()
