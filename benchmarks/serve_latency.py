"""Latency of POST /api/analyze of `nnscope serve` (a 28 x 28 test image, 8 x 8 patch, stride 1: 441
positions, plus the feature maps and 13 shifts), against a real uvicorn server on 127.0.0.1: median
and p95 for one client and for 8 concurrent clients, beside the time of the plain forward passes one
analyze needs (1 + 441 occluded + 13 shifted images, batched) and of the server's own compute.

Measured on 2 shared CPU cores (AMD EPYC, load average 8.5 from other jobs), 2 torch threads, the
'fast' recipe's model, 2026-12-02 (docs/serve.md): 1 client median 136.9 ms, p95 171.1 ms (server
compute 94.5 ms); 8 concurrent clients median 957.6 ms, p95 1205.6 ms, 80 requests, none failed;
the plain forward passes one analyze needs, 393.9 ms.
"""

import argparse
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import torch

from nnscope.data import load_mnist
from nnscope.model import CNN, DEFAULT_CHECKPOINT, load_model
from nnscope.serve import Server, bind, create_app
from nnscope.serve.analysis import SHIFTS
from nnscope.vision.occlusion import patch_starts

PATCH, STRIDE, FILL = 8, 1, 0.0


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, linear between ranks."""
    return float(np.percentile(values, q))


def plain_forward_seconds(model, image: np.ndarray, repeats: int) -> float:
    """Median time of the plain forward passes one analyze needs, as one batch."""
    starts = patch_starts(PATCH, STRIDE)
    batch = [image] * (1 + len(SHIFTS))  # the image and its shifts cost the same as any other images
    for row in starts:
        for col in starts:
            copy = image.copy()
            copy[row : row + PATCH, col : col + PATCH] = FILL
            batch.append(copy)
    x = torch.as_tensor(np.stack(batch)[:, None])  # (1 + 13 + 441, 1, 28, 28)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            torch.softmax(model(x), 1)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def client_latencies(url: str, payloads: list[dict], requests: int) -> tuple[list[float], list[float]]:
    """(round-trip seconds, server compute seconds) of `requests` analyzes from one client."""
    trips, computes = [], []
    with httpx.Client(base_url=url, timeout=120) as client:
        for k in range(requests):
            start = time.perf_counter()
            response = client.post("/api/analyze", json=payloads[k % len(payloads)])
            trips.append(time.perf_counter() - start)
            response.raise_for_status()
            computes.append(response.json()["seconds"])
    return trips, computes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT,
                        help="trained model (random weights of the default shape if missing)")
    parser.add_argument("--requests", type=int, default=40, help="analyzes per client")
    args = parser.parse_args()
    model = load_model(args.checkpoint) if args.checkpoint.exists() else CNN().eval()
    digits = load_mnist()
    images = [(digits.test_images[k] / 255.0).astype(np.float32) for k in range(8)]
    payloads = [{"image": image.tolist(), "patch": PATCH, "stride": STRIDE, "fill": FILL} for image in images]
    server = Server(create_app(model, digits.test_images, digits.test_labels), bind("127.0.0.1", 0)).start()
    try:
        client_latencies(server.url, payloads, 5)  # warm-up
        one, compute = client_latencies(server.url, payloads, args.requests)
        with ThreadPoolExecutor(8) as pool:
            start = time.perf_counter()
            results = list(pool.map(lambda _: client_latencies(server.url, payloads, args.requests // 4), range(8)))
            wall = time.perf_counter() - start
    finally:
        server.stop()
    eight = [t for trips, _ in results for t in trips]
    forward = plain_forward_seconds(model, images[0], 10)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, model {args.checkpoint if args.checkpoint.exists() else 'random weights'}")
    print(f"{'':42s} {'median ms':>10s} {'p95 ms':>10s}")
    print(f"{'analyze, 1 client (round trip)':42s} {1000 * statistics.median(one):10.1f} {1000 * percentile(one, 95):10.1f}")
    print(f"{'analyze, 1 client (server compute)':42s} {1000 * statistics.median(compute):10.1f} {1000 * percentile(compute, 95):10.1f}")
    print(f"{'analyze, 8 concurrent clients (round trip)':42s} {1000 * statistics.median(eight):10.1f} {1000 * percentile(eight, 95):10.1f}")
    print(f"{'plain forward passes it needs (456, 1 batch)':42s} {1000 * forward:10.1f}")
    print(f"8 clients: {len(eight)} requests, none failed, {len(eight) / wall:.1f} analyzes/s; "
          f"1 client: {1 / statistics.median(one):.1f} analyzes/s")


if __name__ == "__main__":
    main()
