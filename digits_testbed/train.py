"""Deterministic training with a cache keyed by a hash of this room's code and the settings.

Every model trains on one CPU thread with ``torch.use_deterministic_algorithms(True)`` and its own
seeded generator (batches, sigmas, noise), so the same settings give the same weights bit for bit.
Weights are cached as ``<cache>/<kind>-<hash>.pt`` (``state_dict`` only, read back with
``weights_only=True``); the cache folder is ``$DIGITS_TESTBED_CACHE``, else
``$NOISE_SEARCH_HOST/cache/digits_testbed``, else ``<repo>/.cache/digits_testbed`` (git-ignored).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from . import data, nets

ROOM = Path(__file__).resolve().parent
#: wall seconds of the last trainings this process ran (not cached loads), by cache file name
TIMES: Dict[str, float] = {}


@dataclass(frozen=True)
class DenoiserSpec:
    width: int = 256
    depth: int = 3
    steps: int = 4000
    batch: int = 128
    lr: float = 2e-3
    ema: float = 0.999
    p_mean: float = -1.2           # ln sigma ~ N(p_mean, p_std^2) (EDM)
    p_std: float = 1.2
    snapshots: Tuple[int, ...] = ()  # extra steps at which to keep the EMA weights
    seed: int = 0


@dataclass(frozen=True)
class ClassifierSpec:
    half: str = "A"
    width: int = 256
    features: int = 64
    steps: int = 600
    lr: float = 2e-3
    weight_decay: float = 1e-3
    noise: float = 0.3             # augmentation: x + U(0, noise) * eps, so generated digits are in-distribution
    seed: int = 1


def cache_dir() -> Path:
    if os.environ.get("DIGITS_TESTBED_CACHE"):
        p = Path(os.environ["DIGITS_TESTBED_CACHE"])
    elif os.environ.get("NOISE_SEARCH_HOST"):
        p = Path(os.environ["NOISE_SEARCH_HOST"]) / "cache" / "digits_testbed"
    else:
        p = ROOM.parent / ".cache" / "digits_testbed"
    p.mkdir(parents=True, exist_ok=True)
    return p


def key(spec) -> str:
    h = hashlib.sha256()
    for f in ("data.py", "nets.py", "train.py"):
        h.update((ROOM / f).read_bytes())
    h.update(json.dumps({type(spec).__name__: asdict(spec)}, sort_keys=True).encode())
    return h.hexdigest()[:16]


def deterministic():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def sigma_data() -> float:
    x, _ = data.half("A")
    return float(x.std())


def train_denoiser_weights(s: DenoiserSpec) -> Dict[str, Dict[str, torch.Tensor]]:
    """Returns {"final": state_dict, "step<k>": state_dict for k in snapshots} (EMA weights)."""
    deterministic()
    torch.manual_seed(s.seed)  # parameter init
    x, y = data.half("A")
    net = nets.EDMDenoiser(s.width, s.depth, sigma_data())
    ema = copy.deepcopy(net).requires_grad_(False)
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    g = torch.Generator().manual_seed(s.seed)
    out = {}
    for step in range(1, s.steps + 1):
        for group in opt.param_groups:  # short warm-up, then cosine decay
            group["lr"] = s.lr * min(1.0, step / 200) * 0.5 * (1 + math.cos(math.pi * step / s.steps))
        i = torch.randint(len(y), (s.batch,), generator=g)
        x0, c = x[i], y[i]
        sigma = (torch.randn(s.batch, generator=g) * s.p_std + s.p_mean).exp()
        n = torch.randn(x0.shape, generator=g) * sigma[:, None]
        loss = (net.loss_weight(sigma)[:, None] * (net(x0 + n, sigma, c) - x0) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            d = min(s.ema, (1 + step) / (10 + step))
            for pe, p in zip(ema.parameters(), net.parameters()):
                pe.lerp_(p, 1 - d)
        if step in s.snapshots:
            out[f"step{step}"] = copy.deepcopy(ema.state_dict())
    out["final"] = ema.state_dict()
    return out


def train_classifier_weights(s: ClassifierSpec) -> Dict[str, Dict[str, torch.Tensor]]:
    deterministic()
    torch.manual_seed(s.seed)
    x, y = data.half(s.half)
    net = nets.Classifier(s.width, s.features)
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    g = torch.Generator().manual_seed(s.seed)
    for step in range(1, s.steps + 1):
        for group in opt.param_groups:
            group["lr"] = s.lr * 0.5 * (1 + math.cos(math.pi * step / s.steps))
        amp = torch.rand(len(y), 1, generator=g) * s.noise
        loss = F.cross_entropy(net(x + amp * torch.randn(x.shape, generator=g)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {"final": net.state_dict()}


def cached(spec, retrain: bool = False) -> Dict[str, Dict[str, torch.Tensor]]:
    """The weights for ``spec``, trained once and then read from the cache."""
    kind = "denoiser" if isinstance(spec, DenoiserSpec) else "classifier"
    path = cache_dir() / f"{kind}-{key(spec)}.pt"
    if path.exists() and not retrain:
        return torch.load(path, weights_only=True)
    t0 = time.perf_counter()
    w = train_denoiser_weights(spec) if kind == "denoiser" else train_classifier_weights(spec)
    TIMES[path.name] = time.perf_counter() - t0
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save(w, tmp)
    os.replace(tmp, path)
    return w


def denoiser_net(spec: DenoiserSpec, snapshot: str = "final") -> nets.EDMDenoiser:
    net = nets.EDMDenoiser(spec.width, spec.depth, sigma_data())
    net.load_state_dict(cached(spec)[snapshot])
    return net.eval().requires_grad_(False)


def classifier_net(spec: ClassifierSpec) -> nets.Classifier:
    net = nets.Classifier(spec.width, spec.features)
    net.load_state_dict(cached(spec)["final"])
    return net.eval().requires_grad_(False)
