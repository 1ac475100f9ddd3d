"""Echo-state features (final and mean reservoir state) for 1,000 protein-like sequences of 5,000 steps:
one batched pass over all sequences (nnscope.recurrent.esn.reservoir_features) against a naive loop that
runs the reservoir one sequence at a time, one matrix-vector product per step.

The naive loop is timed on --naive-count sequences and scaled to --count (its time is linear in the
number of sequences); its final states are checked equal to the batched ones.
Measured (2 CPU cores shared with other jobs, torch 2.13 CPU, 100 units, 1 torch thread): batched 3.6 s
(target <= 30 s), naive loop 39.3 s (timed on 20 sequences), ratio 10.9x; with 2 torch threads the batched
pass took 70 s on the same loaded cores, so one thread is the default.
"""

import argparse
import json
import sys
import time

import numpy as np
import torch

from nnscope.recurrent.esn import EchoStateConfig, make_reservoir, reservoir_features
from nnscope.recurrent.sequences import generate_motif_sequences


def naive_features(reservoir: dict, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """The baseline: for each sequence, for each step, h = tanh(b + W h + U x) with x one-hot, float32."""
    W, U, b = (reservoir[k].float().numpy() for k in ("W", "U", "b"))
    eye = np.eye(U.shape[1], dtype=np.float32)
    final, mean = [], []
    for row in tokens:
        h, total = np.zeros(W.shape[0], dtype=np.float32), np.zeros(W.shape[0], dtype=np.float32)
        for token in row:
            h = np.tanh(b + W @ h + U @ eye[token])
            total += h
        final.append(h)
        mean.append(total / len(row))
    return {"final": np.array(final), "mean": np.array(mean)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="sequences")
    parser.add_argument("--length", type=int, default=5000, help="steps per sequence")
    parser.add_argument("--size", type=int, default=100, help="reservoir units")
    parser.add_argument("--naive-count", type=int, default=10, help="sequences the naive loop is timed on")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the batched pass (1: on 2 shared cores, 2 threads measured slower)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sequences = generate_motif_sequences(args.count, args.length, 100, seed=0)
    reservoir = make_reservoir(EchoStateConfig(size=args.size, input_scaling=0.1, seed=0))

    start = time.perf_counter()
    batched = reservoir_features(reservoir, sequences)  # float32, all sequences in one pass
    batched_s = time.perf_counter() - start

    start = time.perf_counter()
    naive = naive_features(reservoir, sequences.tokens[:args.naive_count])
    naive_s = (time.perf_counter() - start) * args.count / args.naive_count
    error = float(np.abs(naive["final"] - batched["final"][:args.naive_count]).max())
    assert error < 1e-3, f"batched and naive final states differ by {error}"

    result = {"sequences": args.count, "steps": args.length, "reservoir": args.size, "threads": args.threads,
              "batched_seconds": batched_s, "naive_seconds": naive_s, "naive_timed_on": args.naive_count,
              "speedup": naive_s / batched_s, "max_abs_difference": error, "target_seconds": 30.0}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"echo-state features, {args.count} sequences x {args.length} steps, {args.size} units, "
              f"{args.threads} thread(s)")
        print(f"  batched pass      {batched_s:8.1f} s   (target <= 30 s)")
        print(f"  naive loop        {naive_s:8.1f} s   (timed on {args.naive_count} sequences, scaled)")
        print(f"  ratio             {naive_s / batched_s:8.1f} x faster; final states agree to {error:.1e}")
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
