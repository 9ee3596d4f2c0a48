"""Flow models through the real server: search over paths that re-noises to sigma = 1 on the tiny
SD1.5 checkpoint patched to rectified flow; a non-finite winner is an error, never a success."""
import pytest
import torch

from scripts.host import HostError
from tests.host import workflows as W
from tests.host.helpers import report, saved_latent

pytestmark = pytest.mark.host


@pytest.mark.parametrize("steps,n,m,start,delta_f,delta_b", [
    (2, 1, 1, 1, 1, 2),   # the first hop re-noises from index 1 to index 0, where sigma = 1
    (6, 2, 2, 2, 2, 4),   # the same with more steps and paths (issue: 20 steps, n=4, m=2, 2/2/4)
])
def test_paths_renoising_to_sigma_one_gives_finite_latents(comfy, steps, n, m, start, delta_f, delta_b):
    wf = W.flow_patch(W.base())
    wf = W.search(wf, 7, W.color_verifier("#3070d0"), steps=steps, model=("flow", 0), max_batch=2,
                  strategy=W.paths(n=n, m=m, start=start, delta_f=delta_f, delta_b=delta_b),
                  prefix=f"paths_top_{steps}")
    out = comfy.run(wf)
    rep = report(out)
    assert rep["settings"]["parameterization"] == "flow"
    assert rep["recipe"]["hops"][0][1] == 0, "the first hop must re-noise to index 0 (sigma = 1)"
    lat = saved_latent(comfy, out)
    assert lat.shape == (1, 4, 8, 8)
    assert torch.isfinite(lat).all(), "search over paths returned a non-finite latent"
    assert all(c["score"] is not None for c in rep["candidates"]), "every candidate must have a finite score"
