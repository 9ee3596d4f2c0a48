"""Every sampler the running host lists (KSampler's sampler_name options in /object_info, so the
list is counted, not kept by hand):

- random search with N=2 (both candidates in one batch) gives each candidate what a stock KSampler
  gives for its seed, bit for bit on CPU;
- the search's planned NFE for one trajectory equals what a counter on the model sees during that
  stock KSampler run (tests/host/probe_nodes);
- a budgeted search over paths never spends more than ``budget_nfe``.
"""
import pytest
import torch

from scripts.host import HostError

from tests.host import workflows as W
from tests.host.helpers import report, saved_latent
from tests.tiny_models import make_clip_dir

pytestmark = pytest.mark.host

SEED, STEPS = 21, 3
#: samplers whose NFE depends on the model's answers (adaptive step size): a counter cannot agree
#: with a plan, so the search refuses them under a budget (checked below) and only plans progress
VARIABLE = {"dpm_adaptive": "adaptive step size: the NFE depends on the model's error estimates"}


def _samplers(comfy):
    return comfy.get("/object_info/KSampler")["KSampler"]["input"]["required"]["sampler_name"][0]


def _parity_workflow(name):
    wf = W.search(W.base(), SEED, W.color_verifier(), candidates=2, max_batch=2, steps=STEPS, sampler=name,
                  prefix=f"s_{name}")
    wf["count"] = {"class_type": "NSTestCountNFE", "inputs": {"model": ["ckpt", 0], "label": name}}
    for i in range(2):
        ks = W.ksampler(W.base(), SEED + i, steps=STEPS, sampler=name,
                        model=("count", 0) if i == 0 else ("ckpt", 0))["ks"]
        wf[f"ks{i}"] = ks
        wf[f"lat{i}"] = {"class_type": "SaveLatent", "inputs": {"samples": [f"ks{i}", 0],
                                                                "filename_prefix": f"k{i}_{name}"}}
        wf[f"dec{i}"] = {"class_type": "VAEDecode", "inputs": {"samples": [f"ks{i}", 0], "vae": ["ckpt", 2]}}
        wf[f"rep{i}"] = {"class_type": "NSTestReport", "inputs": {"label": name, "images": [f"dec{i}", 0],
                                                                   **({"after": ["ks0", 0]} if i == 0 else {})}}
    wf["rep"] = {"class_type": "NSTestReport", "inputs": {"label": name, "images": ["search", 1]}}
    return wf


def _budget_workflow(name, budget):
    wf = W.search(W.base(), SEED, W.color_verifier(), steps=STEPS, sampler=name, budget=budget,
                  strategy=W.paths(n=2, m=2, start=1, delta_f=1, delta_b=2), prefix=f"b_{name}")
    return wf


def test_every_sampler_matches_stock_ksampler_and_its_counted_nfe(comfy):
    names = _samplers(comfy)
    assert len(names) > 20 and "euler" in names
    failures = []
    for name in names:
        try:
            out = comfy.run(_parity_workflow(name))
        except HostError as e:
            failures.append(f"{name}: prompt failed: {str(e)[:300]}")
            continue
        rep = report(out)
        stock = [out[f"rep{i}"]["digests"][0] for i in range(2)]
        if out["rep"]["digests"] != stock:
            failures.append(f"{name}: candidates differ from stock KSampler images")
        best = rep["best"]["seed"] - SEED
        if not torch.equal(saved_latent(comfy, out), saved_latent(comfy, out, f"lat{best}")):
            failures.append(f"{name}: best latent differs from the stock KSampler latent of its seed")
        counted, planned = out["rep0"]["nfe"][0], rep["settings"]["nfe_per_trajectory"]
        if name not in VARIABLE:
            if counted != planned:
                failures.append(f"{name}: planned {planned} NFE per trajectory, a stock KSampler spends {counted}")
            if rep["totals"]["nfe"] != 2 * counted:
                failures.append(f"{name}: search spent {rep['totals']['nfe']} NFE for 2 trajectories of {counted}")
    assert not failures, "\n".join(failures)


