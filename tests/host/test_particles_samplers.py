"""Particle search with every sampler the running host lists (KSampler's sampler_name options in
/object_info): resampled copies of one particle end as distinct samples, whether the sampler draws
step noise (own seed streams) or not (re-noise), including samplers that take a noise sampler but
draw nothing with it (res_multistep, sa_solver outside its stochastic interval); and a sampler
whose NFE is unknown ahead (dpm_adaptive) runs a particle search without a budget. One prompt holds
a search node per sampler (small, cfg 1: the CI machine runs it for every sampler)."""
import pytest

from tests.host import workflows as W
from tests.host.test_samplers import _samplers

pytestmark = pytest.mark.host

N, STEPS = 2, 4


def particles(lam=50.0):
    # λ = 50 standard deviations: every copy comes from the best particle at the resampling step
    return {"class_type": "NoiseSearchParticles", "inputs": {
        "particles": N, "resample_every": 2, "potential": "max", "lam": lam, "ess_threshold": 1.0,
        "renoise_steps": 1, "resample_sigmas": "", "replay": ""}}


def every_sampler_workflow(names):
    base = W.base(width=32, height=32, prompt="particles with every sampler")
    wf = W.search(base, 5, W.color_verifier("#c04020"), steps=STEPS, cfg=1.0, strategy=particles())
    one, wf = wf["search"], {k: v for k, v in wf.items() if k not in ("search", "save_latent", "save_images")}
    for i, name in enumerate(names):
        wf[f"search{i}"] = {**one, "inputs": {**one["inputs"], "sampler_name": name}}
        wf[f"save{i}"] = {"class_type": "SaveLatent", "inputs": {"samples": [f"search{i}", 0],
                                                                 "filename_prefix": f"pd_{name}"}}
    return wf


def test_duplicated_particles_end_distinct_for_every_sampler(comfy):
    names = _samplers(comfy)
    assert len(names) > 20 and {"res_multistep", "sa_solver", "dpm_adaptive"} <= set(names)
    out = comfy.run(every_sampler_workflow(names))  # dpm_adaptive included: no budget, it must run
    failures = []
    for i, name in enumerate(names):
        rep = out[f"search{i}"]["noise_search"][0]
        assert rep["algorithm"] == "particles" and rep["totals"]["nfe"] > 0, name
        ev = rep["recipe"]["events"]
        if not any(len(set(e["ancestors"])) < N for e in ev):
            failures.append(f"{name}: no particle was duplicated (events {ev})")
            continue
        finals = [c["score"] for c in rep["candidates"] if c["stage"] == "final"]
        if len(set(finals)) != N:
            failures.append(f"{name}: {len(set(finals))} distinct finals of {N}: {finals}")
    assert not failures, "\n".join(failures)
