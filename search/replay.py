"""Rebuild a search's winner from its report alone, for every strategy, without a verifier.

What each strategy's report holds to do it:
    random       ``best.seed``: the winner is the stock noise of that seed, sampled alone.
    zero_order   ``recipe.winner``: its pivot seed, the chain of neighbour draw seeds and its row
                 seed; with ``recipe.lam`` the noise is :func:`zero_order.reconstruct_noise`.
    paths        ``recipe`` (hops, start index, the winner's root and draw seeds): :func:`paths.replay`.
    particles    ``recipe`` (segments, the winner's root, row and re-noise seeds): :func:`particles.replay`.

The denoiser must run the same model, conditioning, sampler and schedule as the search (the
caller checks what the report's settings name); the result is then the search's best latent
bit for bit wherever the search itself is batch-independent (CPU, or GPU with ``rerender_winner``
for random search).
"""
from __future__ import annotations

from typing import Any, Dict

import torch

from . import particles, paths
from ._common import last_index
from .noise import noise_batch
from .protocol import Denoiser
from .zero_order import reconstruct_noise

ALGORITHMS = ("random", "zero_order", "paths", "particles")


def recipe_of(report: Dict[str, Any]) -> Dict[str, Any]:
    """The recipe of a report (or a bare recipe), checked to name a known strategy."""
    if not isinstance(report, dict):
        raise ValueError("report: not a JSON object; give the search node's report output as it is")
    rec = report.get("recipe", report)
    algo = rec.get("algorithm") if isinstance(rec, dict) else None
    if algo not in ALGORITHMS:
        raise ValueError(f"report: no recipe of a known strategy (algorithm {algo!r}; expected one of "
                         f"{', '.join(ALGORITHMS)}); give the search node's report output as it is")
    return rec


def winner(den: Denoiser, report: Dict[str, Any]) -> torch.Tensor:
    """The winning final state [1, *latent_shape] of the search that wrote ``report``."""
    rec = recipe_of(report)
    algo, shape, last = rec["algorithm"], list(den.latent_shape), last_index(den)
    if algo == "random":
        seed = (report.get("best") or {}).get("seed") if "recipe" in report else None
        if seed is None:
            raise ValueError("report: a random search's winner is its best seed, which only the whole report holds "
                             "(\"best\": {\"seed\": ...}); give the whole report, not its recipe")
        return den.sample(noise_batch(shape, [int(seed)]), last, [int(seed)])
    if "winner" not in rec:
        raise ValueError(f"report: the {algo} recipe has no \"winner\"; give the report of a finished search")
    if algo == "zero_order":
        w = rec["winner"]
        noise = reconstruct_noise(shape, int(w["pivot_seed"]), [int(d) for d in w["draws"]], float(rec["lam"]))
        return den.sample(noise, last, [int(w["row_seed"])])
    if algo == "paths":
        return paths.replay(den, rec)
    return particles.replay(den, rec)
