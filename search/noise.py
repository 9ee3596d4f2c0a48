"""Noise: seeded draws that match the host, and forward re-noising per parameterisation."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Optional, Sequence

import torch

MASK64 = (1 << 64) - 1

#: the host's own noise draw while a search runs inside it (see :func:`noise_source`)
_SOURCE: ContextVar[Optional[Callable]] = ContextVar("noise_source", default=None)


@contextmanager
def noise_source(draw: Callable):
    """Within this block, :func:`seeded_noise` returns ``draw(shape, seed)`` (the host's own noise,
    e.g. ComfyUI's ``prepare_noise``) instead of its torch-only draw, so every noise the algorithms
    take is the host's. Algorithms stay host-free; the host glue opens the block around a search."""
    token = _SOURCE.set(draw)
    try:
        yield
    finally:
        _SOURCE.reset(token)


def check_seed(seed: int) -> int:
    """``seed`` as an int, or a ValueError naming it when a sampler could not be seeded with it
    (torch generators take 0 .. 2**64 - 1; a stock KSampler raises past that, so no wrap here)."""
    s = int(seed)
    if not 0 <= s <= MASK64:
        raise ValueError(f"seed: candidate seed {s} is outside 0 .. 2**64-1 (candidate i uses seed + i); "
                         "lower seed so that seed + candidates - 1 stays at most 18446744073709551615")
    return s


def seeded_noise(shape: Sequence[int], seed: int, dtype=torch.float32) -> torch.Tensor:
    """Unit Gaussian noise of ``shape`` (one latent, batch dim included, usually 1) for ``seed``:
    the host's draw inside :func:`noise_source`, else drawn on the CPU from a generator seeded with
    ``seed`` (what ComfyUI's ``prepare_noise`` does for a batch-1 latent without batch_index)."""
    s = check_seed(seed)
    draw = _SOURCE.get()
    if draw is not None:
        return draw(tuple(shape), s).to(dtype)
    g = torch.Generator(device="cpu")
    g.manual_seed(s)
    return torch.randn(tuple(shape), dtype=dtype, generator=g, device="cpu")


def noise_batch(latent_shape: Sequence[int], seeds: Sequence[int], dtype=torch.float32) -> torch.Tensor:
    """One latent of noise per seed, stacked: row r equals ``seeded_noise([1, *latent_shape], seeds[r])``."""
    return torch.cat([seeded_noise([1, *latent_shape], s, dtype) for s in seeds], dim=0)


def _mix64(z: int) -> int:
    """splitmix64's finaliser: a bijection of 64-bit integers that scatters nearby inputs."""
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z ^= z >> 30
    z = (z * 0xBF58476D1CE4E5B9) & MASK64
    z ^= z >> 27
    z = (z * 0x94D049BB133111EB) & MASK64
    z ^= z >> 31
    return z


def derive_seed(seed: int, *path: int) -> int:
    """A child seed for ``path`` (e.g. (iteration, candidate)) below ``seed``: deterministic,
    independent of batch size, and well mixed (splitmix64 steps).

    The seed is mixed before each path element is folded in (and each element is mixed on its
    own), so neighbouring seeds and paths do not alias: ``derive_seed(s, i)`` and
    ``derive_seed(s + 1, i - 1)`` are unrelated (a plain running sum would make them equal, and
    runs with consecutive seeds would then share draws)."""
    z = _mix64(int(seed) & MASK64)
    for p in path:
        z = _mix64(z ^ _mix64((int(p) & MASK64) ^ 0xD1B54A32D192ED03))
    return z & ((1 << 63) - 1)


def renoise(x: torch.Tensor, sigma_a: float, sigma_b: float, eps: torch.Tensor,
            parameterization: str) -> torch.Tensor:
    """Forward-noise model-space states ``x`` at ``sigma_a`` to the noisier ``sigma_b``.

    ve   (EPS / V models, x = x0 + sigma*eps):  x_b = x_a + sqrt(sigma_b^2 - sigma_a^2) * eps
    flow (CONST models, x = (1-sigma)*x0 + sigma*eps):
         x_b = r * x_a + sqrt(sigma_b^2 - r^2 * sigma_a^2) * eps,   r = (1 - sigma_b) / (1 - sigma_a)
    Both leave the marginal of x_b exactly that of the forward process at sigma_b. A flow state
    re-noised to sigma_b = 1 is pure noise: ``eps`` itself (r = 0; nothing of x survives).
    """
    sa, sb = float(sigma_a), float(sigma_b)
    if sb < sa:
        raise ValueError(f"renoise goes to a noisier level: sigma_b={sb} < sigma_a={sa}")
    if parameterization == "ve":
        return x + (sb * sb - sa * sa) ** 0.5 * eps
    if parameterization == "flow":
        if sa >= 1.0:
            raise ValueError(f"flow states at sigma_a={sa} >= 1 carry no signal to re-noise")
        if sb >= 1.0:  # exactly eps, even where x is not finite (0 * inf would be NaN)
            return eps.to(x.dtype).clone()
        r = (1.0 - sb) / (1.0 - sa)
        return r * x + max(sb * sb - (r * sa) ** 2, 0.0) ** 0.5 * eps
    raise ValueError(f"unknown parameterization {parameterization!r} (expected 've' or 'flow')")
