"""Helpers shared by the search algorithms (private)."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch

from .batching import Batcher
from .noise import derive_seed
from .protocol import Denoiser

#: path element that separates a row's solver-noise stream from the draw it was made with
SOLVER_STREAM = 0x50_1E_E5


def solver_seed(draw_seed: int) -> int:
    """The row seed (ancestral / SDE step noise) of a candidate made with the re-noise or
    neighbour draw ``draw_seed``: an independent stream. Seeding the solver with the draw seed
    itself would make its first step-noise draw equal the draw (one generator, one seed)."""
    return derive_seed(int(draw_seed), SOLVER_STREAM)


def last_index(den: Denoiser) -> int:
    return len(den.sigmas) - 1


def trajectory_nfe(den: Denoiser) -> int:
    """NFE of one full trajectory (noise to finished sample) for one latent."""
    return int(den.cost(0, last_index(den)))


def check_budget(den: Denoiser, budget: Optional[int], who: str) -> None:
    if budget is None:
        return
    one = trajectory_nfe(den)
    if int(budget) < one:
        raise ValueError(f"{who}: budget_nfe = {budget} NFE is smaller than one trajectory ({one} NFE); "
                         f"set budget_nfe to at least {one}, or to 0 for no cap")


def sample_full(den: Denoiser, batcher: Batcher, noise: torch.Tensor,
                seeds: Sequence[int]) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Denoise unit ``noise`` rows all the way; returns (final states, mid-x0 or None)."""
    last = last_index(den)
    seeds = [int(s) for s in seeds]
    if den.mid_index is not None:
        mi = den.mid_index
        x, mid = batcher(lambda z, seeds: den.sample(z, last, seeds, x0_at=mi), noise, seeds=seeds)
        return x, mid
    return batcher(lambda z, seeds: den.sample(z, last, seeds), noise, seeds=seeds), None

