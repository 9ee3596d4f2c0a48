"""Replay nodes: a search's report alone rebuilds its winning latent bit for bit, for every strategy
(random: the best seed; zero-order, paths, particles: the recipe), through the real server on the
tiny checkpoint. Save Search Report writes the report next to the images, and a replay reads it."""
import copy
import json
from pathlib import Path

import pytest
import torch

from tests.host import workflows as W
from tests.host.helpers import report, saved_latent

pytestmark = pytest.mark.host


def particles(n=3, every=2):
    return {"class_type": "NoiseSearchParticles", "inputs": {
        "particles": n, "resample_every": every, "potential": "difference", "lam": 10.0, "ess_threshold": 1.0,
        "renoise_steps": 1, "resample_sigmas": "", "replay": ""}}


#: strategy name -> (strategy node or None for the built-in best-of-N, sampler)
CASES = {
    "random": (None, "euler_ancestral"),
    "zero_order": (W.zero_order(n_neighbors=2, lam=0.5, iterations=2), "euler"),
    "paths": (W.paths(n=2, m=2, start=2, delta_f=1, delta_b=2), "euler"),
    "particles": (particles(), "euler"),
    "particles_ancestral": (particles(), "euler_ancestral"),
}


def replay_wf(rep_text, prefix, base=None):
    wf = copy.deepcopy(base or W.base())
    wf["replay"] = {"class_type": "NoiseSearchReplay", "inputs": {
        "model": ["ckpt", 0], "positive": ["pos", 0], "negative": ["neg", 0], "latent_image": ["latent", 0],
        "report": rep_text}}
    wf["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["replay", 0], "filename_prefix": prefix}}
    return wf


def search_and_save(comfy, name, strategy, sampler, seed=31, steps=6):
    wf = W.search(W.base(), seed, W.color_verifier("#3060c0"), candidates=3, steps=steps, sampler=sampler,
                  strategy=strategy, max_batch=2, prefix=f"replay_{name}")
    wf["save_report"] = {"class_type": "NoiseSearchSaveReport",
                         "inputs": {"report": ["search", 2], "filename_prefix": f"replay_{name}"}}
    out = comfy.run(wf)
    return out, report(out), saved_latent(comfy, out)


@pytest.mark.parametrize("name", list(CASES))
def test_replay_rebuilds_the_winner_bit_for_bit(comfy, name):
    strategy, sampler = CASES[name]
    out, rep, best = search_and_save(comfy, name, strategy, sampler)
    assert rep["algorithm"] == name.split("_ancestral")[0]
    assert len(rep["candidates"]) > 1
    got = saved_latent(comfy, comfy.run(replay_wf(json.dumps(rep), f"replayed_{name}")))
    assert got.shape == best.shape and torch.equal(got, best), (name, (got - best).abs().max())
    # the saved report, by its path relative to the output folder, rebuilds the same latent
    files = out["save_report"]["noise_search_report_files"]
    assert len(files) == 1 and files[0]["filename"].endswith(".json")
    path = Path(comfy.base_dir) / "output" / files[0]["subfolder"] / files[0]["filename"]
    saved = json.loads(path.read_text())
    assert saved["recipe"] == rep["recipe"] and saved["best"] == rep["best"]
    rel = str(Path(files[0]["subfolder"]) / files[0]["filename"])
    got2 = saved_latent(comfy, comfy.run(replay_wf(rel, f"replayed_file_{name}")))
    assert torch.equal(got2, best)


def test_replay_advanced_over_guider_sampler_sigmas(comfy):
    wf = W.advanced(W.base(), 12, W.color_verifier("#c03030"), steps=5, candidates=3,
                    strategy=W.zero_order(n_neighbors=2, lam=0.5, iterations=2), prefix="adv_replay")
    out = comfy.run(wf)
    best = saved_latent(comfy, out)
    rwf = {k: v for k, v in wf.items() if k not in ("search", "save_latent", "verifier", "strategy", "noise")}
    rwf["replay"] = {"class_type": "NoiseSearchReplayAdvanced", "inputs": {
        "guider": ["guider", 0], "sampler": ["sampler", 0], "sigmas": ["sched", 0], "latent_image": ["latent", 0],
        "report": json.dumps(report(out))}}
    rwf["save_latent"] = {"class_type": "SaveLatent", "inputs": {"samples": ["replay", 0],
                                                                 "filename_prefix": "adv_replayed"}}
    assert torch.equal(saved_latent(comfy, comfy.run(rwf)), best)
    # a schedule of another length is refused, naming steps
    rwf["sched"]["inputs"]["steps"] = 4
    with pytest.raises(Exception, match="steps"):
        comfy.run(rwf)
    # the KSampler-style replay cannot rebuild it (its report has no scheduler / cfg): it says which node can
    with pytest.raises(Exception, match="Replay \\(Advanced\\)"):
        comfy.run(replay_wf(json.dumps(report(out)), "adv_wrong_node"))


def test_replay_refuses_what_is_not_a_report(comfy):
    with pytest.raises(Exception, match="report"):
        comfy.run(replay_wf('{"algorithm": "beam"}', "not_a_report"))
    with pytest.raises(Exception, match="report"):
        comfy.run(replay_wf("no/such/file.json", "no_file"))
