"""The small protocol between search algorithms and a diffusion model.

Search algorithms in this package never import ComfyUI. They drive a ``Denoiser``: an object
that owns one noise schedule (``sigmas``, descending, ending at 0) and knows how to move a batch
of latents along it. Two implementations exist: the ComfyUI backend in ``nodes/`` and the
analytic Gaussian-mixture diffusion in ``tests/analytic.py``.

State space
    A *state* at schedule index ``i`` is a latent tensor ``x`` in the backend's own storage
    convention at noise level ``sigmas[i]``. The state at the last index (sigma = 0) is the
    final sample. Algorithms never do arithmetic on states themselves: they re-noise through
    :meth:`Denoiser.renoise` (which applies :mod:`search.noise` in model space) so the backend
    may store latents however it likes (ComfyUI keeps flow latents divided by ``1 - sigma``).

Seeds
    Every row of a batch carries an integer ``seed``. Stochastic solvers (ancestral, SDE) must
    draw their per-step noise for row ``r`` from generators seeded with ``seeds[r]`` only, so a
    row's result never depends on which other rows share its batch.

NFE
    ``nfe`` counts denoiser evaluations per latent, summed over latents (a batch of 4 through one
    Euler step is 4 NFE). A classifier-free-guidance evaluation counts once, as the host counts
    sampler steps. ``verifier_calls`` counts images scored.
"""
from __future__ import annotations

from typing import Literal, Optional, Protocol, Sequence, runtime_checkable

import torch

Parameterization = Literal["ve", "flow"]


@runtime_checkable
class Denoiser(Protocol):
    #: the full noise schedule, 1-D, descending, ``sigmas[-1] == 0``
    sigmas: torch.Tensor
    #: "ve": x_sigma = x0 + sigma * eps (EPS / V-prediction models);
    #: "flow": x_sigma = (1 - sigma) * x0 + sigma * eps (rectified flow, CONST models)
    parameterization: Parameterization
    #: shape of one latent, without the batch dimension
    latent_shape: Sequence[int]
    #: running counters (see module docstring)
    nfe: int
    verifier_calls: int
    #: NFEs the solver spends between two schedule indices for one latent (e.g. 2 per step
    #: for Heun); lets algorithms plan a budget before spending it
    def cost(self, start: int, end: int) -> int: ...

    def sample(self, noise: torch.Tensor, end: int, seeds: Sequence[int],
               x0_at: Optional[int] = None):
        """Start from unit Gaussian ``noise`` at the top of the schedule (index 0) and denoise
        to index ``end``, exactly as the host's own sampler does for that noise and seed.
        Returns the states at ``end``; with ``x0_at`` (an index in [0, end)) returns
        ``(states, x0)`` where ``x0`` is the solver's own x0 prediction at that index (free:
        captured from the step, not an extra model call)."""

    def denoise(self, x: torch.Tensor, start: int, end: int, seeds: Sequence[int],
                x0_at: Optional[int] = None):
        """Continue states ``x`` at index ``start`` down to index ``end`` (end > start);
        ``x0_at`` (in [start, end)) as for :meth:`sample`."""

    def predict_x0(self, x: torch.Tensor, index: int) -> torch.Tensor:
        """The model's clean-sample prediction for states at ``index`` (one NFE per latent),
        returned in the state convention of the final index."""

    def renoise(self, x: torch.Tensor, start: int, end: int, eps: torch.Tensor) -> torch.Tensor:
        """Forward-noise states at index ``start`` to the noisier index ``end`` (end < start)
        with standard Gaussian ``eps``, by the model's parameterisation (no NFE)."""

    def score(self, x0: torch.Tensor, mid_x0: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Verifier scores (higher is better), one per row of clean samples ``x0``: a [B] tensor,
        or [B, K] for a rank ensemble of K members (raw member scores, compared only through
        :meth:`rank`). ``mid_x0`` is the model's x0 prediction part-way down the trajectory, for
        verifiers that compare it with the final sample (see ``needs_mid_x0``). Non-finite scores
        rank lowest (``search.decide``)."""

    # Optional: ``rank(scores)`` takes the [N, K] member scores of one decision set (the
    # candidates one decision is between) and returns [N] values, higher is better, comparable
    # within that set only (a rank ensemble's mean of average ranks). Needed when ``score``
    # returns vectors.
    # Optional: ``release(x0)``: rows scored and never asked for again (a search's intermediate
    # x0 predictions, candidates it dropped); the backend may free what it cached for them.

    #: index whose x0 prediction ``score`` wants as ``mid_x0``; None when it wants none
    mid_index: Optional[int]
