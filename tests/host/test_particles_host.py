"""Particle search through the real server, on the tiny EPS checkpoint and on the same model patched
to rectified flow (ModelSamplingSD3): finite results, NFE = plan = the model's own row counter,
max_batch 1 vs 4 bit-identical on CPU, the replayed winner matches, interrupt works."""
import json
import time

import pytest
import torch

from scripts.host import HostError
from tests.host import workflows as W
from tests.host.helpers import report, saved_latent

pytestmark = pytest.mark.host


def particles(n=3, every=2, potential="difference", lam=10.0, ess=1.0, renoise=1, sigmas="", replay=""):
    return {"class_type": "NoiseSearchParticles", "inputs": {
        "particles": n, "resample_every": every, "potential": potential, "lam": lam, "ess_threshold": ess,
        "renoise_steps": renoise, "resample_sigmas": sigmas, "replay": replay}}


def run(comfy, flow, strategy, sampler="euler", steps=6, max_batch=4, budget=0, prefix="pt", prompt="particles"):
    wf = W.base(prompt=prompt)
    model = ("ckpt", 0)
    if flow:
        wf, model = W.flow_patch(wf), ("flow", 0)
    wf = W.search(wf, 17, W.color_verifier("#c04020"), steps=steps, sampler=sampler, strategy=strategy,
                  model=model, max_batch=max_batch, budget=budget, prefix=prefix)
    out = comfy.run(wf)
    return saved_latent(comfy, out), report(out)


# plan by hand, 6 steps, resampling at 2 and 4, 3 particles:
#   euler (deterministic, re-noise 1 step): segments 0->2, 1->4, 3->6 = 2 + 3 + 3 = 8 NFE per particle
#   euler_ancestral (own seed streams):     segments 0->2, 2->4, 4->6 = 6 NFE per particle
PLAN = {"euler": 3 * 8, "euler_ancestral": 3 * 6}


@pytest.mark.parametrize("flow", [False, True], ids=["eps", "flow"])
@pytest.mark.parametrize("sampler", list(PLAN))
def test_particles_run_finite_nfe_is_plan_and_batch_free_and_replay_matches(comfy, flow, sampler):
    tag = f"{'flow' if flow else 'eps'}_{sampler}"
    lat1, rep1 = run(comfy, flow, particles(), sampler=sampler, max_batch=1, prefix=f"pt1_{tag}", prompt=tag)
    lat4, rep4 = run(comfy, flow, particles(), sampler=sampler, max_batch=4, prefix=f"pt4_{tag}", prompt=tag)
    assert rep1["algorithm"] == "particles"
    assert rep1["settings"]["parameterization"] == ("flow" if flow else "ve")
    assert torch.isfinite(lat1).all() and lat1.shape == (1, 4, 8, 8)
    t = rep1["totals"]
    assert t["nfe"] == PLAN[sampler] and t["model_rows"] == 2 * t["nfe"]  # cfg 3: cond + uncond rows
    assert torch.equal(lat1, lat4)
    assert [c["score"] for c in rep1["candidates"]] == [c["score"] for c in rep4["candidates"]]
    ev = rep1["recipe"]["events"]
    assert [e["t"] for e in ev] == [2, 4] and all(1.0 <= e["ess"] <= 3.0 for e in ev)
    assert len(rep1["recipe"]["lineages"]) == 3
    finals = [c["score"] for c in rep1["candidates"] if c["stage"] == "final"]
    assert rep1["best"]["score"] == pytest.approx(max(finals))
    # the replay strategy rebuilds the winner from the report alone, bit for bit
    lat_r, rep_r = run(comfy, flow, particles(replay=json.dumps(rep1)), sampler=sampler, prefix=f"ptr_{tag}",
                       prompt=tag)
    assert torch.equal(lat_r, lat1)
    assert rep_r["totals"]["nfe"] == sum(b - a for _, a, b in rep1["recipe"]["segments"])


def test_budget_caps_particles(comfy):
    _, rep = run(comfy, False, particles(n=50), budget=20, prefix="pt_budget")
    assert rep["totals"]["nfe"] == 16 and rep["recipe"]["n"] == 2  # 8 NFE per particle


def test_bad_settings_are_clear_errors(comfy):
    with pytest.raises(HostError) as ei:
        run(comfy, False, particles(every=1), prefix="pt_bad")
    assert "renoise_steps" in str(ei.value)
    with pytest.raises(HostError) as ei:
        run(comfy, False, particles(replay="{\"algorithm\": \"paths\"}"), prefix="pt_bad2")
    assert "replay" in str(ei.value)


def test_interrupt_ends_a_particle_search(comfy):
    wf = W.search(W.base(width=128, height=128), 3, W.color_verifier(), steps=12, max_batch=2,
                  strategy=particles(n=200, every=3), prefix="pt_long")
    pid = comfy.queue(wf)
    time.sleep(4.0)
    t0 = time.time()
    comfy.interrupt()
    with pytest.raises(HostError) as ei:
        comfy.wait(pid, timeout=60)
    assert "interrupted" in str(ei.value).lower()
    assert time.time() - t0 < 15
