"""python -m digits_testbed [--reduced] [--retrain]: train (or load) every model, print the training
times and the plain-sampling metrics of each denoiser (100 samples a class, 8 Heun steps)."""
import argparse
import json
import time

import torch

from . import bed as bedmod, train
from .data import CLASSES
from search.noise import noise_batch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reduced", action="store_true")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--steps", type=int, default=8)
    a = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    b = bedmod.Bed.load(reduced=a.reduced)
    print(f"load/train: {time.perf_counter() - t0:.1f} s; trained now: "
          + json.dumps({k: round(v, 1) for k, v in train.TIMES.items()}))
    y = torch.arange(CLASSES).repeat_interleave(a.per_class)
    seeds = list(range(len(y)))
    for name in b.nets:
        den = b.denoiser(name, y, steps=a.steps)
        t1 = time.perf_counter()
        x = den.sample(noise_batch(den.latent_shape, seeds), den.last, seeds)
        m = b.metrics(x, y)
        print(f"{name:20s} flops/nfe={b.flops_per_nfe(name):>8d} sample {time.perf_counter() - t1:.2f} s "
              + " ".join(f"{k}={v:.3f}" for k, v in m.items() if k != "n"))
    print("half B itself:", {k: round(v, 3) for k, v in b.metrics(b.metrics.real, b.metrics.real_y).items()})


if __name__ == "__main__":
    main()
