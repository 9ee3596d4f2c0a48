"""Particle search with every sampler the running host lists (KSampler's sampler_name options in
/object_info): resampled copies of one particle end as distinct samples, whether the sampler draws
step noise (own seed streams) or not (re-noise), including samplers that take a noise sampler but
draw nothing with it (res_multistep, sa_solver outside its stochastic interval); and a sampler
whose NFE is unknown ahead (dpm_adaptive) runs a particle search without a budget."""
import pytest
import torch

from scripts.host import HostError
from tests.host import workflows as W
from tests.host.helpers import report, saved_latent
from tests.host.test_samplers import _samplers

pytestmark = pytest.mark.host

N, STEPS = 2, 4


def particles(lam=50.0):
    # λ = 50 standard deviations: every copy comes from the best particle at the resampling step
    return {"class_type": "NoiseSearchParticles", "inputs": {
        "particles": N, "resample_every": 2, "potential": "max", "lam": lam, "ess_threshold": 1.0,
        "renoise_steps": 1, "resample_sigmas": "", "replay": ""}}


def run(comfy, sampler, prefix):
    # small and cfg 1 (one model row a step): the CI machine runs this for every sampler
    wf = W.search(W.base(width=32, height=32, prompt=f"particles {sampler}"), 5, W.color_verifier("#c04020"),
                  steps=STEPS, cfg=1.0, sampler=sampler, strategy=particles(), prefix=prefix)
    out = comfy.run(wf)
    return out, report(out)


def test_duplicated_particles_end_distinct_for_every_sampler(comfy):
    names = _samplers(comfy)
    assert len(names) > 20 and "res_multistep" in names
    failures = []
    for name in names:
        try:
            _, rep = run(comfy, name, f"pd_{name}")
        except HostError as e:
            failures.append(f"{name}: prompt failed: {str(e)[:300]}")
            continue
        ev = rep["recipe"]["events"]
        if not any(len(set(e["ancestors"])) < N for e in ev):
            failures.append(f"{name}: no particle was duplicated (events {ev})")
            continue
        finals = [c["score"] for c in rep["candidates"] if c["stage"] == "final"]
        if len(set(finals)) != N:
            failures.append(f"{name}: {len(set(finals))} distinct finals of {N}: {finals}")
    assert not failures, "\n".join(failures)


def test_adaptive_sampler_runs_a_particle_search_without_budget(comfy):
    out, rep = run(comfy, "dpm_adaptive", "pd_adaptive")
    assert rep["algorithm"] == "particles" and rep["totals"]["nfe"] > 0
    assert torch.isfinite(saved_latent(comfy, out)).all()
    assert len([c for c in rep["candidates"] if c["stage"] == "final"]) == N
