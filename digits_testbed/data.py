"""scikit-learn's digits (1,797 images of 8x8, ten classes; shipped with the package, no download),
scaled to [-1, 1] and split in two halves by a fixed seed:

    half "A": trains the denoisers and the *search* classifier (the supervised verifier);
    half "B": held out; trains the *evaluation* classifier (FID features, IS) and is the reference
              set of the diversity metrics.
"""
from __future__ import annotations

from typing import Tuple

import torch

SPLIT_SEED = 0
SIDE = 8
DIM = SIDE * SIDE
CLASSES = 10


def load() -> Tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32) / 8.0 - 1.0      # 0..16 -> -1..1
    return x, torch.tensor(d.target, dtype=torch.long)


def half(name: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """(images [N, 64], labels [N]) of half "A" or "B"."""
    if name not in ("A", "B"):
        raise ValueError(f"half must be 'A' or 'B', got {name!r}")
    x, y = load()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    cut = len(y) // 2
    idx = order[:cut] if name == "A" else order[cut:]
    return x[idx], y[idx]
