"""The strategy family: nodes that configure a search algorithm (search/*.py) for the search nodes.
Random (best-of-N), zero-order, search over paths and particles (SMC / FK steering)."""
from __future__ import annotations

import json
from typing import List

from comfy_api.latest import io

from ..search import RandomSearch
from ..search.paths import PathsSearch
from ..search.particles import POTENTIALS, ParticleReplay, ParticleSearch
from ..search.zero_order import ZeroOrderSearch
from .schema import CATEGORY, Strategy, out, schema

STRATEGY_OUT = "A configured search algorithm: connect it to a Noise Search Sampler's `strategy` input."
ALIASES = ["search algorithm", "noise search strategy"]


class NoiseSearchRandom(io.ComfyNode):
    """Random search (best-of-N): N noises for seeds seed, seed+1, ...; the best is kept."""

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchRandom", display_name="Search Strategy: Random (best-of-N)", category=CATEGORY,
            description="Random search (best-of-N): N full trajectories from seeds seed, seed+1, ..., seed+N-1; the "
                        "verifier's best wins. Costs N trajectories (N x steps NFE for euler).",
            search_aliases=ALIASES + ["best of n", "best-of-n", "random search"],
            inputs=[io.Int.Input("candidates", default=4, min=1, max=4096,
                                 tooltip="N: seeds tried (seed, seed+1, ...), one full trajectory each.")],
            outputs=[out(Strategy, "strategy", STRATEGY_OUT)])

    @classmethod
    def execute(cls, candidates):
        s = RandomSearch(n=int(candidates))
        if s.n < 1:
            raise ValueError(f"candidates: must be at least 1, got {candidates}")
        return io.NodeOutput(s)


class NoiseSearchZeroOrder(io.ComfyNode):
    """Zero-order search: local search in noise space around a pivot (see search/zero_order.py)."""

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchZeroOrder", display_name="Search Strategy: Zero-Order", category=CATEGORY,
            description="Zero-order search: a pivot noise and N neighbours sqrt(1-λ²)·pivot + λ·fresh noise; the best "
                        "neighbour becomes the pivot when it beats it, else the search restarts from a fresh pivot. "
                        "K iterations (or the budget); each candidate is one full trajectory.",
            search_aliases=ALIASES + ["local search", "neighbour search", "neighbor search", "hill climbing"],
            inputs=[
                io.Int.Input("n_neighbors", default=4, min=1, max=1024,
                             tooltip="N: neighbours per iteration, one full trajectory each."),
                io.Float.Input("lam", default=0.31, min=0.0, max=1.0, step=0.01,
                               tooltip="λ: neighbour = sqrt(1-λ²)·pivot + λ·fresh noise (0 = pivot, 1 = fresh). "
                                       "Not a distance: cosine to the pivot is sqrt(1-λ²), RMS distance "
                                       "sqrt(2(1-sqrt(1-λ²))). λ 0.1: cos 0.995, RMS 0.10; 0.31: cos 0.95, RMS 0.31 "
                                       "(the paper's reference neighbours); 0.5: cos 0.87, RMS 0.52; 1: cos 0, "
                                       "RMS 1.41"),
                io.Int.Input("iterations", default=4, min=1, max=1024,
                             tooltip="K: iterations; at most K x (N + 1) trajectories (N neighbours, plus a fresh pivot after a restart)."),
            ],
            outputs=[out(Strategy, "strategy", STRATEGY_OUT)])

    @classmethod
    def execute(cls, n_neighbors, lam, iterations):
        return io.NodeOutput(ZeroOrderSearch(n_neighbors=int(n_neighbors), lam=float(lam), iterations=int(iterations)))


class NoiseSearchPaths(io.ComfyNode):
    """Search over paths (see search/paths.py); steps are schedule steps of the sampler."""

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchPaths", display_name="Search Strategy: Search over Paths", category=CATEGORY,
            description="Search over paths: N trajectories denoised to `start`; each spawns M copies re-noised back "
                        "by Δf steps and denoised forward by Δb steps (Δb > Δf), scored on their x0 prediction; the "
                        "top N go on; repeated to σ = 0, then best-of-N. All step counts are sampler steps.",
            search_aliases=ALIASES + ["paths", "branching", "beam search", "trajectory search"],
            inputs=[
                io.Int.Input("n", default=4, min=1, max=1024, tooltip="N: paths kept after every hop."),
                io.Int.Input("m", default=2, min=1, max=1024, tooltip="M: copies of each path per hop (N x M scored "
                                                                      "per hop)."),
                io.Int.Input("start", default=4, min=1, max=10000,
                             tooltip="First branching point, in sampler steps from pure noise."),
                io.Int.Input("delta_f", default=2, min=1, max=10000,
                             tooltip="Δf: sampler steps re-noised (back up the schedule) per hop."),
                io.Int.Input("delta_b", default=4, min=1, max=10000,
                             tooltip="Δb: sampler steps denoised forward per hop; must exceed Δf, so each hop gains "
                                     "Δb - Δf steps."),
            ],
            outputs=[out(Strategy, "strategy", STRATEGY_OUT)])

    @classmethod
    def execute(cls, n, m, start, delta_f, delta_b):
        if int(delta_b) <= int(delta_f):
            raise ValueError(f"delta_b ({delta_b}) must be larger than delta_f ({delta_f}), "
                             "or the search never reaches the end of the schedule")
        return io.NodeOutput(PathsSearch(n=int(n), m=int(m), start=int(start), delta_f=int(delta_f),
                                         delta_b=int(delta_b)))


