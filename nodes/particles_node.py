"""Strategy node for particle search (sequential Monte Carlo / Feynman–Kac steering)."""
from __future__ import annotations

import json
from typing import List

from ..search.particles import POTENTIALS, ParticleReplay, ParticleSearch

STRATEGY = "NS_STRATEGY"  # the type the search nodes take (nodes/search_nodes.py)


def parse_sigmas(text: str) -> List[float]:
    """``resample_sigmas``: comma-separated noise levels, e.g. "6.0, 2.5, 0.8" (empty: use resample_every)."""
    out = []
    for part in str(text).replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(float(part))
        except ValueError:
            raise ValueError(f"resample_sigmas: {part!r} is not a number; give comma-separated sigmas such as "
                             "\"6.0, 2.5, 0.8\", or leave it empty to resample every resample_every steps") from None
    return out


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


class NoiseSearchParticles:
    """Particle search (Singhal et al. 2025, FK steering): N particles denoised together; at resampling
    steps each particle's x0 prediction is scored and, when the effective sample size drops below the
    threshold, the particles are resampled (systematic) with weights exp(λ·potential). Copies diverge
    by their own seed stream (ancestral/SDE samplers) or a small re-noise (deterministic samplers).
    The best finished particle wins."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "particles": ("INT", {"default": 4, "min": 1, "max": 1024, "tooltip": "N: particles denoised together"}),
            "resample_every": ("INT", {"default": 3, "min": 1, "max": 10000,
                                       "tooltip": "resample at every k-th sampler step (k, 2k, … before the end)"}),
            "potential": (list(POTENTIALS), {"default": "sum",
                                             "tooltip": "weight from the score: max = best so far on the path, "
                                                        "difference = change since the last resampling, sum"}),
            "lam": ("FLOAT", {"default": 4.0, "min": 0.0, "max": 10000.0, "step": 0.1,
                              "tooltip": "λ: steering strength in standard deviations of the scores, whatever the "
                                         "verifier's units: weight = exp(λ·z), z = the potential standardised over "
                                         "the particles (λ = 1: one std better, e× the weight); 0 = no steering"}),
            "ess_threshold": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0, "step": 0.05,
                                        "tooltip": "resample only when ESS < threshold·N (1 = at every "
                                                   "resampling step unless the weights are equal)"}),
            "renoise_steps": ("INT", {"default": 1, "min": 1, "max": 10000,
                                      "tooltip": "deterministic samplers: steps re-noised forward so copies diverge"}),
        }, "optional": {
            "resample_sigmas": ("STRING", {"default": "", "tooltip": "instead of resample_every: comma-separated "
                                                                     "sigmas, each resampling at the nearest step"}),
            "replay": ("STRING", {"default": "", "multiline": True,
                                  "tooltip": "paste the report (or its recipe) of an earlier particle search: "
                                             "rebuilds its winner bit for bit instead of searching"}),
        }}

    RETURN_TYPES = (STRATEGY,)
    RETURN_NAMES = ("strategy",)
    FUNCTION = "build"
    CATEGORY = "sampling/noise search"

    def build(self, particles, resample_every, potential, lam, ess_threshold, renoise_steps, resample_sigmas="",
              replay=""):
        if str(replay).strip():
            return (ParticleReplay(recipe=parse_recipe(replay)),)
        if potential not in POTENTIALS:
            raise ValueError(f"potential: {potential!r} is not one of {', '.join(POTENTIALS)}")
        return (ParticleSearch(n=int(particles), resample_every=int(resample_every),
                               resample_sigmas=tuple(parse_sigmas(resample_sigmas)), potential=potential,
                               lam=float(lam), ess_min=float(ess_threshold), renoise_steps=int(renoise_steps)),)


NODE_CLASS_MAPPINGS = {"NoiseSearchParticles": NoiseSearchParticles}
NODE_DISPLAY_NAME_MAPPINGS = {"NoiseSearchParticles": "Search Strategy: Particles (SMC / FK steering)"}