def test_budget_is_a_hard_cap_for_every_sampler(comfy):
    failures = []
    for name in _samplers(comfy):
        if name in VARIABLE:
            continue
        budget = 3 * STEPS + 2  # below the unbudgeted paths search for every sampler, above one trajectory
        try:
            rep = report(comfy.run(_budget_workflow(name, budget)))
        except HostError as e:
            failures.append(f"{name}: prompt failed: {str(e)[:300]}")
            continue
        if rep["totals"]["nfe"] > budget:
            failures.append(f"{name}: spent {rep['totals']['nfe']} NFE with budget_nfe={budget}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", sorted(VARIABLE))
def test_variable_cost_sampler_is_refused_under_a_budget(comfy, name):
    if name not in _samplers(comfy):
        pytest.fail(f"{name} is no longer a host sampler: update VARIABLE")
    with pytest.raises(HostError) as ei:
        comfy.run(_budget_workflow(name, 100))
    assert "budget_nfe" in str(ei.value) and name in str(ei.value)


def test_budget_below_one_trajectory_names_budget_nfe(comfy):
    wf = W.search(W.base(), SEED, W.color_verifier(), steps=STEPS, sampler="heun", budget=2)
    with pytest.raises(HostError) as ei:
        comfy.run(wf)
    assert "budget_nfe" in str(ei.value)


def test_seed_past_2_64_is_refused_naming_seed(comfy):
    wf = W.search(W.base(), 2 ** 64 - 2, W.color_verifier(), candidates=3, steps=1)
    with pytest.raises(HostError) as ei:
        comfy.run(wf)
    assert "seed" in str(ei.value) and "2**64-1" in str(ei.value)


def test_batch_index_draws_the_stock_noise(comfy):
    """A latent with batch_index k (e.g. from Latent From Batch) gets the seed's (k+1)-th noise in a
    stock KSampler; each search candidate gets the same."""
    base = W.base()
    base["pick"] = {"class_type": "LatentFromBatch", "inputs": {"samples": ["latent4", 0], "batch_index": 2,
                                                                "length": 1}}
    base["latent4"] = {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 4}}
    wf = W.search(base, SEED, W.color_verifier(), candidates=2, steps=2, sampler="euler_ancestral")
    wf["search"]["inputs"]["latent_image"] = ["pick", 0]
    wf["search"]["inputs"]["rerender_winner"] = False
    out = comfy.run(wf)
    best = report(out)["best"]["seed"]
    ks = W.ksampler(base, best, steps=2, sampler="euler_ancestral", latent=("pick", 0))
    ref = comfy.run(ks)
    assert torch.equal(saved_latent(comfy, out), saved_latent(comfy, ref))
    plain = comfy.run(W.ksampler(W.base(), best, steps=2, sampler="euler_ancestral"))
    assert not torch.equal(saved_latent(comfy, out), saved_latent(comfy, plain)), "batch_index was ignored"


def test_diffusion_model_stays_loaded_after_a_search(comfy, comfy_base):
    """Scoring loads a verifier with weights (tiny CLIP) through the host's model management; the
    diffusion model must still be among the host's loaded models when the search ends."""
    path = comfy_base / "models" / "verifiers" / "tiny-clip"
    if not path.exists():
        make_clip_dir(str(path), seed=3)
    clip = {"class_type": "NoiseSearchCLIPScore", "inputs": {"model": "tiny-clip", "prompt": "an apple",
                                                             "clamp_negative": False}}
    wf = W.search(W.base(), SEED, clip, candidates=2, steps=2)
    wf["rep"] = {"class_type": "NSTestReport", "inputs": {"label": "-", "after": ["search", 0],
                                                          "model": ["ckpt", 0]}}
    out = comfy.run(wf)
    assert out["rep"]["loaded"] == [True]