def parse_sigmas(text: str) -> List[float]:
    """``resample_sigmas``: comma-separated noise levels, e.g. "6.0, 2.5, 0.8" (empty: use resample_every)."""
    out_ = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out_.append(float(part))
        except ValueError:
            raise ValueError(f"resample_sigmas: {part!r} is not a number; give comma-separated sigmas such as "
                             "\"6.0, 2.5, 0.8\", or leave it empty to resample every resample_every steps") from None
    return out_


def parse_recipe(text: str):
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ValueError(f"replay: not JSON ({e}); paste the search's report output as it is") from None
    rec = data.get("recipe", data) if isinstance(data, dict) else None
    if not isinstance(rec, dict) or rec.get("algorithm") != "particles":
        raise ValueError("replay: not a particle search's report or recipe; paste the report output of a search "
                         "that used this strategy, or leave replay empty to search")
    return rec


class NoiseSearchParticles(io.ComfyNode):
    """Particle search (Singhal et al. 2025, FK steering); see search/particles.py."""

    @classmethod
    def define_schema(cls):
        return schema(
            node_id="NoiseSearchParticles", display_name="Search Strategy: Particles (SMC / FK steering)",
            category=CATEGORY,
            description="Particle search (sequential Monte Carlo / Feynman-Kac steering): N particles denoised "
                        "together; at resampling steps each particle's x0 prediction is scored and, when the "
                        "effective sample size drops below the threshold, the particles are resampled with weights "
                        "exp(λ·z), z the potential standardised over the particles. The best finished particle wins. Costs about N trajectories.",
            search_aliases=ALIASES + ["smc", "sequential monte carlo", "fk steering", "feynman-kac", "particle filter"],
            inputs=[
                io.Int.Input("particles", default=4, min=1, max=1024,
                             tooltip="N: particles denoised together (about N trajectories of NFE)."),
                io.Int.Input("resample_every", default=3, min=1, max=10000,
                             tooltip="Resample at every k-th sampler step (k, 2k, ... before the end)."),
                io.Combo.Input("potential", options=list(POTENTIALS), default="sum",
                               tooltip="Weight from the score: max = best so far on the path, difference = change "
                                       "since the last resampling, sum = running total."),
                io.Float.Input("lam", default=4.0, min=0.0, max=10000.0, step=0.1,
                               tooltip="λ: steering strength in standard deviations of the scores, whatever the "
                                       "verifier's units: weight = exp(λ·z), z = the potential standardised over "
                                       "the particles (λ = 1: one std better, e× the weight); 0 = no steering."),
                io.Float.Input("ess_threshold", default=0.5, min=0.0, max=1.0, step=0.05,
                               tooltip="Resample only when the effective sample size < threshold x N (1 = at every "
                                       "resampling step unless the weights are equal)."),
                io.Int.Input("renoise_steps", default=1, min=1, max=10000,
                             tooltip="Deterministic samplers: sampler steps re-noised back after resampling, so "
                                     "copies diverge (each costs its steps again in NFE)."),
                io.String.Input("resample_sigmas", default="", optional=True,
                                tooltip="Instead of resample_every: comma-separated σ values, each resampling at "
                                        "the nearest step (e.g. \"6.0, 2.5, 0.8\")."),
                io.String.Input("replay", default="", multiline=True, optional=True,
                                tooltip="Paste the report (or its recipe) of an earlier particle search: rebuilds "
                                        "its winner bit for bit instead of searching (Noise Search Replay does "
                                        "this for every strategy without a verifier)."),
            ],
            outputs=[out(Strategy, "strategy", STRATEGY_OUT)])

    @classmethod
    def execute(cls, particles, resample_every, potential, lam, ess_threshold, renoise_steps, resample_sigmas="",
                replay=""):
        if str(replay).strip():
            return io.NodeOutput(ParticleReplay(recipe=parse_recipe(replay)))
        if potential not in POTENTIALS:
            raise ValueError(f"potential: {potential!r} is not one of {', '.join(POTENTIALS)}")
        return io.NodeOutput(ParticleSearch(
            n=int(particles), resample_every=int(resample_every), resample_sigmas=tuple(parse_sigmas(resample_sigmas)),
            potential=potential, lam=float(lam), ess_min=float(ess_threshold), renoise_steps=int(renoise_steps)))


NODES = [NoiseSearchRandom, NoiseSearchZeroOrder, NoiseSearchPaths, NoiseSearchParticles]
